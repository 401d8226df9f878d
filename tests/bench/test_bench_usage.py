"""Benchmarks of per-job GPU usage from the history store at the real shape (1,024 nodes x 8
GPUs): the jobs screen's efficiency of 5,000 running jobs, and the 7-day report over a week
at the default tiers (10-minute rows, then a day of 1-minute rows, then the open minute)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from types import MappingProxyType

import aiosqlite
import pytest

from tests.bench.report import bench
from tui.job_efficiency import JobEfficiencyTracker
from tui.job_usage import running_job_efficiency
from tui.model import Job, JobState
from tui.store import Store
from tui.store_schema import (
    JOB_MINUTES_KEPT_S,
    JOB_MINUTES_ROLL_UP,
    JOB_SPANS_BACKFILL,
    JOB_USAGE_BACKFILL,
)
from tui.usage_report import build_report

pytestmark = pytest.mark.bench

NODES = 1024
GPUS_PER_NODE = 8
GPUS = NODES * GPUS_PER_NODE
RUNNING_JOBS = 5000
EFFICIENCY_TARGET_MS = 100.0
REPORT_TARGET_S = 5.0
DAY = 86400
WEEK = 7 * DAY
T0 = 1_800_000_000.0  # a 10-minute boundary
NOW = T0 + WEEK
PRICE = 1.89
# The week's jobs: each holds 2 GPUs for 6 hours, then the next one takes them.
JOB_SPAN_S = 6 * 3600
JOBS_PER_SPAN = GPUS // 2

_GPU_KEYS = f"""
    g(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM g WHERE j < {GPUS_PER_NODE - 1}),
    n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n WHERE id < {NODES})
"""


async def _nodes_and_jobs(store: Store, jobs: int) -> None:
    async with store.transaction() as db:
        await db.execute(
            f"""WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n WHERE id < {NODES})
            INSERT INTO nodes (id, name) SELECT id, printf('gpu-%04d', id) FROM n"""
        )
        await db.execute(
            f"""WITH RECURSIVE k(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM k WHERE id < {jobs})
            INSERT INTO jobs (id, job_id, user, account)
            SELECT id, CAST(100000 + id AS TEXT), printf('user%03d', id % 200),
                   printf('acct%02d', id % 20) FROM k"""
        )


def _rows_sql(table: str, time_column: str, step: int, start: float, end: float, job: str) -> str:
    """Rollup rows for every GPU every `step` s in [start, end); utilization 0 for 1 job in 7."""
    return f"""
        WITH RECURSIVE {_GPU_KEYS},
            t(ts) AS (SELECT {int(start)} UNION ALL SELECT ts + {step} FROM t
                      WHERE ts + {step} < {int(end)})
        INSERT INTO {table} (node_id, {time_column}, gpu, job, samples, utilization_pct_avg,
                             memory_used_mib_avg, memory_pct_avg)
        SELECT n.id, t.ts, g.j, {job} AS job, 12,
               CASE WHEN ({job}) % 7 = 0 THEN 0.0 ELSE 20 + (t.ts / 60 + g.j) % 80 END,
               40000.0, 48.8
        FROM n, t, g ORDER BY n.id, t.ts, g.j
    """


def _week_job(time_expr: str) -> str:
    return (
        f"((n.id - 1) * {GPUS_PER_NODE} + g.j) / 2 + 1 "
        f"+ {JOBS_PER_SPAN} * ((({time_expr}) - {int(T0)}) / {JOB_SPAN_S})"
    )


async def _fill_tiers(
    store: Store, start: float, minute_tier_from: float, now: float, job: str
) -> None:
    """History as the store keeps it at `now`: 10-minute rows, 1-minute rows, the open minute,
    and each job's running totals per closed 10 minutes (as an upgraded database fills them)."""
    open_minute = now - now % 60
    rolled_10m = open_minute - open_minute % 600
    async with store.transaction() as db:
        await db.execute(_rows_sql("gpu_rollups_10m", "bucket", 600, start, minute_tier_from, job))
        await db.execute(
            _rows_sql("gpu_rollups_1m", "minute", 60, minute_tier_from, open_minute, job)
        )
        await db.execute(
            f"""WITH RECURSIVE {_GPU_KEYS},
                t(ts) AS (SELECT {open_minute} UNION ALL SELECT ts + 5 FROM t
                          WHERE ts + 5 < {now})
            INSERT INTO gpu_samples (node_id, ts, gpu, job, utilization_pct, memory_used_mib,
                                     memory_total_mib)
            SELECT n.id, t.ts, g.j, {job.replace("t.ts", "CAST(t.ts AS INTEGER)")}, 50.0,
                   40000.0, 81920.0 FROM n, t, g ORDER BY n.id, t.ts, g.j"""
        )
        await db.executemany(
            "INSERT OR REPLACE INTO store_meta (key, value) VALUES (?, ?)",
            [
                ("rolled_until", open_minute),
                ("rolled_10m_until", rolled_10m),
                ("minute_pruned_until", minute_tier_from),
                ("raw_pruned_until", open_minute - 3600),
            ],
        )
        await db.execute(JOB_USAGE_BACKFILL)
        await db.execute(JOB_SPANS_BACKFILL)
        await _job_minutes(db, max(minute_tier_from, open_minute - JOB_MINUTES_KEPT_S), open_minute)


