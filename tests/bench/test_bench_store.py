"""Benchmarks of the history store: batched ingest and one node's sparkline query."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from tui.model import ClusterSnapshot, Gpu
from tui.store import Store
from tui.store_schema import SAMPLE_METRICS

pytestmark = pytest.mark.bench

NODES = 1024
GPUS_PER_NODE = 8
INGEST_TARGET_SAMPLES_PER_S = 200_000
QUERY_TARGET_MS = 10.0
T0 = 1_800_000_000.0
STEP_S = 5.0


def cluster_snapshot(ts: float, cycle: int) -> ClusterSnapshot:
    return ClusterSnapshot(
        taken_at=ts,
        gpus=tuple(
            Gpu(
                node=f"gpu-{n:04d}",
                index=i,
                utilization_pct=float((n + i + cycle) % 101),
                memory_used_mib=float(1000 + 37 * ((n * i + cycle) % 2000)),
                memory_total_mib=81920.0,
                temperature_c=40.0 + (n + cycle) % 45,
                power_w=100.0 + 3.5 * ((i + cycle) % 100),
                sm_clock_mhz=1410.0,
            )
            for n in range(NODES)
            for i in range(GPUS_PER_NODE)
        ),
    )


async def _fill(store: Store, nodes: int, end: float, span_s: float) -> None:
    """`span_s` of 5-s samples up to `end` for `nodes` nodes, generated inside SQLite for speed."""
    await store.write_snapshot(cluster_snapshot(end - span_s, 0))  # interns all nodes
    steps = int(span_s / STEP_S)
    async with store.transaction() as db:
        await db.execute(
            f"""
            WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {steps}),
                 g(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM g WHERE j < {GPUS_PER_NODE - 1})
            INSERT INTO gpu_samples (node_id, ts, gpu, {", ".join(SAMPLE_METRICS)})
            SELECT nodes.id, :start + k.i * {STEP_S}, g.j, (nodes.id + k.i + g.j) % 101,
                   1000 + k.i, 81920, 40 + k.i % 40, 300 + g.j, 1410
            FROM nodes, k, g WHERE nodes.id <= :nodes
            ORDER BY nodes.id, k.i, g.j
            """,
            {"start": end - span_s, "nodes": nodes},
        )


async def test_bench_store_ingest(tmp_path: Path) -> None:
    """Steady state: a store already holding 10 minutes of the whole cluster."""
    cycles = 24  # two minutes of 5-s cycles, so two rollups run inside the timing
    start = T0 + 600
    snapshots = [cluster_snapshot(start + k * STEP_S, k) for k in range(cycles + 1)]
    store = await Store.open(tmp_path / "history.db")
    try:
        await _fill(store, nodes=NODES, end=start - STEP_S, span_s=600 - STEP_S)
        await store.write_snapshot(snapshots[0])  # rolls up the filled minutes, untimed
        started = time.perf_counter()
        rows = 0
        for snapshot in snapshots[1:]:
            rows += await store.write_snapshot(snapshot)
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    rate = rows * len(SAMPLE_METRICS) / elapsed
    print(f"\nBENCH store_ingest_samples_per_s {rate:.0f} samples/s")
    assert rate >= INGEST_TARGET_SAMPLES_PER_S


async def test_bench_store_query_sparkline(tmp_path: Path) -> None:
    end = T0 + 3600
    store = await Store.open(tmp_path / "history.db")
    try:
        await _fill(store, nodes=256, end=end, span_s=3600)
        node = "gpu-0100"
        timings = []
        for _ in range(30):
            started = time.perf_counter()
            series = await store.gpu_history(node, "utilization_pct", end - 3600, end, 120)
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        await store.close()
    assert sorted(series) == list(range(GPUS_PER_NODE))
    assert all(100 <= len(points) <= 120 for points in series.values())
    median_ms = statistics.median(timings)
    print(f"\nBENCH store_query_1h_8gpu_ms {median_ms:.2f} ms")
    assert median_ms <= QUERY_TARGET_MS
