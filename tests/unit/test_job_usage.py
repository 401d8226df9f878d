"""Per-job GPU usage read from the history store, identical whichever tier holds the history."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import MappingProxyType

import pytest

from tui.job_usage import (
    group_usage,
    most_wasteful,
    running_job_efficiency,
    usage_by_job,
)
from tui.model import ClusterSnapshot, Gpu, Job, JobState
from tui.store import Store

T0 = 1_800_000_000.0  # a 10-minute boundary
HOUR = 3600.0
DAY = 86400.0
NODE = "gpu-01"
PRICE = 1.89


def job(job_id: str = "7", start: float | None = T0, gpus: int = 8) -> Job:
    return Job(
        job_id=job_id,
        user="alice",
        account="ml",
        state=JobState.RUNNING,
        nodes=(NODE,),
        gpu_indices=MappingProxyType({NODE: tuple(range(gpus))}),
        gpus_per_node=gpus,
        start_time=start,
    )


def snapshot(ts: float, util: float | None, jobs: tuple[Job, ...]) -> ClusterSnapshot:
    gpus = tuple(
        Gpu(NODE, i, utilization_pct=util, memory_used_mib=1000.0, memory_total_mib=4000.0)
        for i in range(8)
    )
    return ClusterSnapshot(taken_at=ts, gpus=gpus, jobs=jobs)


async def write_three_hour_job(store: Store) -> None:
    """8 GPUs held 2 h at 50 % then 1 h at 0 %, a sample every 30 s; the last minute stays raw."""
    held = (job(),)
    for k in range(int(3 * HOUR / 30)):
        ts = T0 + 30 * k
        await store.write_snapshot(snapshot(ts, 50.0 if ts < T0 + 2 * HOUR else 0.0, held))


def mark_three_hours_rolled_up(db: sqlite3.Connection) -> None:
    """A hand-built database's store_meta: T0 to T0 + 3 h rolled up into both tiers, the raw
    rows of those hours pruned, the 1-minute rows of the first hour pruned."""
    db.executemany(
        "INSERT INTO store_meta (key, value) VALUES (?, ?)",
        [
            ("rolled_until", T0 + 3 * HOUR),
            ("rolled_10m_until", T0 + 3 * HOUR),
            ("minute_pruned_until", T0 + HOUR),
            ("raw_pruned_until", T0 + 3 * HOUR),
        ],
    )


def assert_known_answers(usages: list) -> None:
    (usage,) = usages
    assert (usage.job_id, usage.user, usage.account) == ("7", "alice", "ml")
    assert usage.gpu_hours == pytest.approx(24.0)
    assert usage.mean_utilization_pct == pytest.approx(100 / 3)
    assert usage.idle_gpu_hours == pytest.approx(8.0)
    assert usage.cost(PRICE) == pytest.approx(24 * PRICE)
    assert usage.wasted_cost(PRICE) == pytest.approx(8 * PRICE)
    assert usage.mean_memory_pct == pytest.approx(25.0)


async def test_known_answers_hold_in_raw_then_each_rollup_tier(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "history.db")
    try:
        await write_three_hour_job(store)
        window = (T0, T0 + 3 * HOUR)
        # Fresh: 1-minute rows, and the last minute still only as raw samples.
        assert_known_answers(await usage_by_job(store, *window))
        # A day later: the first hour only in the 10-minute tier, the rest in 1-minute rows.
        await store.prune(T0 + DAY + HOUR)
        (oldest,) = (await store.db.execute_fetchall("SELECT MIN(minute) FROM gpu_rollups_1m"))[0]
        assert oldest == T0 + HOUR
        assert_known_answers(await usage_by_job(store, *window))
        # Days later: 10-minute rows up to the last closed 10 minutes, then 1-minute, then raw.
        await store.prune(T0 + 3 * DAY)
        (oldest,) = (await store.db.execute_fetchall("SELECT MIN(minute) FROM gpu_rollups_1m"))[0]
        assert oldest == T0 + 3 * HOUR - 600
        assert_known_answers(await usage_by_job(store, *window))
    finally:
        await store.close()


async def test_a_window_counts_only_the_part_of_the_job_inside_it(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "history.db")
    try:
        await write_three_hour_job(store)
        await store.prune(T0 + 3 * DAY)  # 10-minute rows: the window cuts through buckets
        (usage,) = await usage_by_job(store, T0 + 2 * HOUR - 300, T0 + 3 * HOUR)
        assert usage.gpu_hours == pytest.approx(8 * (1 + 5 / 60))
        assert usage.idle_gpu_hours == pytest.approx(8.0)
        assert await usage_by_job(store, T0 + 4 * HOUR, T0 + 5 * HOUR) == []
    finally:
        await store.close()


async def test_unknown_utilization_is_allocated_time_but_never_idle(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "history.db")
    try:
        for k in range(13):  # one minute of GPUs that report no utilization
            await store.write_snapshot(snapshot(T0 + 5 * k, None, (job(),)))
        (usage,) = await usage_by_job(store, T0, T0 + 60)
        assert usage.gpu_hours == pytest.approx(8 / 60)
        assert usage.mean_utilization_pct is None
        assert usage.idle_gpu_hours == 0.0
    finally:
        await store.close()


async def test_running_jobs_get_life_and_last_ten_minutes(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "history.db")
    try:
        await write_three_hour_job(store)
        now = T0 + 3 * HOUR
        gone = Job(job_id="8", state=JobState.COMPLETED)
        efficiency = await running_job_efficiency(store, (job(), gone), now)
        assert set(efficiency) == {"7"}
        life, recent = efficiency["7"].life, efficiency["7"].recent
        assert life.mean_utilization_pct == pytest.approx(100 / 3)
        assert recent is not None
        assert recent.mean_utilization_pct == 0.0
        assert recent.gpu_hours == pytest.approx(8 * 10 / 60)
        assert recent.idle_gpu_hours == pytest.approx(8 * 10 / 60)
    finally:
        await store.close()


async def test_users_accounts_and_the_most_wasteful_jobs(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "history.db")
    try:
        busy = Job(
            job_id="9",
            user="bob",
            account="ml",
            state=JobState.RUNNING,
            nodes=("gpu-02",),
            gpu_indices=MappingProxyType({"gpu-02": (0,)}),
        )
        for k in range(25):  # two minutes: job 7 idle on 8 GPUs, job 9 busy on one
            gpus = (*snapshot(T0 + 5 * k, 0.0, ()).gpus, Gpu("gpu-02", 0, utilization_pct=90.0))
            await store.write_snapshot(
                ClusterSnapshot(taken_at=T0 + 5 * k, gpus=gpus, jobs=(job(), busy))
            )
        usages = await usage_by_job(store, T0, T0 + 120)
        assert [u.job_id for u in most_wasteful(usages)] == ["7"]
        users = group_usage(usages, "user")
        assert [(g.name, g.jobs) for g in users] == [("alice", 1), ("bob", 1)]
        assert users[1].mean_utilization_pct == pytest.approx(90.0)
        (account,) = group_usage(usages, "account")
        assert account.gpu_hours == pytest.approx(9 * 2 / 60)
        assert account.mean_utilization_pct == pytest.approx(10.0)
    finally:
        await store.close()
