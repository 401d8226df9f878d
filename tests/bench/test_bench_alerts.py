"""BENCH alerts_eval_1024_nodes_ms: built-in rules on a 1024-node x 8-GPU snapshot."""

from __future__ import annotations

import statistics
import time

import pytest

from tui.alerts.builtin import BUILTIN_RULES
from tui.alerts.engine import AlertEngine
from tui.model import ClusterSnapshot
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
    print(f"BENCH alerts_eval_1024_nodes_ms {median:.1f} ms")
    assert engine.active, "the simulator's incidents are seen"
    assert median <= 20
