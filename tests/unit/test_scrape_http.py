"""ScrapeClient against real loopback servers speaking raw HTTP/1.1."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from tests.unit.exposition_server import closed_port
from tui.sources.base import SourceError
from tui.sources.exporters import ExporterGpuSource
from tui.sources.scrape_http import BodyTooLarge, ScrapeClient, ScrapeError

PAGE = b'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-1"} 42\n'


@dataclass
class RawServer:
    """Answers request number n (counted over all connections) with answer(n) raw bytes;
    closes the connection after it when the answer says `Connection: close`."""

    answer: Callable[[int], bytes]
    port: int = 0
    connections: int = 0
    heads: list[bytes] = field(default_factory=list)

    def url(self, path: str = "/metrics") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.heads.append(head)
                reply = self.answer(len(self.heads))
                writer.write(reply)
                await writer.drain()
                if b"Connection: close" in reply.partition(b"\r\n\r\n")[0]:
                    return
        finally:
            writer.close()


@asynccontextmanager
async def raw_server(answer: Callable[[int], bytes]) -> AsyncIterator[RawServer]:
    state = RawServer(answer)
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()


def ok(body: bytes, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", "Content-Type: text/plain; charset=utf-8", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(body: bytes, size: int = 7) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


async def test_keep_alive_connection_serves_every_request_and_sends_host_header() -> None:
    async with raw_server(lambda n: ok(PAGE)) as server:
        client = ScrapeClient()
        try:
            for _ in range(5):
                assert (
                    await client.get(server.url("/nodes/gpu-01/metrics"))
                ).text() == PAGE.decode()
        finally:
            await client.aclose()
    assert server.connections == 1
    first = server.heads[0].decode()
    assert first.startswith("GET /nodes/gpu-01/metrics HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n" in first


async def test_chunked_and_gzip_bodies_are_decoded() -> None:
    zipped = gzip.compress(PAGE * 3)
    replies = {
        1: ok(chunked(PAGE * 3), "Transfer-Encoding: chunked"),
        2: ok(zipped, "Content-Encoding: gzip"),
        3: ok(chunked(zipped, 5), "Transfer-Encoding: chunked", "Content-Encoding: gzip"),
    }
    async with raw_server(replies.__getitem__) as server:
        client = ScrapeClient()
        try:
            bodies = [(await client.get(server.url())).body for _ in range(3)]
        finally:
            await client.aclose()
    assert bodies == [PAGE * 3] * 3
    assert server.connections == 1
    assert b"Accept-Encoding: gzip" in server.heads[0]


async def test_connection_close_is_honoured() -> None:
    replies = {1: ok(PAGE, "Connection: close"), 2: ok(PAGE)}
    async with raw_server(replies.__getitem__) as server:
        client = ScrapeClient()
        try:
            assert (await client.get(server.url())).body == PAGE
            assert (await client.get(server.url())).body == PAGE
        finally:
            await client.aclose()
    assert server.connections == 2


async def test_stale_pooled_connection_is_retried_on_a_new_one() -> None:
    state = {"served": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Answers one request per connection while announcing keep-alive, then hangs up.
        await reader.readuntil(b"\r\n\r\n")
        state["served"] += 1
        writer.write(ok(PAGE))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/metrics"
    client = ScrapeClient()
    try:
        for _ in range(3):
            assert (await client.get(url)).body == PAGE
            await asyncio.sleep(0.02)
    finally:
        await client.aclose()
        server.close()
    assert state["served"] == 3


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
            "HTTP 500 Internal Server Error",
        ),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "HTTP 404 Not Found"),
        (
            b"HTTP/1.1 301 Moved Permanently\r\nLocation: /metrics/\r\nContent-Length: 0\r\n\r\n",
            "HTTP 301 Moved Permanently to /metrics/ (redirects are not followed)",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nshort",
            "truncated body (peer closed connection without sending complete message body: "
            "received 5 bytes, expected 100)",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nab",
            "truncated body (connection closed inside a chunked body after 5 bytes)",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\nab",
            "unsupported Content-Encoding 'br'",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nab",
            "bad gzip body (Error -3 while decompressing data: incorrect header check)",
        ),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not an HTTP/1.x response: 'SSH-2.0-OpenSSH_9.6'"),
    ],
)
async def test_failures_read_as_one_line(reply: bytes, message: str) -> None:
    async with raw_server(lambda n: reply) as server:
        client = ScrapeClient()
        try:
            with pytest.raises(ScrapeError) as caught:
                await client.get(server.url())
        finally:
            await client.aclose()
    assert str(caught.value) == message


async def test_body_cap_holds_for_declared_chunked_and_decompressed_sizes() -> None:
    big = b"x" * 4096
    replies = {
        1: ok(big),
        2: ok(chunked(big, 1000), "Transfer-Encoding: chunked"),
        3: ok(gzip.compress(big), "Content-Encoding: gzip"),
    }
    async with raw_server(replies.__getitem__) as server:
        client = ScrapeClient(max_body_bytes=2048)
        try:
            for _ in replies:
                with pytest.raises(BodyTooLarge):
                    await client.get(server.url())
        finally:
            await client.aclose()


async def test_refused_timeout_and_non_http_urls() -> None:
    client = ScrapeClient()
    try:
        with pytest.raises(ScrapeError, match=r"^connection refused$"):
            await client.get(f"http://127.0.0.1:{closed_port()}/metrics")
        with pytest.raises(ScrapeError, match=r"^not an http:// URL"):
            await client.get("ftp://127.0.0.1/metrics")
        async with raw_server(lambda n: b"") as silent:
            with pytest.raises(ScrapeError, match=r"^timeout after 0\.2s$"):
                await client.get(silent.url(), timeout_s=0.2)
    finally:
        await client.aclose()


async def test_https_targets_fall_back_to_httpx_with_the_same_wording() -> None:
    source = ExporterGpuSource([("gpu-01", f"https://127.0.0.1:{closed_port()}/metrics")])
    try:
        with pytest.raises(SourceError) as caught:
            await source.fetch()
    finally:
        await source.aclose()
    assert str(caught.value) == "exporter failed; gpu-01: connection refused"


async def test_each_url_is_asked_for_as_written_however_many_urls_come_and_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The parsed requests are kept per URL, within a bound: past it, every URL is still
    asked for at its own path, and a bad URL fails every time."""
    monkeypatch.setattr("tui.sources.scrape_http.MAX_KNOWN_URLS", 2)
    async with raw_server(lambda n: ok(PAGE)) as server:
        client = ScrapeClient()
        try:
            paths = ["/a", "/b", "/c", "/a", "/c?x=1", "/b"]
            for path in paths:
                assert (await client.get(server.url(path))).body == PAGE
            for _ in range(2):
                with pytest.raises(ScrapeError, match="not an http:// URL"):
                    await client.get("https://example.invalid/metrics")
            assert len(client._requests) <= 2
        finally:
            await client.aclose()
    asked = [head.split(b"\r\n")[0].decode() for head in server.heads]
    assert asked == [f"GET {path} HTTP/1.1" for path in paths]
    assert all(f"Host: 127.0.0.1:{server.port}".encode() in head for head in server.heads)
    assert server.connections == 1
