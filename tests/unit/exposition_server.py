"""A real HTTP server on 127.0.0.1 (port 0) answering from a route table, for source tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    body: str | bytes = ""
    status: int = 200
    content_type: str = "text/plain; version=0.0.4; charset=utf-8"
    delay_s: float = 0.0
    # Announce this many more bytes than are sent, then close: a truncated body.
    short_by: int = 0
    # Send the body a few bytes at a time, this long apart: an exporter that trickles.
    trickle_s: float = 0.0


class _Server(ThreadingHTTPServer):
    # Room for a whole fleet's connections at once (the default backlog is 5: the 6th
    # concurrent connect then waits a SYN retry, about a second, and looks like a hang).
    request_queue_size = 256


@dataclass
class LoopbackServer:
    port: int
    routes: dict[str, Reply | Callable[[str], Reply]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def serve(routes: dict[str, Reply | Callable[[str], Reply]]) -> Iterator[LoopbackServer]:
    state = LoopbackServer(port=0, routes=routes)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = self.rfile.read(length).decode() if length else ""
            self.answer(self.path.split("?", 1)[0] + "?" + form)

        def do_GET(self) -> None:
            self.answer(self.path)

        def answer(self, request: str) -> None:
            """Route callables get the path with its parameters (query or POST form)."""
            state.requests.append(request)
            route = state.routes.get(request.split("?", 1)[0])
            reply = route(request) if callable(route) else route
            if reply is None:
                reply = Reply("not found", status=404)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            body = reply.body.encode() if isinstance(reply.body, str) else reply.body
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(body) + reply.short_by))
            if reply.short_by:
                self.send_header("Connection", "close")
            self.end_headers()
            try:
                if reply.trickle_s:
                    for start in range(0, len(body), 16):
                        self.wfile.write(body[start : start + 16])
                        self.wfile.flush()
                        time.sleep(reply.trickle_s)
                else:
                    self.wfile.write(body)
                    self.wfile.flush()
            except OSError:
                return
            if reply.short_by:
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            return

    server = _Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
