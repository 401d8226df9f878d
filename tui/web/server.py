"""The aiohttp application: the page, its local assets, and one app process per WebSocket."""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from string import Template
from urllib.parse import urlencode

import textual_serve
from aiohttp import WSCloseCode, WSMsgType, web
from loguru import logger
from textual_serve.download_manager import DownloadManager

from tui.web.access import COOKIE_NAME, TOKEN_QUERY, TokenGate, same_origin
from tui.web.session import AppSession

TEXTUAL_SERVE_STATIC = Path(textual_serve.__file__).parent / "static"
_TEMPLATES = files("tui.web") / "templates"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class WebOptions:
    argv: tuple[str, ...]
    max_sessions: int
    gate: TokenGate | None
    title: str
    readonly: bool


def _page(name: str, **values: str) -> str:
    template = Template((_TEMPLATES / name).read_text(encoding="utf-8"))
    return template.substitute({key: html.escape(value) for key, value in values.items()})


class WebDashboard:
    """Routes and the live sessions of one `clusterdash serve`."""

    def __init__(self, options: WebOptions) -> None:
        self.options = options
        self.sessions: dict[web.WebSocketResponse, AppSession] = {}
        self.downloads = DownloadManager()
        self._ending: set[asyncio.Task[None]] = set()

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._authenticate])
        app.add_routes(
            [
                web.get("/", self.index),
                web.get("/ws", self.websocket),
                web.get("/status", self.status),
                web.static("/static", TEXTUAL_SERVE_STATIC),
            ]
        )
        app.on_shutdown.append(self._close_sessions)
        return app

    def _message(self, status: int, heading: str, message: str) -> web.Response:
        body = _page("message.html", title=self.options.title, heading=heading, message=message)
        return web.Response(status=status, text=body, content_type="text/html")

    @property
    def full(self) -> bool:
        return len(self.sessions) >= self.options.max_sessions

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        gate = self.options.gate
        if gate is None or request.path.startswith("/static/"):
            return await handler(request)
        if not gate.accepts(request.headers, request.cookies, request.query):
            logger.info("web: refused {} {} from {}", request.method, request.path, request.remote)
            return self._message(
                401,
                "Token required",
                "This dashboard needs the token its operator set: open the address with"
                f" ?{TOKEN_QUERY}=… once, and this browser remembers it.",
            )
        if gate.token_in_query(request.query):
            # Trade the token in the address bar for a cookie, and drop it from the URL.
            # Relative, so it stays right behind a proxy that serves us under a sub-path.
            kept = [(key, value) for key, value in request.query.items() if key != TOKEN_QUERY]
            location = (request.rel_url.name or ".") + (f"?{urlencode(kept)}" if kept else "")
            response = web.Response(status=303, headers={"Location": location})
            response.set_cookie(
                COOKIE_NAME,
                gate.cookie_value,
                httponly=True,
                samesite="Strict",
                secure=request.secure,
                path="/",
            )
            return response
        return await handler(request)

    async def index(self, request: web.Request) -> web.Response:
        if self.full:
            return self._busy()
        font_size = request.query.get("fontsize", "16")
        body = _page(
            "index.html",
            title=self.options.title,
            font_size=font_size if font_size.isdigit() and 6 <= int(font_size) <= 48 else "16",
        )
        return web.Response(
            text=body, content_type="text/html", headers={"Cache-Control": "no-store"}
        )

    def _busy(self) -> web.Response:
        limit = self.options.max_sessions
        return self._message(
            503,
            "All sessions are in use",
            f"This dashboard allows {limit} browser session{'s' if limit != 1 else ''} at once"
            " (web.max_sessions) and they are all open. Close one, or try again later;"
            " the terminal dashboard over SSH is always available.",
        )

    async def status(self, _request: web.Request) -> web.Response:
        payload = {
            "sessions": len(self.sessions),
            "max_sessions": self.options.max_sessions,
            "readonly": self.options.readonly,
            "pids": sorted(s.pid for s in self.sessions.values() if s.pid is not None),
        }
        return web.json_response(payload)

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if not same_origin(request.headers.get("Origin"), request.host):
            logger.warning("web: refused cross-origin WebSocket from {}", request.headers["Origin"])
            return web.Response(status=403, text="cross-origin WebSocket refused\n")
        if self.full:
            return self._busy()
        width = _int_query(request, "width", 80)
        height = _int_query(request, "height", 24)
        socket = web.WebSocketResponse(heartbeat=15)
        session = AppSession(
            self.options.argv,
            write_bytes=socket.send_bytes,
            write_str=socket.send_str,
            close=socket.close,
            download_manager=self.downloads,
        )
        # Counted before the first await, so concurrent upgrades cannot exceed the limit.
        self.sessions[socket] = session
        try:
            await socket.prepare(request)
            await session.start(width, height)
            await _relay_browser_messages(socket, session)
        finally:
            # aiohttp cancels this handler when the tab's connection drops: the app process
            # must still be stopped and reaped, so the teardown runs in its own task.
            ending = asyncio.create_task(self._end(socket, session))
            self._ending.add(ending)
            ending.add_done_callback(self._ending.discard)
            await asyncio.shield(ending)
        return socket

    async def _end(self, socket: web.WebSocketResponse, session: AppSession) -> None:
        try:
            await session.stop()
        finally:
            del self.sessions[socket]
            if not socket.closed:
                await socket.close()

    async def _close_sessions(self, _app: web.Application) -> None:
        for socket in list(self.sessions):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
        await asyncio.gather(
            *(session.stop() for session in list(self.sessions.values())),
            *list(self._ending),
            return_exceptions=True,
        )


def _int_query(request: web.Request, name: str, default: int) -> int:
    value = request.query.get(name, "")
    return max(1, min(int(value), 1000)) if value.isdigit() else default


async def _relay_browser_messages(socket: web.WebSocketResponse, session: AppSession) -> None:
    """Keys, resizes and focus from the browser to the app; ends when the tab goes away."""
    async for message in socket:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            envelope = json.loads(message.data)
            kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
        except (ValueError, TypeError, IndexError, KeyError):
            continue
        if kind == "stdin" and isinstance(data, str):
            await session.send_bytes(data.encode("utf-8"))
        elif kind == "resize" and isinstance(data, dict):
            width, height = data.get("width"), data.get("height")
            if isinstance(width, int) and isinstance(height, int):
                await session.set_terminal_size(max(1, width), max(1, height))
        elif kind == "ping":
            await socket.send_json(["pong", data])
        elif kind == "blur":
            await session.blur()
        elif kind == "focus":
            await session.focus()
