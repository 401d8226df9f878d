"""The web server on loopback with real app processes (a tiny Textual app, for speed)."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import psutil
import pytest
from aiohttp.test_utils import TestServer

from tui.web.access import COOKIE_NAME, TokenGate
from tui.web.server import WebDashboard, WebOptions

TOKEN = "0123456789abcdef0123"
TINY_APP = """
from textual.app import App
from textual.widgets import Static

class Tiny(App):
    def compose(self):
        yield Static("tiny app ready")

Tiny().run()
"""

Start = Callable[..., Awaitable[tuple[str, WebDashboard]]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    script = tmp_path / "tiny_app.py"
    script.write_text(TINY_APP)
    servers: list[TestServer] = []

    async def launch(
        *, token: str | None = None, max_sessions: int = 4
    ) -> tuple[str, WebDashboard]:
        dashboard = WebDashboard(
            WebOptions(
                argv=(sys.executable, str(script)),
                max_sessions=max_sessions,
                gate=TokenGate(token) if token else None,
                title="clusterdash test",
                readonly=True,
            )
        )
        server = TestServer(dashboard.application(), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/")), dashboard

    yield launch
    for server in servers:
        await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _read_until(socket: aiohttp.ClientWebSocketResponse, text: bytes) -> bytes:
    seen = b""
    async with asyncio.timeout(15):
        while text not in re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", seen):
            message = await socket.receive()
            assert message.type == aiohttp.WSMsgType.BINARY, message
            seen += message.data
    return seen


async def _wait_for(condition: Callable[[], bool], within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.05)


async def test_without_the_token_pages_and_sockets_are_refused(
    start: Start, http: aiohttp.ClientSession
) -> None:
    url, _ = await start(token=TOKEN)
    async with http.get(url) as response:
        assert response.status == 401
        assert "Token required" in await response.text()
    async with http.get(url + "ws") as response:
        assert response.status == 401
    async with http.get(url, headers={"X-Clusterdash-Token": "wrong-token-0123456789"}) as response:
        assert response.status == 401
    # Static assets are the package's public files, needed by the refusal page's browser too.
    async with http.get(url + "static/js/textual.js") as response:
        assert response.status == 200


async def test_the_token_in_the_address_becomes_a_cookie_and_leaves_the_url(
    start: Start, http: aiohttp.ClientSession
) -> None:
    url, _ = await start(token=TOKEN)
    async with http.get(url, params={"token": TOKEN}, allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["Location"] == "."
        cookie = response.cookies[COOKIE_NAME]
        assert cookie.value != TOKEN
        assert cookie["httponly"]
    async with http.get(url, cookies={COOKIE_NAME: cookie.value}) as response:
        assert response.status == 200
        assert "textual.js" in await response.text()
    async with http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        assert response.status == 200


async def test_the_page_loads_nothing_from_the_internet(
    start: Start, http: aiohttp.ClientSession
) -> None:
    url, _ = await start()
    async with http.get(url) as response:
        page = await response.text()
    references = re.findall(r"""(?:src|href)="([^"]+)"|url\("([^"]+)"\)""", page)
    assets = [a or b for a, b in references if not (a or b).startswith("data:")]
    assert len(assets) >= 4  # stylesheet, script, two fonts
    for asset in assets:
        assert not re.match(r"^(https?:)?//", asset), asset
        async with http.get(url + asset) as response:
            assert response.status == 200, asset


async def test_a_cross_origin_websocket_is_refused(
    start: Start, http: aiohttp.ClientSession
) -> None:
    url, dashboard = await start()
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await http.ws_connect(url + "ws", headers={"Origin": "https://evil.example"})
    assert caught.value.status == 403
    assert not dashboard.sessions


async def test_the_session_limit_shows_a_page_and_a_closed_tab_frees_its_process(
    start: Start, http: aiohttp.ClientSession
) -> None:
    url, dashboard = await start(max_sessions=1)
    first = await http.ws_connect(url + "ws?width=80&height=24")
    await _read_until(first, b"tiny app ready")
    async with http.get(url + "status") as response:
        status = await response.json()
    assert status["sessions"] == 1
    (pid,) = status["pids"]
    assert psutil.pid_exists(pid)

    async with http.get(url) as response:
        assert response.status == 503
        assert "All sessions are in use" in await response.text()
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await http.ws_connect(url + "ws")
    assert caught.value.status == 503

    await first.close()  # the tab closes
    await _wait_for(lambda: not dashboard.sessions and not psutil.pid_exists(pid))
    async with http.get(url) as response:
        assert response.status == 200


async def test_when_the_app_quits_the_browser_socket_closes(
    start: Start, http: aiohttp.ClientSession
) -> None:
    url, dashboard = await start()
    socket = await http.ws_connect(url + "ws")
    await _read_until(socket, b"tiny app ready")
    await socket.send_json(["stdin", "\x11"])  # ctrl+q: Textual's quit
    async with asyncio.timeout(10):
        while (await socket.receive()).type not in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        ):
            pass
    await _wait_for(lambda: not dashboard.sessions)
