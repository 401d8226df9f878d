"""BENCH cycle_1024_nodes_via_prometheus_s: the cycle when Prometheus scrapes the nodes.

Past a few thousand nodes the exporters are better scraped by Prometheus (or Thanos, Mimir,
VictoriaMetrics, which shard the scrape) and clusterdash reads PromQL answers each cycle.
Here a real Prometheus scrapes the 1,024-node simulator (each node on its own loopback
address, as in test_bench_cycle.py) and the measured process runs production's wiring with
the Prometheus GPU source: Slurm fetch and parse, one instant query per GPU family, store,
alerts.

Prometheus runs on the same cores as the collector here, where in production it runs on
its own machine, so the reading is also measured alone (BENCH prometheus_read_1024_nodes_*):
its wall time, the collector's CPU and Prometheus' CPU (its process_cpu_seconds_total, less
what its scraping costs while idle), against one instant query per family (the reading where
/federate is not served) and the previous reading (every family's whole answer,
gzip-compressed, decoded with json.loads) in the same run, the rounds alternating.

The floor of any reading through /federate is Prometheus answering it: the same requests
with the answers' bytes only received, not read (BENCH prometheus_federate_answers_*). When
that alone takes longer than the cycle's target, no reading in the collector can meet the
target with Prometheus on these cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from tests.bench.report import bench, ratio
from tests.bench.sim_process import SimFleet, sim_server_process
from tests.bench.test_bench_cycle import CYCLES, run_probe
from tests.integration.prometheus_process import running_prometheus
from tui.model import Gpu
from tui.sources.exporters import gpus_from_samples
from tui.sources.prometheus import (
    DCGM_FAMILIES,
    GPU_FAMILIES,
    MAX_FAST_ANSWER_BYTES,
    PrometheusGpuSource,
)
from tui.sources.prometheus_federate import federate_url
from tui.sources.promtext import Sample
from tui.sources.scrape_http import ScrapeClient

NODES = 1024
TARGET_S = 0.5
SCRAPE_INTERVAL = "15s"
READ_ROUNDS = 5
IDLE_SAMPLE_S = 5.0


def prometheus_config(fleet: SimFleet, path: Path) -> Path:
    targets = [url.removeprefix("http://").removesuffix("/metrics") for _, url in fleet.targets()]
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": "10s"},
        "scrape_configs": [{"job_name": "dcgm", "static_configs": [{"targets": targets}]}],
    }
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def every_node_scraped(result: list) -> bool:
    return bool(result) and float(result[0]["value"][1]) >= NODES - 1


async def previous_reading(client: httpx.AsyncClient, base: str) -> list[Gpu]:
    """The GPUs as the source read them before: each family's whole answer (every label),
    compressed by Prometheus, decoded with json.loads, converted by gpus_from_samples."""
    answers = await asyncio.gather(
        *(client.post(f"{base}/api/v1/query", data={"query": f}) for f in GPU_FAMILIES)
    )
    samples = [
        Sample(family, series["metric"], float(series["value"][1]))
        for family, answer in zip(GPU_FAMILIES, answers, strict=True)
        for series in answer.json()["data"]["result"]
    ]
    return [gpu for gpu in gpus_from_samples(samples) if gpu.node]


async def prometheus_cpu_s(client: httpx.AsyncClient, base: str) -> float:
    page = (await client.get(f"{base}/metrics")).text
    found = re.search(r"^process_cpu_seconds_total (\S+)$", page, re.MULTILINE)
    assert found, "Prometheus reports its own CPU time"
    return float(found.group(1))


async def measure_reading(
    base: str,
    read: Callable[[], Awaitable[list[Gpu]]],
    idle_cpu_per_s: float,
    rounds: int = READ_ROUNDS,
) -> tuple[dict[str, float], list[Gpu]]:
    """Median wall time, collector CPU and Prometheus CPU of `rounds` readings."""
    walls, cpus, prometheus_cpus = [], [], []
    gpus: list[Gpu] = []
    async with httpx.AsyncClient(timeout=60.0) as metrics:
        for _ in range(rounds):
            before = await prometheus_cpu_s(metrics, base)
            started, cpu_started = time.perf_counter(), time.process_time()
            gpus = await read()
            wall = time.perf_counter() - started
            cpus.append(time.process_time() - cpu_started)
            walls.append(wall)
            spent = await prometheus_cpu_s(metrics, base) - before
            prometheus_cpus.append(max(0.0, spent - idle_cpu_per_s * wall))
    figures = {
        "s": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
        "prometheus_cpu_s": statistics.median(prometheus_cpus),
    }
    return figures, gpus


async def compare_readings(base: str) -> dict[str, dict[str, float]]:
    async with httpx.AsyncClient(timeout=60.0) as metrics:
        before = await prometheus_cpu_s(metrics, base)
        await asyncio.sleep(IDLE_SAMPLE_S)
        idle_cpu_per_s = (await prometheus_cpu_s(metrics, base) - before) / IDLE_SAMPLE_S
    source = PrometheusGpuSource(base, timeout_s=60.0)
    by_queries = PrometheusGpuSource(base, timeout_s=60.0, federate=False)
    previous_client = httpx.AsyncClient(timeout=60.0)
    answers_client = ScrapeClient(max_body_bytes=MAX_FAST_ANSWER_BYTES, max_idle=len(DCGM_FAMILIES))

    async def current() -> list[Gpu]:
        return sorted((await source.fetch()).gpus, key=lambda g: g.key)

    async def instant_queries() -> list[Gpu]:
        return sorted((await by_queries.fetch()).gpus, key=lambda g: g.key)

    async def previous() -> list[Gpu]:
        return sorted(await previous_reading(previous_client, base), key=lambda g: g.key)

    async def federate_answers() -> list[Gpu]:
        """The /federate answers the reading asks for, received and not read."""
        pages = await asyncio.gather(
            *(answers_client.get(federate_url(base, f)) for f in DCGM_FAMILIES)
        )
        assert sum(len(page.body) for page in pages) > 0
        return []

    readings = {
        "reading": current,
        "instant_queries": instant_queries,
        "previous": previous,
        "federate_answers": federate_answers,
    }
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in readings}
    gpus: dict[str, list[Gpu]] = {}
    try:
        await current()  # learn the label sets, as the first cycle of `collect` does
        await instant_queries()
        assert source.reads_federate, "Prometheus serves /federate"
        for _ in range(READ_ROUNDS):
            for name, read in readings.items():
                figures, gpus[name] = await measure_reading(base, read, idle_cpu_per_s, 1)
                rounds[name].append(figures)
    finally:
        await source.aclose()
        await by_queries.aclose()
        await previous_client.aclose()
        await answers_client.aclose()
    assert gpus["reading"] == gpus["instant_queries"] == gpus["previous"], "the same GPUs"
    assert len(gpus["reading"]) >= (NODES - 1) * 8
    return {
        name: {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        for name, rows in rounds.items()
    }


@pytest.mark.bench
@pytest.mark.timeout(900)
def test_bench_cycle_1024_nodes_via_prometheus(tmp_path: Path) -> None:
    with sim_server_process(NODES, tmp_path / "bin") as fleet:
        config = prometheus_config(fleet, tmp_path / "prometheus.yml")
        with running_prometheus(
            config,
            tmp_path,
            ready_query="count(count by (Hostname) (DCGM_FI_DEV_GPU_UTIL))",
            ready=every_node_scraped,
            not_ready="Prometheus did not scrape every simulated node",
            ready_timeout_s=240.0,
        ) as base:
            probe = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.bench.cycle_probe",
                    str(fleet.port),
                    str(NODES),
                    str(fleet.bin_dir),
                    str(tmp_path / "bench.sqlite3"),
                    str(CYCLES),
                    base,
                ],
                capture_output=True,
                text=True,
                timeout=600,
                env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")},
            )
            if probe.returncode == 0:
                readings = asyncio.run(compare_readings(base))
    if probe.returncode != 0:
        pytest.fail(f"cycle probe failed: {probe.stderr.strip().splitlines()[-1:]}")
    via_prometheus = json.loads(probe.stdout)
    name = f"cycle_{NODES}_nodes_via_prometheus"
    bench(f"{name}_s", via_prometheus["median_s"], "s", at_most=TARGET_S)
    bench(f"{name}_best_s", via_prometheus["best_s"], "s")
    bench(f"{name}_cpu_s", via_prometheus["cpu_s"], "s")
    for part in ("slurm", "slurm_parse", "gpu", "store", "alerts"):
        bench(f"{name}_{part}_s", via_prometheus[f"{part}_s"], "s")
    bench(f"{name}_peak_rss_mb", via_prometheus["peak_rss_mb"], "MB")
    bench(
        f"connects_per_cycle_{NODES}_nodes_via_prometheus",
        via_prometheus["connects_per_cycle"],
        "count",
        at_most=0,
    )
    read_name = f"prometheus_read_{NODES}_nodes"
    reading = readings["reading"]
    for figure in ("s", "cpu_s", "prometheus_cpu_s"):
        bench(f"{read_name}_{figure}", reading[figure], "s")
        for other in ("instant_queries", "previous"):
            bench(f"{read_name}_{other}_{figure}", readings[other][figure], "s")
            ratio(f"{read_name}_{figure}", reading[figure], readings[other][figure], other)
    answers = readings["federate_answers"]
    bench(f"prometheus_federate_answers_{NODES}_nodes_s", answers["s"], "s")
    bench(
        f"prometheus_federate_answers_{NODES}_nodes_prometheus_cpu_s",
        answers["prometheus_cpu_s"],
        "s",
    )
    direct = run_probe(NODES, tmp_path / "direct")
    bench(f"cycle_{NODES}_nodes_direct_same_run_s", direct["median_s"], "s")
    bench(f"cycle_{NODES}_nodes_direct_same_run_cpu_s", direct["cpu_s"], "s")
    bench(f"cycle_{NODES}_nodes_direct_same_run_gpu_s", direct["gpu_s"], "s")
    ratio(f"{name}", via_prometheus["median_s"], direct["median_s"], "direct_scrape")
