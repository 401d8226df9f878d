"""The collector's state over HTTP on loopback: /api/v1 JSON and a server-sent-events stream.

Read-only: writes (acks, silences, audit rows) need the caller's identity, which only the
Unix socket gives (SO_PEERCRED). Bound to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from loguru import logger

from tui.collect_server import CollectServer

LOOPBACK = "127.0.0.1"
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


class CollectHttp:
    def __init__(self, server: CollectServer, port: int) -> None:
        self.collect = server
        self.port = port
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, LOOPBACK, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("serving /api/v1 on http://{}:{}", LOOPBACK, self.port)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1").split()
            while (await reader.readline()).strip():
                pass  # headers: nothing here depends on them
            if len(request_line) != 3:
                return
            method, target, _ = request_line
            url = urlsplit(target)
            query = dict(parse_qsl(url.query))
            if method != "GET":
                await self._reply(writer, 405, {"ok": False, "error": "read-only: use the socket"})
            elif url.path == "/api/v1/stream":
                await self._stream(writer)
            else:
                await self._route(writer, url.path, query)
        except (ConnectionError, UnicodeDecodeError, ValueError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()

    async def _route(self, writer: asyncio.StreamWriter, path: str, query: dict[str, str]) -> None:
        ops = {
            "/api/v1/snapshot": "snapshot",
            "/api/v1/hello": "hello",
            "/api/v1/alerts": "alerts",
            "/api/v1/history": "history",
        }
        op = ops.get(path)
        if op is None:
            await self._reply(writer, 404, {"ok": False, "error": f"no such path {path}"})
            return
        line = json.dumps({"id": None, "op": op, **query}).encode()
        reply = await self.collect.answer(line, "http")
        assert reply is not None
        message = json.loads(reply)
        if op == "snapshot" and message.get("ok"):
            body = message["snapshot_json"].encode()
            await self._send(writer, 200, body, "application/json")
            return
        await self._reply(writer, 200 if message.get("ok") else 400, message)

    async def _stream(self, writer: asyncio.StreamWriter) -> None:
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            "Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode())
        queue = self.collect.add_stream()
        try:
            while True:
                line = await queue.get()
                writer.write(b"event: snapshot\ndata: " + line.rstrip(b"\n") + b"\n\n")
                await writer.drain()
        finally:
            self.collect.remove_stream(queue)

    async def _reply(self, writer: asyncio.StreamWriter, status: int, body: dict[str, Any]) -> None:
        await self._send(writer, status, json.dumps(body).encode(), "application/json")

    async def _send(
        self, writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str
    ) -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
