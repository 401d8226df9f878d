"""`clusterdash sim` in its own process, as benchmarks scrape it (like real, remote nodes)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def sim_server_process(nodes: int) -> Iterator[str]:
    """The simulator's exporters for `nodes` nodes; yields the base URL once it answers."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "sim", "--nodes", str(nodes), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    first_node = f"gpu-{1:0{max(2, len(str(nodes)))}d}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/nodes/{first_node}/metrics", timeout=2).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=20)
