"""`clusterdash serve` end to end: the real server, real dashboard processes, headless Chromium.

Chromium is driven over the Chrome DevTools Protocol (a WebSocket, via aiohttp). xterm.js
draws on a canvas, so the screen is read from xterm's own buffer: a hook installed before
the page loads records each xterm Terminal as it is built (the bundle exposes none).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from tests.conftest import need_binaries

pytestmark = pytest.mark.integration

TOKEN = "browser-test-token-0123456789"
ROOT = Path(__file__).resolve().parents[2]

# xterm's Terminal constructor assigns `this._core = ...`: record every object that does.
XTERM_HOOK = """
window.__xterms = [];
Object.defineProperty(Object.prototype, "_core", {
  configurable: true,
  get() { return undefined; },
  set(value) {
    Object.defineProperty(this, "_core", {value, writable: true, configurable: true});
    window.__xterms.push(this);
  },
});
"""

READ_SCREEN = """
(() => {
  for (const term of window.__xterms || []) {
    const buffer = term.buffer && term.buffer.active;
    if (!buffer || typeof buffer.getLine !== "function" || !term.rows) continue;
    const rows = [];
    for (let y = 0; y < term.rows; y++) {
      const line = buffer.getLine(buffer.viewportY + y);
      rows.push(line ? line.translateToString(true) : "");
    }
    return rows.join("\\n");
  }
  return document.body ? document.body.innerText : "";
})()
"""

LOADED_RESOURCES = "performance.getEntriesByType('resource').map(entry => entry.name)"
FONT_STATUS = "[...document.fonts].filter(f => f.family.includes('Roboto Mono')).map(f => f.status)"


class Serve:
    """A `clusterdash serve` process for the demo cluster on a free loopback port."""

    def __init__(self, log: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        with log.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tui.cli", "--demo", "serve", "--port", "0", *extra],
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        self.url = _wait_for_serving(self.process, log)

    def app_pids(self) -> list[int]:
        return [child.pid for child in psutil.Process(self.process.pid).children(recursive=True)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _wait_for_serving(process: subprocess.Popen[bytes], log: Path) -> str:
    """The URL from the "serving on" line that `clusterdash serve` writes once it listens."""
    deadline = time.monotonic() + 20
    while not (match := re.search(r"serving on (http://\S+/)", log.read_text())):
        assert process.poll() is None, f"serve exited: {log.read_text()}"
        assert time.monotonic() < deadline, f"serve did not start: {log.read_text()}"
        time.sleep(0.05)
    return match.group(1)


@contextlib.contextmanager
def serving(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[Serve]:
    server = Serve(tmp_path / "serve.log", *extra, env=env)
    try:
        yield server
    finally:
        server.stop()


async def eventually(check: Any, what: str, within: float = 25) -> Any:
    """Poll `check()` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.2)


class Tab:
    """One Chromium tab over CDP."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse, target_id: str) -> None:
        self.socket = socket
        self.target_id = target_id
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self.ids)
        await self.socket.send_json({"id": message_id, "method": method, "params": params})
        while True:
            reply = await self.socket.receive_json(timeout=20)
            if reply.get("id") == message_id:
                return dict(reply)

    async def evaluate(self, expression: str) -> Any:
        """The value, or None while the page is between documents."""
        reply = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        result = reply.get("result", {})
        if "error" in reply or "exceptionDetails" in result:
            return None
        return result.get("result", {}).get("value")

    async def screen(self) -> str:
        return str(await self.evaluate(READ_SCREEN) or "")

    async def wait_for_text(self, text: str) -> str:
        async def shown() -> str | None:
            screen = await self.screen()
            return screen if text in screen else None

        try:
            return str(await eventually(shown, f"{text!r} on screen"))
        except AssertionError:
            screen = await self.screen()
            raise AssertionError(f"{text!r} never appeared; the screen:\n{screen}") from None

    async def press(self, key: str) -> None:
        await self.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
        await self.call("Input.insertText", text=key)

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)


class Browser:
    def __init__(self, port: int, http: aiohttp.ClientSession) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.http = http

    async def open(self, url: str) -> Tab:
        async with self.http.put(f"{self.base}/json/new?about:blank") as reply:
            target = await reply.json()
        socket = await self.http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        tab = Tab(socket, target["id"])
        await tab.call("Page.enable")
        await tab.call("Page.addScriptToEvaluateOnNewDocument", source=XTERM_HOOK)
        await tab.goto(url)
        return tab

    async def close(self, tab: Tab) -> None:
        async with self.http.get(f"{self.base}/json/close/{tab.target_id}") as reply:
            assert reply.status == 200
        await tab.socket.close()


@pytest.fixture(scope="module")
def chromium_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    paths = need_binaries("chromium", "chromedriver")
    profile = tmp_path_factory.mktemp("chromium-profile")
    process = subprocess.Popen(
        [
            paths["chromium"],
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            "--window-size=1400,900",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None, "chromium exited at start"
            assert time.monotonic() < deadline, "chromium did not open its debugging port"
            time.sleep(0.1)
        yield int(port_file.read_text().split()[0])
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
async def browser(chromium_port: int) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession() as http:
        yield Browser(chromium_port, http)


async def test_the_dashboard_runs_in_the_browser_offline_and_read_only(
    browser: Browser, tmp_path: Path
) -> None:
    with serving(tmp_path) as server:
        tab = await browser.open(server.url)
        screen = await tab.wait_for_text("gpu-01")
        assert "READONLY" in screen  # web sessions cannot act unless --allow-actions
        assert "Does" not in screen

        await tab.press("?")  # the help screen
        await tab.wait_for_text("Does")

        resources = await tab.evaluate(LOADED_RESOURCES)
        assert resources, "the page loaded no assets"
        assert all(url.startswith(server.url) for url in resources), resources
        assert "loaded" in await tab.evaluate(FONT_STATUS)  # the font came from this server

        (pid,) = await eventually(server.app_pids, "one app process for the tab")
        await browser.close(tab)
        await eventually(lambda: not psutil.pid_exists(pid), "the app process ends")


async def test_a_token_is_required_and_then_remembered(browser: Browser, tmp_path: Path) -> None:
    with serving(tmp_path, env={"CLUSTERDASH_SERVE_TOKEN": TOKEN}) as server:
        tab = await browser.open(server.url)
        await tab.wait_for_text("Token required")
        assert not server.app_pids()

        await tab.goto(f"{server.url}?token=wrong-token-0123456789")
        await tab.wait_for_text("Token required")

        await tab.goto(f"{server.url}?token={TOKEN}")
        await tab.wait_for_text("gpu-01")
        assert await tab.evaluate("location.search") == ""  # the token left the address bar
        await browser.close(tab)


async def test_the_session_limit_shows_a_page_until_a_tab_closes(
    browser: Browser, tmp_path: Path
) -> None:
    with serving(tmp_path, "--max-sessions", "1", "--allow-actions") as server:
        first = await browser.open(server.url)
        screen = await first.wait_for_text("gpu-01")
        assert "READONLY" not in screen

        second = await browser.open(server.url)
        await second.wait_for_text("All sessions are in use")

        await browser.close(first)
        await eventually(lambda: not server.app_pids(), "the first tab's app ends")
        await second.goto(server.url)
        await second.wait_for_text("gpu-01")

        pids = server.app_pids()
        server.stop()  # SIGTERM with a session open: the app process goes too
        assert server.process.returncode == 0
        assert not any(psutil.pid_exists(pid) for pid in pids)
        await browser.close(second)