async def _job_minutes(db: aiosqlite.Connection, start: float, end: float) -> None:
    """Each job's sums per minute in [start, end), as the store's 1-minute rollup keeps them."""
    for statement in JOB_MINUTES_ROLL_UP:
        await db.execute(statement, {"start": start, "end": end})


def _running_jobs(count: int, started: float) -> list[Job]:
    return [
        Job(
            job_id=str(100000 + k),
            state=JobState.RUNNING,
            start_time=started,
            gpu_indices=MappingProxyType({}),
        )
        for k in range(1, count + 1)
    ]


async def _close_minute(store: Store, minute: float, job: str) -> None:
    """What the collector's rollup adds each minute: one 1-minute row per GPU, and each job's
    sums over them."""
    async with store.transaction() as db:
        await db.execute(_rows_sql("gpu_rollups_1m", "minute", 60, minute, minute + 60, job))
        await _job_minutes(db, minute, minute + 60)
        await db.execute(
            "UPDATE store_meta SET value = ? WHERE key = 'rolled_until'", (minute + 60,)
        )


async def test_bench_jobs_efficiency_5000_jobs(tmp_path: Path) -> None:
    """5,000 running jobs on 8,192 GPUs, started an hour ago: life and last-10-minute means as
    the jobs screen refreshes (each minute closed since the last refresh read once); the first
    read of every life is reported apart."""
    store = await Store.open(tmp_path / "history.db")
    try:
        await _nodes_and_jobs(store, RUNNING_JOBS)
        now = T0 + 3600 + 30
        job = f"((n.id - 1) * {GPUS_PER_NODE} + g.j) % {RUNNING_JOBS} + 1"
        await _fill_tiers(store, T0, T0, now, job)
        jobs = _running_jobs(RUNNING_JOBS, T0)
        tracker = JobEfficiencyTracker(store)
        began = time.perf_counter()
        efficiency = await tracker.efficiency(jobs)
        cold = time.perf_counter() - began
        assert len(efficiency) == RUNNING_JOBS
        timings = []
        minute = now - now % 60
        for _ in range(5):
            await _close_minute(store, minute, job)
            minute += 60
            began = time.perf_counter()
            efficiency = await tracker.efficiency(jobs)
            timings.append(time.perf_counter() - began)
        assert len(efficiency) == RUNNING_JOBS
        bench(
            "jobs_efficiency_5000_jobs_ms",
            statistics.median(timings) * 1000,
            "ms",
            at_most=EFFICIENCY_TARGET_MS,
            digits=1,
        )
        bench("jobs_efficiency_5000_jobs_first_read_ms", cold * 1000, "ms", digits=1)
    finally:
        await store.close()


async def test_bench_report_7d_1024_nodes(tmp_path: Path) -> None:
    """A week of 1,024 x 8 GPUs at the default tiers; about 20 million rows to write first."""
    store = await Store.open(tmp_path / "history.db")
    try:
        weeks_jobs = JOBS_PER_SPAN * (WEEK // JOB_SPAN_S + 1)
        await _nodes_and_jobs(store, weeks_jobs)
        began = time.perf_counter()
        await _fill_tiers(store, T0, NOW - DAY, NOW, _week_job("t.ts"))
        print(f"\nfilled a week of history in {time.perf_counter() - began:.0f} s", flush=True)
        began = time.perf_counter()
        report = await build_report(store, WEEK, PRICE, now=NOW)
        elapsed = time.perf_counter() - began
        bench("report_7d_1024_nodes_s", elapsed, "s", at_most=REPORT_TARGET_S, digits=2)
        assert len(report.jobs) > JOBS_PER_SPAN * 27
        assert report.top_wasting and report.users
        running = _running_jobs(JOBS_PER_SPAN, NOW - NOW % JOB_SPAN_S)
        began = time.perf_counter()
        await running_job_efficiency(store, running, NOW)
        bench(
            "jobs_efficiency_4096_jobs_6h_ms",
            (time.perf_counter() - began) * 1000,
            "ms",
            digits=1,
        )
    finally:
        await store.close()
