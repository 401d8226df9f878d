"""BENCH cycle_1024_nodes_50_hung_s: a GPU cycle over 1,024 exporters of which 50 never
answer lasts gpu.timeout (+0.5 s at most) and keeps every answering node's GPUs.

The simulator serves 974 nodes' pages from its own process; the 50 others point at a
loopback socket that accepts connections and never answers. Figures are printed with
their targets, never asserted.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.bench.report import bench
from tui.collector import SOURCE_DEADLINE_GRACE_S, Collector, CollectorOptions
from tui.config import GpuSettings
from tui.sim import SimCluster
from tui.sources.exporters import ExporterGpuSource

NODES = 1024
HUNG = 50
CYCLES = 3
START_TIMEOUT_S = 120.0


@contextmanager
def simulator(nodes: int) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "sim", "--nodes", str(nodes), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/nodes/gpu-0001/metrics", timeout=2).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=20)


@contextmanager
def black_hole() -> Iterator[str]:
    """A loopback address that takes connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4096)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/metrics"


async def measure(base_url: str, hole: str) -> tuple[list[float], int, int]:
    names = SimCluster(nodes=NODES, seed=0).node_names
    hung = set(names[:: NODES // HUNG][:HUNG])
    targets = [
        (name, hole if name in hung else f"{base_url}/nodes/{name}/metrics") for name in names
    ]
    settings = GpuSettings()
    source = ExporterGpuSource(
        targets, timeout_s=settings.timeout, concurrency=settings.concurrency
    )
    collector = Collector(
        workload=None,
        gpu=source,
        options=CollectorOptions(gpu_timeout_s=settings.timeout + SOURCE_DEADLINE_GRACE_S),
    )
    times = []
    fewest_gpus = NODES * 8
    try:
        for _ in range(CYCLES):
            started = time.perf_counter()
            snapshot = await collector.collect_once()
            times.append(time.perf_counter() - started)
            answering = [g for g in snapshot.gpus if g.node not in hung]
            fewest_gpus = min(fewest_gpus, len(answering))
    finally:
        await collector.aclose()
    return times, fewest_gpus, len(hung)


@pytest.mark.bench
def test_bench_cycle_1024_nodes_50_hung() -> None:
    with simulator(NODES) as base_url, black_hole() as hole:
        times, fewest_gpus, hung = asyncio.run(measure(base_url, hole))
    timeout = GpuSettings().timeout
    bench("cycle_1024_nodes_50_hung_s", statistics.median(times), "s", at_most=timeout + 0.5)
    bench("cycle_1024_nodes_50_hung_worst_s", max(times), "s", at_most=timeout + 0.5)
    expected = (NODES - hung) * 8
    bench("cycle_1024_nodes_50_hung_gpus", fewest_gpus, "count", at_least=expected, digits=0)
