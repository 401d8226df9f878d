"""BENCH cycle_1024_nodes_s and cycle_1024_nodes_peak_rss_mb.

The simulator serves its exporters from its own process (as real nodes would), and
the measured process scrapes, parses, builds the snapshot and writes the store.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

NODES = 1024
CYCLES = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.bench
def test_bench_full_cycle_1024_nodes(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "sim", "--nodes", str(NODES), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/nodes/gpu-0001/metrics", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        probe = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).with_name("cycle_probe.py")),
                base_url,
                str(NODES),
                str(tmp_path / "bench.sqlite3"),
                str(CYCLES),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
    result = json.loads(probe.stdout)
    print(f"BENCH cycle_1024_nodes_s {result['median_s']:.3f} s")
    print(f"BENCH cycle_1024_nodes_best_s {result['best_s']:.3f} s")
    print(f"BENCH cycle_1024_nodes_peak_rss_mb {result['peak_rss_mb']:.0f} MB")
    assert result["median_s"] <= 1.0
    assert result["peak_rss_mb"] <= 300
