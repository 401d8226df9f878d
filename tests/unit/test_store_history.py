"""GPU samples in the history store: rollups, retention and range queries, on explicit times."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from tui.model import ClusterSnapshot, Gpu
from tui.store import Store

T0 = 1_800_000_000.0  # a minute boundary
NODE = "gpu-01"


def snapshot(ts: float, utils: Sequence[float | None], node: str = NODE) -> ClusterSnapshot:
    return ClusterSnapshot(
        taken_at=ts,
        gpus=tuple(
            Gpu(
                node=node,
                index=i,
                utilization_pct=util,
                memory_used_mib=None if util is None else 8192.0,
                memory_total_mib=81920.0,
                temperature_c=60.0,
            )
            for i, util in enumerate(utils)
        ),
    )


async def rollups(store: Store) -> list[tuple[float, int, int, float, float, float]]:
    rows = await store.db.execute_fetchall(
        "SELECT minute, gpu, samples, utilization_pct_min, utilization_pct_avg, "
        "utilization_pct_max FROM gpu_rollups_1m ORDER BY minute, gpu"
    )
    return [tuple(row) for row in rows]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "history.db", raw_retention_s=300, rollup_retention_s=900)
    yield opened
    await opened.close()


async def write_minute(store: Store, minute_start: float, first: int = 0, last: int = 11) -> None:
    """Samples every 5 s in one minute; GPU 0's utilization is the sample's number in it."""
    for k in range(first, last + 1):
        await store.write_snapshot(snapshot(minute_start + 5 * k, [float(k)]))


async def test_closed_minute_is_rolled_up_with_min_avg_max(store: Store) -> None:
    await write_minute(store, T0)
    assert await rollups(store) == []  # the minute is still open
    await store.write_snapshot(snapshot(T0 + 60, [99.0]))
    assert await rollups(store) == [(T0, 0, 12, 0.0, 5.5, 11.0)]


async def test_rollups_survive_restart_without_double_counting_or_gaps(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    store = await Store.open(path)
    await write_minute(store, T0)
    await write_minute(store, T0 + 60, last=5)
    await store.close()

    store = await Store.open(path)
    await write_minute(store, T0 + 60, first=6)
    await store.close()

    store = await Store.open(path)  # down for a while: the next write is minutes later
    await store.write_snapshot(snapshot(T0 + 300, [1.0]))
    try:
        assert await rollups(store) == [
            (T0, 0, 12, 0.0, 5.5, 11.0),
            (T0 + 60, 0, 12, 0.0, 5.5, 11.0),
        ]
    finally:
        await store.close()


async def test_late_sample_for_a_closed_minute_updates_its_rollup(store: Store) -> None:
    await write_minute(store, T0, last=10)
    await store.write_snapshot(snapshot(T0 + 60, [0.0]))
    await store.write_snapshot(snapshot(T0 + 55, [22.0]))
    # Rollup averages are kept to hundredths of their unit.
    assert await rollups(store) == [(T0, 0, 12, 0.0, round((55 + 22) / 12, 2), 22.0)]


async def test_unknown_values_stay_null_in_samples_and_rollups(store: Store) -> None:
    await store.write_snapshot(snapshot(T0, [None, 0.0]))
    await store.write_snapshot(snapshot(T0 + 60, [None, 0.0]))
    samples = await store.gpu_samples(NODE, T0, T0)
    assert [(s.gpu, s.utilization_pct, s.power_w) for s in samples] == [
        (0, None, None),
        (1, 0.0, None),
    ]
    assert await rollups(store) == [(T0, 0, 1, None, None, None), (T0, 1, 1, 0.0, 0.0, 0.0)]
    for metric in ("utilization_pct", "memory_pct"):
        history = await store.gpu_history(NODE, metric, T0, T0 + 60, 10)
        assert 0 not in history  # GPU 0 never reported: no points, not zeros
    assert await store.gpu_history(NODE, "power_w", T0, T0 + 60, 10) == {}


async def test_history_respects_max_points_and_averages_buckets(store: Store) -> None:
    for k in range(120):  # ten minutes, 5-s samples, utilization = sample number
        await store.write_snapshot(snapshot(T0 + 5 * k, [float(k), 50.0]))
    history = await store.gpu_history(NODE, "utilization_pct", T0, T0 + 600, 10)
    assert sorted(history) == [0, 1]
    assert len(history[0]) == 10
    assert history[0][0] == (T0 + 27.5, 5.5)  # first bucket: samples 0..11
    assert history[0][-1] == (T0 + 567.5, 113.5)
    assert [v for _, v in history[1]] == [50.0] * 10
    times = [t for t, _ in history[0]]
    assert times == sorted(times)
    for max_points in (1, 7, 500):
        series = await store.gpu_history(NODE, "utilization_pct", T0, T0 + 600, max_points)
        assert 0 < len(series[0]) <= min(max_points, 120)


async def test_sample_at_the_end_of_the_range_stays_within_max_points(store: Store) -> None:
    for k in range(13):  # 0..60 s, both ends included
        await store.write_snapshot(snapshot(T0 + 5 * k, [float(k)]))
    history = await store.gpu_history(NODE, "utilization_pct", T0, T0 + 60, 12)
    assert len(history[0]) == 12
    assert history[0][-1] == (T0 + 57.5, 11.5)  # the sample at `end` joins the last bucket


async def test_memory_pct_is_derived_from_used_and_total(store: Store) -> None:
    await store.write_snapshot(snapshot(T0, [10.0]))
    history = await store.gpu_history(NODE, "memory_pct", T0, T0 + 5, 5)
    assert history == {0: [(T0, 10.0)]}


async def test_history_uses_rollups_where_raw_samples_were_pruned(store: Store) -> None:
    for k in range(240):  # twenty minutes
        await store.write_snapshot(snapshot(T0 + 5 * k, [float(k // 12)]))
    end = T0 + 1200
    result = await store.prune(end)
    assert result.samples_deleted == 12 * 15  # raw kept 300 s: minutes 0..14 pruned
    start = end - 900  # rollups kept 900 s
    history = await store.gpu_history(NODE, "utilization_pct", start, end, 15)
    points = history[0]
    assert len(points) == 15
    assert points[0] == (start + 30, 5.0)  # minute 5 from its rollup
    assert [v for _, v in points] == [float(m) for m in range(5, 20)]
    assert points[-1] == (end - 32.5, 19.0)  # the open minute from raw samples


async def test_prune_deletes_only_expired_rows(store: Store) -> None:
    for k in range(12 * 20 + 1):  # 20 minutes + one sample into the next
        await store.write_snapshot(snapshot(T0 + 5 * k, [1.0]))
    now = T0 + 1200
    result = await store.prune(now)
    assert result.rollups_deleted == 5  # kept 900 s: minutes 0..4 ended by now - 900
    assert result.samples_deleted == 12 * 15  # kept 300 s
    remaining = await store.gpu_samples(NODE, 0, now)
    assert remaining[0].ts == now - 300
    assert [m for m, *_ in await rollups(store)] == [T0 + 60 * m for m in range(5, 20)]
    assert await store.prune(now) == type(result)(0, 0)


async def test_prune_keeps_raw_samples_not_yet_rolled_up(store: Store) -> None:
    await store.write_snapshot(snapshot(T0, [1.0]))
    result = await store.prune(T0 + 86400)
    assert result.samples_deleted == 0
    await store.write_snapshot(snapshot(T0 + 86400, [2.0]))
    assert await rollups(store) == [(T0, 0, 1, 1.0, 1.0, 1.0)]


async def test_history_of_unknown_node_is_empty_and_bad_metric_is_refused(store: Store) -> None:
    await store.write_snapshot(snapshot(T0, [1.0]))
    assert await store.gpu_history("gpu-99", "utilization_pct", T0, T0 + 60, 10) == {}
    with pytest.raises(ValueError, match="unknown metric 'sm_clock'"):
        await store.gpu_history(NODE, "sm_clock", T0, T0 + 60, 10)


async def test_samples_of_one_gpu_in_recent_minutes(store: Store) -> None:
    for k in range(24):
        await store.write_snapshot(snapshot(T0 + 5 * k, [float(k), 0.0]))
    now = T0 + 115
    recent = await store.gpu_samples(NODE, now - 60, now, gpu=0)
    assert [s.utilization_pct for s in recent] == [float(k) for k in range(11, 24)]
    assert {s.gpu for s in recent} == {0}


async def test_cluster_wide_summary_over_raw_and_rollups(store: Store) -> None:
    for k in range(12 * 10):
        ts = T0 + 5 * k
        await store.write_snapshot(snapshot(ts, [float(k % 12), None], node="gpu-01"))
        await store.write_snapshot(snapshot(ts, [80.0], node="gpu-02"))
    await store.prune(T0 + 600)  # minutes 0..4 now only in rollups
    summary = await store.gpu_summary("utilization_pct", T0, T0 + 600)
    assert [(s.node, s.gpu, s.min, s.avg, s.max, s.samples) for s in summary] == [
        ("gpu-01", 0, 0.0, 5.5, 11.0, 120),
        ("gpu-02", 0, 80.0, 80.0, 80.0, 120),
    ]


async def oldest_sample(store: Store) -> float:
    samples = await store.gpu_samples(NODE, 0, T0 + 86400)
    return samples[0].ts


async def wait_for_oldest_sample(store: Store, ts: float) -> None:
    for _ in range(500):
        if await oldest_sample(store) >= ts:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"samples before {ts} were never pruned")


async def test_maintenance_task_prunes_at_start_and_every_interval(store: Store) -> None:
    for k in range(12 * 20 + 1):
        await store.write_snapshot(snapshot(T0 + 5 * k, [1.0]))
    now = [T0 + 600]
    task = asyncio.create_task(store.run_maintenance(0.01, clock=lambda: now[0]))
    try:
        await wait_for_oldest_sample(store, T0 + 300)
        now[0] = T0 + 1200
        await wait_for_oldest_sample(store, T0 + 900)
        assert not task.done()
    finally:
        task.cancel()
    assert await oldest_sample(store) == T0 + 900
