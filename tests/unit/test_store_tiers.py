"""The history store's tiers (raw, 1 minute for a day, 10 minutes for the week), job
attribution, and the upgrade of a version-1 database without losing its history."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import MappingProxyType

from tui.model import ClusterSnapshot, Gpu, Job, JobState
from tui.store import PruneResult, Store
from tui.store_schema import MIGRATIONS, SAMPLE_METRICS

T0 = 1_800_000_000.0  # a 10-minute boundary
NODE = "gpu-01"
DAY = 86400.0


def snapshot(ts: float, util: float, job: str | None = None) -> ClusterSnapshot:
    jobs = ()
    if job is not None:
        jobs = (
            Job(
                job_id=job,
                user="alice",
                account="ml",
                state=JobState.RUNNING,
                nodes=(NODE,),
                gpu_indices=MappingProxyType({NODE: (0,)}),
                gpus_per_node=1,
            ),
        )
    return ClusterSnapshot(
        taken_at=ts,
        gpus=(Gpu(NODE, 0, utilization_pct=util, memory_used_mib=1.0, memory_total_mib=2.0),),
        jobs=jobs,
    )


def version_1_database(path: Path) -> None:
    """A database as clusterdash wrote it before the tiers: raw samples and 1-minute rows."""
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    db.execute("INSERT INTO nodes (id, name) VALUES (1, ?)", (NODE,))
    metrics = ", ".join(SAMPLE_METRICS)
    for minute in range(30):  # half an hour of 1-minute rows: utilization = the minute
        ts = T0 + 60 * minute
        db.execute(
            "INSERT INTO gpu_rollups_1m (node_id, minute, gpu, samples, utilization_pct_min,"
            " utilization_pct_avg, utilization_pct_max) VALUES (1, ?, 0, 12, ?, ?, ?)",
            (int(ts), minute, minute, minute),
        )
    db.execute(
        f"INSERT INTO gpu_samples (node_id, ts, gpu, {metrics}) VALUES (1, ?, 0, 7, 1, 2, 3, 4, 5)",
        (T0 + 1800,),
    )
    db.executemany(
        "INSERT INTO store_meta (key, value) VALUES (?, ?)",
        [("rolled_until", T0 + 1800), ("raw_pruned_until", T0 + 1800)],
    )
    db.commit()
    db.close()


async def test_a_version_1_database_is_upgraded_without_losing_history(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    version_1_database(path)
    store = await Store.open(path)
    try:
        (version,) = (await store.db.execute_fetchall("PRAGMA user_version"))[0]
        assert version == len(MIGRATIONS)
        minutes = await store.gpu_history(NODE, "utilization_pct", T0, T0 + 1799, 30)
        assert [v for _, v in minutes[0]] == [float(m) for m in range(30)]
        samples = await store.gpu_samples(NODE, T0 + 1800, T0 + 1800)
        assert [s.utilization_pct for s in samples] == [7.0]
        # The old minutes are in the 10-minute tier too, weighted by their samples.
        tens = await store.db.execute_fetchall(
            "SELECT bucket, samples, utilization_pct_avg FROM gpu_rollups_10m ORDER BY bucket"
        )
        assert [tuple(row) for row in tens] == [
            (T0, 120, 4.5),
            (T0 + 600, 120, 14.5),
            (T0 + 1200, 120, 24.5),
        ]
    finally:
        await store.close()


async def test_a_week_is_served_by_ten_minute_rows_past_the_first_day(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "history.db")
    try:
        # Two days of one sample a minute; utilization is the hour of the day's number.
        for k in range(2 * 24 * 60):
            ts = T0 + 60 * k
            await store.write_snapshot(snapshot(ts, float(k // 60 % 24)))
        now = T0 + 2 * DAY
        result = await store.prune(now)
        assert result.rollups_deleted > 0  # 1-minute rows older than a day went
        (oldest,) = (await store.db.execute_fetchall("SELECT MIN(minute) FROM gpu_rollups_1m"))[0]
        assert oldest >= now - DAY - 600
        hours = await store.gpu_history(NODE, "utilization_pct", T0, T0 + 2 * DAY, 48)
        assert [round(v, 6) for _, v in hours[0]] == [float(h % 24) for h in range(48)]
    finally:
        await store.close()


async def test_every_sample_and_rollup_names_the_job_holding_the_gpu(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "history.db")
    try:
        for k in range(12 * 11):  # 11 minutes: job 42 for five, then idle, then job 43
            minute = k // 12
            job = "42" if minute < 5 else (None if minute < 8 else "43")
            await store.write_snapshot(snapshot(T0 + 5 * k, 50.0, job))
        await store.write_snapshot(snapshot(T0 + 660, 50.0, "43"))
        rows = await store.db.execute_fetchall(
            "SELECT r.minute, j.job_id, j.user, j.account FROM gpu_rollups_1m AS r "
            "LEFT JOIN jobs AS j ON j.id = r.job ORDER BY r.minute"
        )
        held = [(int(m - T0) // 60, job) for m, job, _, _ in rows]
        assert held == [(m, "42" if m < 5 else (None if m < 8 else "43")) for m in range(11)]
        assert {(user, account) for _, job, user, account in rows if job} == {("alice", "ml")}
        (ten,) = await store.db.execute_fetchall(
            "SELECT j.job_id FROM gpu_rollups_10m AS r JOIN jobs AS j ON j.id = r.job"
        )
        assert ten[0] == "43"  # the job holding the GPU at the end of those 10 minutes
    finally:
        await store.close()


async def test_pruning_a_new_or_young_store_at_the_defaults_deletes_nothing(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "history.db")
    try:
        assert await store.prune(T0) == PruneResult(0, 0, 0)
        for k in range(30):  # two and a half minutes: nothing has reached a 10-minute bucket
            await store.write_snapshot(snapshot(T0 + 5 * k, 1.0))
        assert await store.prune(T0 + 150) == PruneResult(0, 0, 0)
        assert len(await store.gpu_samples(NODE, T0, T0 + 150)) == 30
    finally:
        await store.close()


async def test_a_week_sparkline_reads_a_database_that_names_its_cluster(tmp_path: Path) -> None:
    from tui.store_identity import claim_cluster

    store = await Store.open(tmp_path / "history.db")
    try:
        await claim_cluster(store, "prod-a")
        for k in range(30):
            await store.write_snapshot(snapshot(T0 + 60 * k, 40.0))
        week = await store.gpu_history(NODE, "utilization_pct", T0 + 1800 - 7 * DAY, T0 + 1800, 4)
        assert [v for _, v in week[0]] == [40.0]
    finally:
        await store.close()
