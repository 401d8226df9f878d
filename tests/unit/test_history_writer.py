"""History under faults: each GPU reading stored once with the time it was taken; a store
that cannot be written is reported, its readings kept in memory and written on recovery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from tests.unit.exposition_server import Reply, serve
from tui.collector import SOURCE_DEADLINE_GRACE_S, Collector, CollectorOptions
from tui.history_writer import STORE_SOURCE, HistoryWriter
from tui.model import ClusterSnapshot, Gpu
from tui.snapshot_output import snapshot_to_dict
from tui.sources.exporters import ExporterGpuSource
from tui.store import Store

FIXTURES = Path(__file__).parent.parent / "fixtures" / "exposition"
SEED_PAGE = (FIXTURES / "seed-exporter.prom").read_text()
T0 = 1_800_000_000.0


@pytest.fixture
def logged() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="INFO", format="{message}")
    yield lines
    logger.remove(sink)


def fleet_snapshot(ts: float, nodes: int = 64, util: float = 50.0) -> ClusterSnapshot:
    gpus = tuple(
        Gpu(node=f"gpu-{n:03d}", index=i, utilization_pct=util, temperature_c=40.0)
        for n in range(nodes)
        for i in range(8)
    )
    return ClusterSnapshot(taken_at=ts + 0.5, gpus=gpus, gpus_taken_at=ts)


async def fill_the_disk(store: Store) -> None:
    """SQLite's own limit on the file's size, set to what it holds now: a full disk."""
    (pages,) = next(iter(await store.db.execute_fetchall("PRAGMA page_count")))
    await store.db.execute(f"PRAGMA max_page_count = {pages}")


async def stored_times(store: Store, node: str) -> list[float]:
    return [s.ts for s in await store.gpu_samples(node, 0, 2**40)]


async def test_failing_exporters_do_not_store_the_last_reading_again(tmp_path: Path) -> None:
    now = [T0]
    routes = {"/metrics": Reply(SEED_PAGE)}
    store = await Store.open(tmp_path / "history.db")
    with serve(routes) as server:
        source = ExporterGpuSource([("gpu-01", server.url("/metrics"))], timeout_s=5)
        collector = Collector(
            workload=None,
            gpu=source,
            options=CollectorOptions(gpu_timeout_s=5 + SOURCE_DEADLINE_GRACE_S),
            clock=lambda: now[0],
        )
        writer = HistoryWriter(store)
        collector.subscribe(writer.on_snapshot)
        try:
            await collector.collect_once()
            routes["/metrics"] = Reply("down", status=500)
            for _ in range(4):
                now[0] += 5
                snapshot = await collector.collect_once()
                # The failing source's last GPUs are still shown (as stale) ...
                assert len(snapshot.gpus) == 2 and not snapshot.health["gpu"].ok
                assert snapshot.gpus_stale and snapshot.gpus_taken_at == T0
                await collector.publish()  # a Slurm-only publish
            routes["/metrics"] = Reply(SEED_PAGE)
            now[0] += 5
            await collector.collect_once()
        finally:
            await collector.aclose()
            stored = await stored_times(store, "gpu-01")
            await store.close()
    # ... but stored once each, at the time they were taken.
    assert stored == [T0, T0, T0 + 25, T0 + 25]


async def test_full_database_is_reported_once_and_written_after_recovery(
    tmp_path: Path, logged: list[str]
) -> None:
    store = await Store.open(tmp_path / "history.db")
    writer = HistoryWriter(store)
    try:
        await writer.on_snapshot(fleet_snapshot(T0))
        assert writer.health.ok
        await fill_the_disk(store)
        for cycle in range(1, 5):
            await writer.on_snapshot(fleet_snapshot(T0 + 5 * cycle))
        health = writer.health
        assert not health.ok
        assert health.last_error is not None and "full" in health.last_error
        assert "\n" not in health.last_error
        assert health.consecutive_failures == 4
        assert writer.buffered_rows == 4 * 512
        assert len([line for line in logged if "disk is full" in line]) == 1, logged
        assert not any("Traceback" in line for line in logged)

        # The snapshot a viewer reads names the store as failing.
        collector = Collector(workload=None, gpu=None)
        collector.add_health_report(STORE_SOURCE, writer.report)
        sources = snapshot_to_dict(await collector.publish(), 0.0)["sources"]
        assert sources["store"]["ok"] is False and "full" in sources["store"]["last_error"]

        await store.db.execute("PRAGMA max_page_count = 1073741823")
        await writer.on_snapshot(fleet_snapshot(T0 + 25))
        assert writer.health.ok and writer.buffered_rows == 0
        assert len([line for line in logged if "writable again" in line]) == 1
        times = await stored_times(store, "gpu-063")
    finally:
        await store.close()
    assert sorted(set(times)) == [T0 + 5 * cycle for cycle in range(6)]
    assert len(times) == 6 * 8


async def test_memory_kept_while_failing_is_bounded_oldest_dropped_first(
    tmp_path: Path, logged: list[str]
) -> None:
    store = await Store.open(tmp_path / "history.db")
    writer = HistoryWriter(store, max_buffered_rows=3 * 512)
    try:
        await writer.on_snapshot(fleet_snapshot(T0))
        await fill_the_disk(store)
        for cycle in range(1, 7):
            await writer.on_snapshot(fleet_snapshot(T0 + 5 * cycle))
        assert writer.buffered_rows == 3 * 512
        await store.db.execute("PRAGMA max_page_count = 1073741823")
        await writer.on_snapshot(fleet_snapshot(T0 + 35))
        times = sorted(set(await stored_times(store, "gpu-000")))
    finally:
        await store.close()
    # The newest kept readings (and the first, written before the failure) survive.
    assert times == [T0, T0 + 25, T0 + 30, T0 + 35]
    assert any("dropping the oldest" in line for line in logged)
