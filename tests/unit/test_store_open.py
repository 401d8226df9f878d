"""Opening the history database: WAL, migrations, and refusing locked, corrupt or newer files."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

import tui.store
from tui.audit_record import AuditRecord
from tui.model import ClusterSnapshot, Gpu
from tui.store import Store, StoreError
from tui.store_schema import MIGRATIONS, SCHEMA_VERSION

T0 = 1_800_000_000.0


def one_gpu_snapshot(ts: float, util: float = 50.0) -> ClusterSnapshot:
    return ClusterSnapshot(taken_at=ts, gpus=(Gpu(node="gpu-01", index=0, utilization_pct=util),))


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_new_database_is_in_wal_mode_at_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "history.db"
    store = await Store.open(path)
    try:
        rows = await store.db.execute_fetchall("PRAGMA journal_mode")
        assert list(rows) == [("wal",)]
        sync = await store.db.execute_fetchall("PRAGMA synchronous")
        assert list(sync) == [(1,)]  # NORMAL
    finally:
        await store.close()
    assert user_version(path) == SCHEMA_VERSION
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    store = await Store.open(path)
    await store.write_snapshot(one_gpu_snapshot(T0))
    await store.close()
    for _ in range(2):
        store = await Store.open(path)
        samples = await store.gpu_samples("gpu-01", T0 - 1, T0 + 1)
        await store.close()
        assert [s.utilization_pct for s in samples] == [50.0]
    assert user_version(path) == SCHEMA_VERSION


async def test_new_migration_upgrades_an_existing_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.db"
    store = await Store.open(path)
    await store.write_snapshot(one_gpu_snapshot(T0))
    await store.close()
    upgraded = (*MIGRATIONS, "CREATE TABLE later_feature (id INTEGER PRIMARY KEY);")
    monkeypatch.setattr(tui.store, "MIGRATIONS", upgraded)
    monkeypatch.setattr(tui.store, "SCHEMA_VERSION", len(upgraded))
    store = await Store.open(path)
    try:
        assert list(await store.db.execute_fetchall("SELECT count(*) FROM later_feature")) == [(0,)]
        assert len(await store.gpu_samples("gpu-01", T0 - 1, T0 + 1)) == 1
    finally:
        await store.close()
    assert user_version(path) == SCHEMA_VERSION + 1


async def test_failed_migration_is_rolled_back_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.db"
    await (await Store.open(path)).close()
    broken = "CREATE TABLE half_done (id INTEGER);\nINSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(tui.store, "MIGRATIONS", (*MIGRATIONS, broken))
    monkeypatch.setattr(tui.store, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match="no such table"):
        await Store.open(path)
    assert user_version(path) == SCHEMA_VERSION
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "half_done" not in tables


async def test_database_newer_than_the_code_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    await (await Store.open(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    before = path.read_bytes()
    for readonly in (False, True):
        with pytest.raises(StoreError, match="newer than this clusterdash") as caught:
            await Store.open(path, readonly=readonly)
        assert "\n" not in str(caught.value)
    assert path.read_bytes() == before


@pytest.mark.parametrize("readonly", [False, True])
async def test_corrupt_file_is_reported_and_left_byte_identical(
    tmp_path: Path, readonly: bool
) -> None:
    path = tmp_path / "history.db"
    garbage = bytes(range(256)) * 64
    path.write_bytes(garbage)
    with pytest.raises(StoreError) as caught:
        await Store.open(path, readonly=readonly)
    message = str(caught.value)
    assert message.startswith(f"history database {path} is corrupt: file is not a database")
    assert "move it aside" in message
    assert "\n" not in message
    assert path.read_bytes() == garbage
    assert files_in(tmp_path) == ["history.db"]


async def test_exclusively_locked_database_fails_after_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    await (await Store.open(path)).close()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"is locked by another process \(waited 0.2 s\)"):
            await Store.open(path, busy_timeout_s=0.2)
        assert time.monotonic() - started < 3.0
    finally:
        holder.close()
    store = await Store.open(path)  # usable again once the lock is gone
    await store.close()


async def test_write_blocked_by_another_writer_gives_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    store = await Store.open(path, busy_timeout_s=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="is locked by another process"):
            await store.write_snapshot(one_gpu_snapshot(T0))
        holder.execute("ROLLBACK")
        assert await store.write_snapshot(one_gpu_snapshot(T0 + 5)) == 1
        assert len(await store.gpu_samples("gpu-01", T0, T0 + 10)) == 1
    finally:
        holder.close()
        await store.close()


async def test_readonly_open_of_missing_file_does_not_create_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(StoreError, match="does not exist yet"):
        await Store.open(path, readonly=True)
    assert not path.exists()


async def test_readonly_store_reads_live_data_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    writer = await Store.open(path)
    reader = await Store.open(path, readonly=True)
    try:
        await writer.write_snapshot(one_gpu_snapshot(T0, util=10.0))
        assert [s.utilization_pct for s in await reader.gpu_samples("gpu-01", T0, T0)] == [10.0]
        await writer.write_snapshot(one_gpu_snapshot(T0 + 5, util=20.0))
        history = await reader.gpu_history("gpu-01", "utilization_pct", T0, T0 + 10, 10)
        assert [v for _, v in history[0]] == [10.0, 20.0]
        with pytest.raises(StoreError, match="read-only"):
            await reader.write_snapshot(one_gpu_snapshot(T0 + 10))
        with pytest.raises(StoreError, match="read-only"):
            await reader.add_audit(
                AuditRecord(user="u", origin="cli", action="drain", targets=("n",), ok=True)
            )
    finally:
        await reader.close()
        await writer.close()


async def test_readonly_open_of_a_closed_wal_database(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    writer = await Store.open(path)
    await writer.write_snapshot(one_gpu_snapshot(T0))
    await writer.close()
    reader = await Store.open(path, readonly=True)
    try:
        assert len(await reader.gpu_samples("gpu-01", T0, T0)) == 1
    finally:
        await reader.close()


@pytest.mark.parametrize("user_version", [0, 1])
async def test_another_applications_database_is_refused_untouched(
    tmp_path: Path, user_version: int
) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices (total) VALUES (12.5)")
        conn.execute(f"PRAGMA user_version = {user_version}")
    conn.close()
    before = path.read_bytes()
    for readonly in (False, True):
        with pytest.raises(StoreError, match="is not a clusterdash history database"):
            await Store.open(path, readonly=readonly)
    assert path.read_bytes() == before


async def test_empty_file_becomes_a_history_database(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    path.write_bytes(b"")
    store = await Store.open(path)
    await store.close()
    assert user_version(path) == SCHEMA_VERSION
