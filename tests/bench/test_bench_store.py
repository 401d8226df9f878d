"""Benchmarks of the history store: batched ingest with pruning and rollups running, one
node's sparkline query over an hour and over a week, and the file size of a week of history
at the default tiers, each against the single-tier layout (7 days of 1-minute rows)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from tests.bench.report import bench, ratio
from tests.store_snapshots import gpu_snapshot
from tui.model import ClusterSnapshot, Gpu
from tui.store import DEFAULT_RAW_RETENTION_S, Store
from tui.store_schema import ROLLUP_METRICS, SAMPLE_METRICS

pytestmark = pytest.mark.bench

NODES = 1024
GPUS_PER_NODE = 8
INGEST_TARGET_SAMPLES_PER_S = 250_000
QUERY_TARGET_MS = 10.0
QUERY_7D_TARGET_MS = 30.0
MB_PER_NODE_DAY_TARGET = 0.3
SIZE_NODES = 16
DAY = 86400
T0 = 1_800_000_000.0
STEP_S = 5.0


def cluster_snapshot(ts: float, cycle: int) -> ClusterSnapshot:
    return gpu_snapshot(ts, cycle, NODES, GPUS_PER_NODE)


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
    """Steady state: a store already holding the raw hour of the whole cluster, so that each
    minute's pruning deletes the minute that left the raw retention."""
    cycles = 24  # two minutes of 5-s cycles, so two rollups and two prunes run inside the timing
    start = T0 + DEFAULT_RAW_RETENTION_S + 60
    snapshots = [cluster_snapshot(start + k * STEP_S, k) for k in range(cycles + 1)]
    pruned = 0
    store = await Store.open(tmp_path / "history.db")
    try:
        await _fill(store, nodes=NODES, end=start - STEP_S, span_s=start - STEP_S - T0)
        await store.write_snapshot(snapshots[0])  # rolls up the filled minutes, untimed
        await store.prune(snapshots[0].taken_at)
        started = time.perf_counter()
        rows = 0
        for k, snapshot in enumerate(snapshots[1:], start=1):
            rows += await store.write_snapshot(snapshot)
            if k % 12 == 0:  # the maintenance task prunes every minute
                result = await store.prune(snapshot.taken_at)
                pruned += result.samples_deleted
        elapsed = time.perf_counter() - started
    finally:
        await store.close()
    rate = rows * len(SAMPLE_METRICS) / elapsed
    bench("store_ingest_rows_pruned", pruned, "rows", digits=0)
    bench(
        "store_ingest_samples_per_s",
        rate,
        "samples/s",
        at_least=INGEST_TARGET_SAMPLES_PER_S,
        digits=0,
    )


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
    bench("store_query_1h_8gpu_ms", median_ms, "ms", at_most=QUERY_TARGET_MS, digits=2)


def _rollup_values(node: str, k: str) -> str:
    """Per-metric min/avg/max expressions with fractional averages, as real rollups have."""
    values = []
    for index, _metric in enumerate(ROLLUP_METRICS):
        base = f"(({node} * 7 + {k} * {index + 3}) % 97)"
        values += [base, f"{base} + 0.37 + ({k} % 13) / 7.0", f"{base} + 3"]
    return ", ".join(values)


