"""The simulated cluster's dcgm-exporter endpoints: real HTTP on one loopback port.

    GET /nodes/<node>/metrics      one node (404 if unknown, 503 while it is not responding)
    GET /metrics?node=<node>       the same
    GET /metrics  Host: <node>     the same, addressed like a real per-node exporter
    GET /metrics                   every responding node (Prometheus' view; Hostname label)

With per-node addresses each node also answers GET /metrics on its own loopback address
(node_address(): 127.1.0.1, 127.1.0.2, ...), one listening socket each, as a real fleet of
exporters does: a client then needs one connection per node.

Hand-written HTTP/1.1 with keep-alive on asyncio streams rather than http.server: serving
the 1024 cached node payloads (23 MB) over 16 keep-alive connections to an in-process
client took 0.25-0.38 s, against 1.4-1.7 s with ThreadingHTTPServer (2 loaded cores),
which alone would eat the 1 s collection budget.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs, unquote

from loguru import logger

from tui.sim.cluster import SimCluster
from tui.sim.dcgm import CONTENT_TYPE, DcgmRenderer

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}
_MAX_HEAD_BYTES = 16 * 1024
_NODES_PER_OCTET = 250


def node_address(position: int) -> str:
    """The loopback address of node `position` with per-node addresses (room for 62,500)."""
    if not 0 <= position < _NODES_PER_OCTET * 250:
        raise ValueError(f"no loopback address for node position {position}")
    high, low = divmod(position, _NODES_PER_OCTET)
    return f"127.1.{high}.{low + 1}"


class SimExporterServer:
    """Serves every simulated node's exporter from one port, or each on its own address."""

    def __init__(
        self,
        sim: SimCluster,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        per_node_addresses: bool = False,
    ) -> None:
        self.sim = sim
        self.host = host
        self.port = port
        self.per_node_addresses = per_node_addresses
        self._node_at: dict[str, int] = (
            {node_address(i): i for i in range(len(sim.node_names))} if per_node_addresses else {}
        )
        self.renderer = DcgmRenderer(sim)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def node_url(self, node: str) -> str:
        if self.per_node_addresses:
            return f"http://{node_address(self.sim.node_index[node])}:{self.port}/metrics"
        return f"{self.base_url}/nodes/{node}/metrics"

    async def start(self) -> str:
        hosts: str | list[str] = self.host
        if self.per_node_addresses:
            hosts = [self.host, *self._node_at]
            if self.port == 0:
                # Every address shares one port: take a free one from the first, then bind all.
                probe = await asyncio.start_server(self._serve_connection, self.host, 0)
                self.port = probe.sockets[0].getsockname()[1]
                probe.close()
                await probe.wait_closed()
        self._server = await asyncio.start_server(
            self._serve_connection, hosts, self.port, limit=_MAX_HEAD_BYTES
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.base_url

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        # Let open keep-alive connections notice the close and finish before returning.
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=2.0)
        await self._server.wait_closed()
        self._server = None

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    break
                local = writer.get_extra_info("sockname")
                node_at = self._node_at.get(local[0]) if local else None
                status, body, keep_alive, head_only = self._respond(head, node_at)
                content_type = CONTENT_TYPE if status == 200 else "text/plain; charset=utf-8"
                header = (
                    f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                    f"Content-Type: {content_type}\r\n"
                    f"Content-Length: {len(body)}\r\n"
                    f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
                ).encode()
                writer.write(header if head_only else header + body)
                await writer.drain()
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.CancelledError):
            # Cancelled when the loop shuts down with the connection open: a normal end for
            # this leaf task (re-raising makes Python 3.11's stream callback log a traceback).
            pass
        finally:
            if task is not None:
                self._handlers.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    def _respond(self, head: bytes, node_at: int | None = None) -> tuple[int, bytes, bool, bool]:
        """(status, body, keep the connection, HEAD request) for one request head."""
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return 400, b"malformed request line\n", False, False
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        if method not in ("GET", "HEAD"):
            return 405, b"only GET and HEAD\n", False, False
        if "content-length" in headers or "transfer-encoding" in headers:
            return 400, b"unexpected request body\n", False, False
        status, body = self._route(target, headers.get("host", ""), node_at)
        return status, body, keep_alive, method == "HEAD"

    def _route(self, target: str, host: str, node_at: int | None) -> tuple[int, bytes]:
        path, _, query = target.partition("?")
        path = unquote(path)
        node: str | None
        if path == "/metrics" and node_at is not None:
            node = self.sim.node_names[node_at]
        elif path.startswith("/nodes/") and path.endswith("/metrics"):
            node = path[len("/nodes/") : -len("/metrics")]
        elif path == "/metrics":
            node = parse_qs(query).get("node", [None])[0]
            if node is None:
                host_name = host.rsplit(":", 1)[0] if not host.startswith("[") else ""
                node = host_name if host_name in self.sim.node_index else None
        elif path == "/":
            return 200, b"simulated dcgm-exporter: GET /metrics or /nodes/<node>/metrics\n"
        else:
            return 404, b"not found\n"
        self.sim.sync()
        if node is None:
            return 200, self.renderer.all_payload()
        position = self.sim.node_index.get(node)
        if position is None:
            return 404, f"unknown node {node!r}\n".encode()
        if not self.sim.is_responding(position):
            return 503, f"{node}: exporter not responding\n".encode()
        return 200, self.renderer.node_payload(position)


async def serve_forever(
    nodes: int,
    seed: int,
    host: str = "127.0.0.1",
    port: int = 9400,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve a simulated cluster's exporters until `stop` is set or the task is cancelled.

    This is `clusterdash sim`: a real Prometheus can scrape GET /metrics (every node, told
    apart by the Hostname label) or each node's /nodes/<node>/metrics.
    """
    sim = SimCluster(nodes=nodes, seed=seed)
    server = SimExporterServer(sim, host=host, port=port)
    url = await server.start()
    logger.info("simulated dcgm-exporter for {} nodes (seed {}) at {}/metrics", nodes, seed, url)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await server.stop()
