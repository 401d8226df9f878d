"""The store's memory of Slurm jobs: only the jobs holding GPUs now, over any churn of jobs."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

from tests.unit.test_job_usage import T0, job, snapshot
from tui.store import Store

# Python memory the store may gain while 1,000 more jobs start and end, one after another:
# remembering each (its id string, key and table slot) took ~120 KB.
ALLOWED_GROWTH_BYTES = 40_000


async def test_the_store_keeps_no_memory_of_jobs_that_ended(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "history.sqlite3")
    try:
        for k in range(100):  # statements prepared, tables' first pages read
            await store.write_snapshot(snapshot(T0 + 5 * k, 50.0, (job(str(k)),)))
        tracemalloc.start()
        try:
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            for k in range(100, 1100):
                await store.write_snapshot(snapshot(T0 + 5 * k, 50.0, (job(str(k)),)))
            gc.collect()
            growth = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert growth <= ALLOWED_GROWTH_BYTES, growth
    finally:
        await store.close()


async def test_a_job_seen_again_is_stored_under_its_first_key(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "history.sqlite3")
    try:
        await store.write_snapshot(snapshot(T0, 50.0, (job("7"),)))
        await store.write_snapshot(snapshot(T0 + 5, 50.0, (job("8"),)))
        await store.write_snapshot(snapshot(T0 + 10, 50.0, (job("7"),)))
        rows = await store.db.execute_fetchall(
            "SELECT j.job_id, COUNT(*) FROM gpu_samples AS s JOIN jobs AS j ON j.id = s.job "
            "GROUP BY j.job_id ORDER BY j.job_id"
        )
        assert [tuple(row) for row in rows] == [("7", 16), ("8", 8)]
        (jobs,) = await store.db.execute_fetchall("SELECT COUNT(*) FROM jobs")
        assert jobs[0] == 2
    finally:
        await store.close()
