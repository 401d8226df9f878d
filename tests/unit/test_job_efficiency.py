"""The jobs screen's efficiency tracker: after the first read, only newly closed minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_job_usage import HOUR, T0, job, snapshot
from tui.job_efficiency import JobEfficiencyTracker
from tui.job_usage import usage_by_job
from tui.store import Store


async def write(store: Store, start: float, end: float, util: float) -> None:
    held = (job(),)
    ts = start
    while ts < end:
        await store.write_snapshot(snapshot(ts, util, held))
        ts += 30


async def test_updates_match_a_fresh_read_and_the_last_ten_minutes_move(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "history.db")
    try:
        tracker = JobEfficiencyTracker(store)
        await write(store, T0, T0 + 2 * HOUR, 50.0)
        first = (await tracker.efficiency([job()]))["7"]
        assert first.life.mean_utilization_pct == pytest.approx(50.0)
        # The minute of the last sample is still open: figures cover closed minutes.
        assert first.life.gpu_hours == pytest.approx(8 * (2 - 1 / 60))
        assert first.recent is not None and first.recent.mean_utilization_pct == 50.0

        await write(store, T0 + 2 * HOUR, T0 + 3 * HOUR, 0.0)
        second = (await tracker.efficiency([job()]))["7"]
        (fresh,) = await usage_by_job(store, T0, T0 + 3 * HOUR - 60)
        assert second.life == fresh
        assert second.life.idle_gpu_hours == pytest.approx(8 * (1 - 1 / 60))
        assert second.recent is not None
        assert second.recent.mean_utilization_pct == pytest.approx(0.0, abs=1e-9)
        assert second.recent.gpu_hours == pytest.approx(8 * 10 / 60)

        assert await tracker.efficiency([]) == {}  # the job ended
    finally:
        await store.close()


async def test_a_job_starting_after_the_first_read_is_picked_up(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "history.db")
    try:
        tracker = JobEfficiencyTracker(store)
        assert await tracker.efficiency([]) == {}
        await write(store, T0, T0 + 600, 80.0)
        await store.write_snapshot(snapshot(T0 + 600, 80.0, ()))
        efficiency = await tracker.efficiency([job()])
        assert efficiency["7"].life.gpu_hours == pytest.approx(8 * 10 / 60)
        assert efficiency["7"].life.mean_utilization_pct == pytest.approx(80.0)
    finally:
        await store.close()


async def test_the_last_ten_minutes_after_a_long_gap_with_minutes_the_job_held_nothing(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "history.db")
    try:
        tracker = JobEfficiencyTracker(store)
        await write(store, T0, T0 + 1200, 90.0)  # 20 minutes at 90 %
        await tracker.efficiency([job()])
        # 15 minutes pass between refreshes: 8 at 30 %, 4 with the job off its GPUs, 3 at 0 %.
        await write(store, T0 + 1200, T0 + 1680, 30.0)
        for k in range(8):
            await store.write_snapshot(snapshot(T0 + 1680 + 30 * k, 50.0, ()))
        await write(store, T0 + 1920, T0 + 2101, 0.0)
        efficiency = (await tracker.efficiency([job()]))["7"]
        rolled = T0 + 2100  # the minute of the last sample is still open
        (life,) = await usage_by_job(store, T0, rolled)
        (recent,) = await usage_by_job(store, rolled - 600, rolled)
        assert efficiency.life == life
        assert efficiency.recent is not None
        # 3 minutes at 30 %, 4 minutes off, 3 minutes idle: 6 GPU-minutes held per GPU.
        assert efficiency.recent.gpu_hours == pytest.approx(8 * 6 / 60) == recent.gpu_hours
        assert efficiency.recent.mean_utilization_pct == pytest.approx(15.0)
        assert efficiency.recent.idle_gpu_hours == pytest.approx(recent.idle_gpu_hours)
    finally:
        await store.close()
