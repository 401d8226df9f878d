"""The documented nginx gateway in front of a real `clusterdash serve`: basic auth, WebSocket."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import need_binaries

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = ROOT / "containers" / "nginx" / "clusterdash.conf"
USER, PASSWORD = "alice", "correct horse battery"
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _htpasswd_line(user: str, password: str) -> str:
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return f"{user}:{{SSHA}}{base64.b64encode(digest + salt).decode()}\n"


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[str]:
    """`clusterdash serve` on loopback, as the README sets it up; yields host:port."""
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "--demo", "serve", "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 20
        while not (match := re.search(r"serving on http://(\S+)/", log.read_text())):
            assert process.poll() is None, f"serve exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"serve did not start: {log.read_text()}"
            time.sleep(0.05)
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture
def gateway(tmp_path: Path, dashboard: str) -> Iterator[str]:
    """nginx running the snippet, moved to loopback ports; yields its base URL."""
    nginx = need_binaries("nginx")["nginx"]
    port = _free_port()
    htpasswd = tmp_path / "clusterdash.htpasswd"
    htpasswd.write_text(_htpasswd_line(USER, PASSWORD))
    snippet = SNIPPET.read_text()
    snippet = re.sub(r"^\s*listen .*;$", "", snippet, flags=re.M)
    snippet = snippet.replace("server_name _;", f"server_name _;\n    listen 127.0.0.1:{port};")
    snippet = snippet.replace("/etc/nginx/clusterdash.htpasswd", str(htpasswd))
    snippet = snippet.replace("http://127.0.0.1:3010", f"http://{dashboard}")
    (tmp_path / "clusterdash.conf").write_text(snippet)
    temp = tmp_path / "nginx-temp"
    temp.mkdir()
    config = tmp_path / "nginx.conf"
    config.write_text(
        f"""
{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {tmp_path}/clusterdash.conf;
}}
"""
    )
    check = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(config)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, (tmp_path / "error.log").read_text()
            assert time.monotonic() < deadline, "nginx did not listen"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_the_gateway_asks_for_basic_auth(gateway: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(gateway) as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Basic")
        async with http.get(gateway, headers=_basic(USER, "wrong password")) as response:
            assert response.status == 401
        async with http.get(gateway, headers=_basic(USER, PASSWORD)) as response:
            assert response.status == 200
            assert "static/js/textual.js" in await response.text()


async def test_the_dashboard_streams_through_the_gateway_websocket(gateway: str) -> None:
    origin = gateway.rstrip("/")  # what a browser on the gateway's page sends
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(gateway + "ws", headers={"Origin": origin})
        assert refused.value.status == 401

        socket_ = await http.ws_connect(
            gateway + "ws?width=140&height=40", headers={"Origin": origin, **_basic(USER, PASSWORD)}
        )
        screen = b""
        async with asyncio.timeout(30):
            while b"gpu-01" not in ANSI.sub(b"", screen):
                message = await socket_.receive()
                assert message.type == aiohttp.WSMsgType.BINARY, message
                screen += message.data
        await socket_.close()
