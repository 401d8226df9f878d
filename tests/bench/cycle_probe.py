"""One process measuring full collection cycles against a simulator served by another.

Run by test_bench_cycle.py: `python cycle_probe.py BASE_URL NODES DB_PATH CYCLES`; prints
JSON with the best and median cycle time and the peak RSS of this process.
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import sys
import time
from pathlib import Path

from tui.collector import Collector, CollectorOptions
from tui.config import GpuSettings
from tui.sim import SimCluster, SimSlurmSource
from tui.sources.exporters import ExporterGpuSource
from tui.store import Store


async def measure(base_url: str, nodes: int, db_path: Path, cycles: int) -> dict[str, float]:
    sim = SimCluster(nodes=nodes, seed=0)
    targets = [(name, f"{base_url}/nodes/{name}/metrics") for name in sim.node_names]
    # Production defaults: a cycle must fit the per-exporter and the whole-source timeout.
    settings = GpuSettings()
    gpu = ExporterGpuSource(targets, timeout_s=settings.timeout, concurrency=settings.concurrency)
    store = await Store.open(db_path)
    options = CollectorOptions(gpu_timeout_s=settings.timeout)
    collector = Collector(workload=SimSlurmSource(sim), gpu=gpu, options=options)
    collector.subscribe(store.write_snapshot)
    await collector.collect_once()  # warm: connections, node ids, caches
    times = []
    for _ in range(cycles):
        started = time.perf_counter()
        snapshot = await collector.collect_once()
        times.append(time.perf_counter() - started)
        # Every cycle scrapes afresh (a timed-out one would republish the last GPUs: check
        # health). The simulator scripts gpu-0010 to stop responding 180-360 s after it starts.
        health = snapshot.health["gpu"]
        assert health.ok, f"GPU source failed: {health.last_error}"
        assert len(snapshot.gpus) >= (nodes - 1) * 8, f"only {len(snapshot.gpus)} GPUs scraped"
    await gpu.aclose()
    await store.close()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "best_s": min(times),
        "median_s": statistics.median(times),
        "peak_rss_mb": peak_kb / 1024,
    }


if __name__ == "__main__":
    url, count, path, repeat = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(asyncio.run(measure(url, count, path, repeat))))
