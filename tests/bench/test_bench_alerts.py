"""BENCH alerts_eval_1024_nodes_ms (built-in rules on a 1024-node x 8-GPU snapshot) and
alerts_eval_persist_2000_active_ms (evaluation plus persistence with 2,000 active alerts,
against rewriting every active alert as the store did before, in the same run)."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import pytest

from tests.bench.report import bench, ratio
from tui.alerts.builtin import BUILTIN_RULES
from tui.alerts.engine import AlertEngine
from tui.alerts.persistence import AlertRepository
from tui.alerts.rules import Comparator, Rule, Severity, Watch
from tui.alerts.service import AlertService
from tui.model import ClusterSnapshot, Gpu
from tui.sim import SimCluster, SimSlurmSource
from tui.sources.exporters import gpus_from_samples
from tui.sources.promtext import parse_samples


def sim_snapshot(nodes: int) -> ClusterSnapshot:
    from tui.sim.dcgm import DcgmRenderer

    clock_at = 1_800_000_000.0 + 600
    sim = SimCluster(nodes=nodes, seed=1, start=1_800_000_000.0, clock=lambda: clock_at)
    sim.sync()
    renderer = DcgmRenderer(sim)
    gpus = []
    for position, name in enumerate(sim.node_names):
        gpus.extend(
            gpus_from_samples(parse_samples(renderer.node_payload(position).decode()), name)
        )
    state = SimSlurmSource(sim).state()
    return ClusterSnapshot(taken_at=clock_at, nodes=state.nodes, jobs=state.jobs, gpus=tuple(gpus))


@pytest.mark.bench
def test_bench_alert_evaluation_1024_nodes() -> None:
    snapshot = sim_snapshot(1024)
    assert len(snapshot.gpus) == 1024 * 8
    engine = AlertEngine(BUILTIN_RULES, gpu_hourly_price=1.89)
    engine.evaluate(snapshot, now=snapshot.taken_at)
    times = []
    for i in range(20):
        started = time.perf_counter()
        engine.evaluate(snapshot, now=snapshot.taken_at + i)
        times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    assert engine.active, "the simulator's incidents are seen"
    bench("alerts_eval_1024_nodes_ms", median, "ms", at_most=20, digits=1)


ACTIVE = 2000
HOT = Rule("gpu_hot", Watch.GPU_TEMPERATURE, Comparator.GTE, 85, severity=Severity.CRITICAL)


def hot_snapshot(at: float) -> ClusterSnapshot:
    """ACTIVE GPUs over the threshold and as many cool ones, readings unchanged between calls."""
    return ClusterSnapshot(
        taken_at=at,
        gpus=tuple(
            Gpu(f"gpu-{n:04d}", i, temperature_c=90.0 if n < ACTIVE // 8 else 50.0)
            for n in range(2 * ACTIVE // 8)
            for i in range(8)
        ),
    )


async def eval_persist_ms(db: Path, *, rewrite_all: bool) -> float:
    from tui.store import Store

    store = await Store.open(db)
    repository = AlertRepository(store)
    service = AlertService(AlertEngine([HOT]), repository)
    await service.start()
    t0 = 1_800_000_000.0
    await service.on_snapshot(hot_snapshot(t0))
    assert len(service.active()) == ACTIVE
    times = []
    for k in range(1, 21):
        if rewrite_all:
            repository._written = None  # the previous behaviour: every active row rewritten
        snapshot = hot_snapshot(t0 + 5 * k)
        started = time.perf_counter()
        await service.on_snapshot(snapshot)
        times.append((time.perf_counter() - started) * 1000)
    await store.close()
    return statistics.median(times)


@pytest.mark.bench
def test_bench_alert_evaluation_and_persistence_2000_active(tmp_path: Path) -> None:
    diff_ms = asyncio.run(eval_persist_ms(tmp_path / "diff.sqlite3", rewrite_all=False))
    full_ms = asyncio.run(eval_persist_ms(tmp_path / "full.sqlite3", rewrite_all=True))
    bench("alerts_eval_persist_2000_active_ms", diff_ms, "ms", at_most=20, digits=1)
    bench("alerts_eval_persist_2000_active_rewrite_all_ms", full_ms, "ms", digits=1)
    ratio("alerts_eval_persist_2000_active", diff_ms, full_ms, "rewrite_all")
