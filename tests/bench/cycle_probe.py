"""One process measuring full collection cycles against a simulator served by another.

Run by test_bench_cycle.py:
`python -m tests.bench.cycle_probe PORT NODES BIN_DIR DB_PATH CYCLES [PROMETHEUS_URL]`; prints
JSON with the median and best cycle, its CPU time, the median of each part, connects per cycle
and peak RSS.
With PROMETHEUS_URL the GPU readings come from that Prometheus (which scrapes the nodes)
instead of from each node's exporter.

The wiring is production's (tui/services.py, and `collect`'s garbage-collector settings):
the real Slurm source running `scontrol` (stand-ins printing 23.11 text, parsed for real),
the exporter source scraping each node on its own address, the store and the alert service
(evaluation and persistence) subscribed to every publish. Only the targets are given as
(node, URL) pairs, since the nodes' loopback addresses have no host names.
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import tui.sources.slurm as slurm_module
from tests.bench.sim_serve import raise_open_file_limit
from tui.collector import Collector, CollectorOptions
from tui.config import Settings
from tui.gc_tuning import calm_gc
from tui.malloc_tuning import unmap_large_blocks
from tui.model import ClusterSnapshot
from tui.services import build_alerting
from tui.sim.server import node_address
from tui.sources.base import GpuSource
from tui.sources.exporters import ExporterGpuSource
from tui.sources.prometheus import PrometheusGpuSource
from tui.sources.slurm import SlurmSource
from tui.store import Store

T = TypeVar("T")
MEASURE_TIMEOUT_S = 60.0
PARTS = ("slurm", "slurm_parse", "gpu", "store", "alerts")


class PartTimes:
    """Wall seconds of each part of the current cycle."""

    def __init__(self) -> None:
        self.current: dict[str, float] = dict.fromkeys(PARTS, 0.0)
        self.cycles: list[dict[str, float]] = []

    def timed(self, part: str, call: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        async def run(*args: Any) -> T:
            started = time.perf_counter()
            try:
                return await call(*args)
            finally:
                self.current[part] += time.perf_counter() - started

        return run

    def timed_sync(self, part: str, call: Callable[..., T]) -> Callable[..., T]:
        def run(*args: Any) -> T:
            started = time.perf_counter()
            try:
                return call(*args)
            finally:
                self.current[part] += time.perf_counter() - started

        return run

    def next_cycle(self, record: bool) -> None:
        if record:
            self.cycles.append(self.current)
        self.current = dict.fromkeys(PARTS, 0.0)


def count_connects(loop: asyncio.AbstractEventLoop) -> list[int]:
    """A one-item counter of TCP connections this loop opens from now on."""
    count = [0]
    create = loop.create_connection

    async def counted(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return await create(*args, **kwargs)

    loop.create_connection = counted  # type: ignore[method-assign]
    return count


def gpu_source(port: int, nodes: int, prometheus_url: str | None) -> GpuSource:
    if prometheus_url:
        source = PrometheusGpuSource(prometheus_url, timeout_s=MEASURE_TIMEOUT_S)
        source.name = "prometheus"
        return source
    width = max(2, len(str(nodes)))
    targets = [
        (f"gpu-{i + 1:0{width}d}", f"http://{node_address(i)}:{port}/metrics") for i in range(nodes)
    ]
    # Production's concurrency; a generous timeout so that a slow cycle is measured (and
    # reported against the default gpu.timeout) rather than cut short.
    return ExporterGpuSource(
        targets, timeout_s=MEASURE_TIMEOUT_S, concurrency=Settings().gpu.concurrency
    )


async def measure(
    port: int,
    nodes: int,
    bin_dir: Path,
    db_path: Path,
    cycles: int,
    prometheus_url: str | None = None,
) -> dict:
    raise_open_file_limit()
    settings = Settings()
    times = PartTimes()
    slurm_module._text_state = times.timed("slurm_parse", slurm_module._text_state)  # type: ignore[attr-defined]
    workload = SlurmSource(env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    workload.fetch = times.timed("slurm", workload.fetch)  # type: ignore[method-assign]
    gpu = gpu_source(port, nodes, prometheus_url)
    gpu.fetch = times.timed("gpu", gpu.fetch)  # type: ignore[method-assign]
    collector = Collector(
        workload=workload,
        gpu=gpu,
        options=CollectorOptions(
            cluster_name="bench",
            gpu_interval_s=settings.gpu.interval,
            gpu_timeout_s=MEASURE_TIMEOUT_S,
            slurm_interval_s=settings.slurm.interval,
            slurm_timeout_s=settings.slurm.timeout,
        ),
    )
    unmap_large_blocks()  # as `collect` does when it holds the store's writer lock
    store = await Store.open(db_path)
    closers: list[Callable[[], Awaitable[Any]]] = []
    alerts = await build_alerting(settings, store, "bench", closers)
    collector.subscribe(times.timed("store", store.write_snapshot))
    collector.subscribe(times.timed("alerts", alerts.on_snapshot))
    connects = count_connects(asyncio.get_running_loop())
    restore_gc = calm_gc()  # as `clusterdash collect` runs once started
    snapshot: ClusterSnapshot | None = None
    totals = []
    cpu_totals = []
    connects_per_cycle = []
    try:
        for cycle in range(cycles + 1):  # the first warms connections, node ids and caches
            before = connects[0]
            started = time.perf_counter()
            cpu_started = time.process_time()
            snapshot = await collector.collect_once()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            health = snapshot.health[gpu.name]
            assert health.ok, f"GPU source failed: {health.last_error}"
            assert snapshot.health["slurm"].ok, snapshot.health["slurm"].last_error
            assert snapshot.jobs, "no jobs parsed"
            assert len(snapshot.gpus) >= (nodes - 1) * 8, f"only {len(snapshot.gpus)} GPUs read"
            times.next_cycle(record=cycle > 0)
            if cycle > 0:
                totals.append(elapsed)
                cpu_totals.append(cpu)
                connects_per_cycle.append(connects[0] - before)
    finally:  # the store's thread must stop even when a cycle failed, or the process hangs
        for close in closers:
            await close()
        await gpu.aclose()
        await store.close()
        restore_gc()
    assert snapshot is not None
    result = {
        "median_s": statistics.median(totals),
        "best_s": min(totals),
        # This process's CPU seconds a cycle: less swayed than wall time by a busy machine.
        "cpu_s": statistics.median(cpu_totals),
        "connects_per_cycle": statistics.median(connects_per_cycle),
        "jobs": len(snapshot.jobs),
        "active_alerts": len(alerts.engine.active) if hasattr(alerts, "engine") else -1,
        "peak_rss_mb": peak_rss_mb(),
    }
    for part in PARTS:
        result[f"{part}_s"] = statistics.median(c[part] for c in times.cycles)
    return result


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: Linux carries the parent's peak
    into a child across exec, so after heavy benchmarks in the same pytest process it read
    the parent's 301 MB at every node count."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    port, count, bins, path, repeat = sys.argv[1:6]
    url = sys.argv[6] if len(sys.argv) > 6 else None
    result = asyncio.run(measure(int(port), int(count), Path(bins), Path(path), int(repeat), url))
    print(json.dumps(result))
