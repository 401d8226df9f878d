"""The per-job usage table (job_usage_10m): what the rollups put in it, that reports read it
with the tiers around it, and the upgrade of a version-3 database that fills it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.unit.test_job_usage import (
    DAY,
    HOUR,
    T0,
    assert_known_answers,
    job,
    mark_three_hours_rolled_up,
    snapshot,
    write_three_hour_job,
)
from tui.job_efficiency import JobEfficiencyTracker
from tui.job_usage import usage_by_job
from tui.store import Store
from tui.store_schema import JOB_USAGE_SUMS, MIGRATIONS

NODE = "gpu-01"


async def table_rows(store: Store) -> list[tuple[float, ...]]:
    rows = await store.db.execute_fetchall(
        f"SELECT bucket, {', '.join(JOB_USAGE_SUMS)} FROM job_usage_10m ORDER BY bucket"
    )
    return [tuple(row) for row in rows]


async def test_each_job_keeps_running_totals_per_closed_ten_minutes(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "history.db")
    try:
        await write_three_hour_job(store)
        rows = await table_rows(store)
        # The last 10 minutes are still open: 17 closed ones, 8 GPUs x 10 minutes each; the
        # first 12 at 50 %, then 5 idle.
        assert [row[0] for row in rows] == [T0 + 600 * k for k in range(17)]
        assert rows[0][1:5] == (80.0, 80.0, 80 * 50.0, 0.0)
        assert rows[-1][1:5] == (17 * 80.0, 17 * 80.0, 12 * 80 * 50.0, 5 * 80.0)
        assert rows[-1][8] == pytest.approx(17 * 80 * 25.0)  # memory percent, weighted
        spans = await store.db.execute_fetchall("SELECT first_bucket, last_bucket FROM jobs")
        assert [tuple(span) for span in spans] == [(T0, T0 + 16 * 600)]
    finally:
        await store.close()


async def test_windows_cutting_through_ten_minutes_add_the_tiers_around_the_table(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "history.db")
    try:
        await write_three_hour_job(store)
        await store.prune(T0 + DAY + HOUR)  # the first hour only in the 10-minute tier
        (usage,) = await usage_by_job(store, T0 + 2 * HOUR - 330, T0 + 3 * HOUR - 45)
        # 2 h - 330 s .. 2 h at 50 %, then 3 h - 45 s - 2 h idle, on 8 GPUs.
        assert usage.gpu_hours == pytest.approx(8 * (330 + 3600 - 45) / 3600)
        assert usage.idle_gpu_hours == pytest.approx(8 * (3600 - 45) / 3600)
        assert usage.mean_utilization_pct == pytest.approx(50 * 330 / (330 + 3600 - 45))
        (short,) = await usage_by_job(store, T0 + 30 * 60 - 90, T0 + 50 * 60 + 20)
        assert short.gpu_hours == pytest.approx(8 * (20 * 60 + 110) / 3600)
        assert short.idle_gpu_hours == 0.0
    finally:
        await store.close()


async def test_a_job_keeps_its_totals_until_its_last_ten_minutes_leave_the_retention(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "history.db")
    try:
        await write_three_hour_job(store)
        last = T0 + 16 * 600
        await store.prune(last + 7 * DAY)  # the retention still holds the last 10 minutes
        assert len(await table_rows(store)) == 17
        (usage,) = await usage_by_job(store, last, last + 600)
        assert usage.gpu_hours == pytest.approx(8 * 10 / 60)
        assert usage.idle_gpu_hours == pytest.approx(8 * 10 / 60)
        await store.prune(last + 7 * DAY + 600)
        assert await table_rows(store) == []
        # Only the last 10 minutes, never rolled up, are still in the tiers.
        (left,) = await usage_by_job(store, T0, T0 + 3 * HOUR)
        assert left.gpu_hours == pytest.approx(8 * 10 / 60)
    finally:
        await store.close()


def version_3_database(path: Path) -> None:
    """Job 7 on 8 GPUs as version 3 kept it a day later: 2 h at 50 % then 1 h at 0 %, the
    first hour in 10-minute rows only, the next two in 1-minute rows."""
    db = sqlite3.connect(path)
    for version, script in enumerate(MIGRATIONS[:3], start=1):
        db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
    db.execute("INSERT INTO nodes (id, name) VALUES (1, ?)", (NODE,))
    db.execute("INSERT INTO jobs (id, job_id, user, account) VALUES (1, '7', 'alice', 'ml')")
    columns = "utilization_pct_avg, memory_used_mib_avg, memory_pct_avg"
    for k in range(18):  # every rolled-up 10 minutes, the first hour's 1-minute rows gone
        db.executemany(
            f"INSERT INTO gpu_rollups_10m (node_id, bucket, gpu, job, samples, {columns}) "
            "VALUES (1, ?, ?, 1, 20, ?, 1000.0, 25.0)",
            [(int(T0) + 600 * k, gpu, 50.0 if k < 12 else 0.0) for gpu in range(8)],
        )
    for k in range(120):
        util = 50.0 if k < 60 else 0.0
        db.executemany(
            f"INSERT INTO gpu_rollups_1m (node_id, minute, gpu, job, samples, {columns}) "
            "VALUES (1, ?, ?, 1, 2, ?, 1000.0, 25.0)",
            [(int(T0 + HOUR) + 60 * k, gpu, util) for gpu in range(8)],
        )
    mark_three_hours_rolled_up(db)
    db.commit()
    db.close()


async def test_a_version_3_database_is_upgraded_and_its_history_fills_the_table(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.db"
    version_3_database(path)
    store = await Store.open(path)
    try:
        (version,) = (await store.db.execute_fetchall("PRAGMA user_version"))[0]
        assert version == len(MIGRATIONS) and version >= 4
        rows = await table_rows(store)
        assert [row[0] for row in rows] == [T0 + 600 * k for k in range(18)]
        assert_known_answers(await usage_by_job(store, T0, T0 + 3 * HOUR))
        (tens,) = (await store.db.execute_fetchall("SELECT count(*) FROM gpu_rollups_10m"))[0]
        (minutes,) = (await store.db.execute_fetchall("SELECT count(*) FROM gpu_rollups_1m"))[0]
        assert (tens, minutes) == (18 * 8, 120 * 8)
        job_minutes = await store.db.execute_fetchall(
            "SELECT minute, gpu_minutes, idle_minutes FROM job_minutes ORDER BY minute"
        )
        assert [tuple(row) for row in job_minutes] == [
            (T0 + 3 * HOUR - 60 * k, 8.0, 8.0) for k in range(30, 0, -1)
        ]
        series = await store.gpu_history(NODE, "utilization_pct", T0, T0 + 3 * HOUR, 3)
        assert [round(v, 6) for _, v in series[0]] == [50.0, 50.0, 0.0]
    finally:
        await store.close()


async def test_the_jobs_screen_adds_closed_minutes_from_the_per_minute_sums(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "history.db")
    try:
        tracker = JobEfficiencyTracker(store)
        for k in range(40):  # 20 minutes at 60 %
            await store.write_snapshot(snapshot(T0 + 30 * k, 60.0, (job(),)))
        await tracker.efficiency([job()])
        for k in range(40, 50):  # then 5 minutes idle
            await store.write_snapshot(snapshot(T0 + 30 * k, 0.0, (job(),)))
        efficiency = (await tracker.efficiency([job()]))["7"]
        (fresh,) = await usage_by_job(store, T0, T0 + 24 * 60)
        assert efficiency.life == fresh
        assert efficiency.life.gpu_hours == pytest.approx(8 * 24 / 60)
        assert efficiency.life.idle_gpu_hours == pytest.approx(8 * 4 / 60)
        recent = efficiency.recent
        assert recent is not None and recent.gpu_hours == pytest.approx(8 * 10 / 60)
        assert recent.mean_utilization_pct == pytest.approx(60.0 * 6 / 10)
    finally:
        await store.close()