async def _fill_week(store: Store, nodes: int, end: int, *, tiered: bool) -> None:
    """A week of history for `nodes` x 8 GPUs as the store keeps it at its defaults (raw for
    the last hour, 1-minute rows for the last day, 10-minute rows for the week), or, with
    tiered=False, as it kept it before (1-minute rows for the whole week)."""
    await store.write_snapshot(
        ClusterSnapshot(
            taken_at=end - 3600,
            gpus=tuple(Gpu(f"gpu-{n:04d}", 0) for n in range(nodes)),
        )
    )
    columns = ", ".join(f"{m}_{a}" for m in ROLLUP_METRICS for a in ("min", "avg", "max"))
    gpus = f"g(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM g WHERE j < {GPUS_PER_NODE - 1})"
    minutes_kept = DAY if tiered else 7 * DAY
    async with store.transaction() as db:
        await db.execute(
            f"""
            WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < :count - 1),
                 {gpus}
            INSERT OR REPLACE INTO gpu_rollups_1m (node_id, minute, gpu, job, samples, {columns})
            SELECT nodes.id, :start + k.i * 60, g.j, 1 + (nodes.id * 8 + g.j + k.i / 240) % 4096,
                   12, {_rollup_values("nodes.id", "k.i")}
            FROM nodes, k, g ORDER BY nodes.id, k.i, g.j
            """,
            {"count": int(minutes_kept // 60), "start": end - minutes_kept},
        )
        if tiered:
            await db.execute(
                f"""
                WITH RECURSIVE k(i) AS (
                    SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < :count - 1),
                     {gpus}
                INSERT OR REPLACE INTO gpu_rollups_10m (node_id, bucket, gpu, job, samples,
                                                         {columns})
                SELECT nodes.id, :start + k.i * 600, g.j,
                       1 + (nodes.id * 8 + g.j + k.i / 24) % 4096, 120,
                       {_rollup_values("nodes.id", "k.i")}
                FROM nodes, k, g ORDER BY nodes.id, k.i, g.j
                """,
                {"count": 6 * 24 * 6, "start": end - 7 * DAY},
            )
            await db.execute(
                "INSERT OR REPLACE INTO store_meta (key, value) VALUES "
                "('minute_pruned_until', :cut), ('rolled_10m_until', :cut)",
                {"cut": end - DAY},
            )
    await _fill(store, nodes=nodes, end=float(end), span_s=3600 - STEP_S)
    async with store.transaction() as db:
        await db.execute(
            "INSERT OR REPLACE INTO store_meta (key, value) VALUES "
            "('raw_pruned_until', :cut), ('rolled_until', :end)",
            {"cut": end - 3600, "end": end},
        )
        if not tiered:  # the single-tier layout had no 10-minute rows at all
            await db.execute("DELETE FROM store_meta WHERE key = 'rolled_10m_until'")


async def _week_figures(path: Path, *, tiered: bool) -> tuple[float, float]:
    """(MB per node-day, median ms of a 7-day 8-GPU sparkline query) for one layout."""
    end = int(T0) + 7 * DAY
    store = await Store.open(path)
    try:
        await _fill_week(store, SIZE_NODES, end, tiered=tiered)
        timings = []
        for _ in range(15):
            started = time.perf_counter()
            series = await store.gpu_history("gpu-0005", "utilization_pct", end - 7 * DAY, end, 120)
            timings.append((time.perf_counter() - started) * 1000)
        assert sorted(series) == list(range(GPUS_PER_NODE))
        assert all(len(points) >= 100 for points in series.values())
        await store.db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
        ((pages,),) = await store.db.execute_fetchall("PRAGMA page_count")
        ((free,),) = await store.db.execute_fetchall("PRAGMA freelist_count")
        ((page_size,),) = await store.db.execute_fetchall("PRAGMA page_size")
    finally:
        await store.close()
    mb_per_node_day = (pages - free) * page_size / 1e6 / (SIZE_NODES * 7)
    return mb_per_node_day, statistics.median(timings)


async def test_bench_store_week_size_and_query(tmp_path: Path) -> None:
    tiered_mb, tiered_ms = await _week_figures(tmp_path / "tiered.db", tiered=True)
    flat_mb, flat_ms = await _week_figures(tmp_path / "flat.db", tiered=False)
    bench("store_mb_per_node_day", tiered_mb, "MB", at_most=MB_PER_NODE_DAY_TARGET)
    bench("store_mb_per_node_day_one_minute_week", flat_mb, "MB")
    ratio("store_mb_per_node_day", tiered_mb, flat_mb, "one_minute_week")
    # Prometheus' TSDB keeps ~1-2 bytes per sample: 8 GPUs x 7 metrics every 15 s.
    prometheus_mb = 8 * len(ROLLUP_METRICS) * (DAY / 15) * 1.5 / 1e6
    bench("store_mb_per_node_day_prometheus_reference", prometheus_mb, "MB")
    bench("store_query_7d_8gpu_ms", tiered_ms, "ms", at_most=QUERY_7D_TARGET_MS, digits=2)
    bench("store_query_7d_8gpu_one_minute_week_ms", flat_ms, "ms", digits=2)
    ratio("store_query_7d_8gpu", tiered_ms, flat_ms, "one_minute_week")
