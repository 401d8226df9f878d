"""The audit log takes rows from the MCP server; a database from before keeps its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tui.audit_record import AuditRecord
from tui.store import Store
from tui.store_schema import MIGRATIONS


def version_one_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(MIGRATIONS[0])
        conn.execute(
            "INSERT INTO audit_log (ts, user, origin, action, targets, reason, ok, message) "
            "VALUES (1800000000.0, 'alice', 'keyboard', 'drain', '[\"gpu-02\"]', 'fan', 1, 'ok')"
        )
        conn.execute("PRAGMA user_version = 1")


async def test_an_older_database_keeps_its_audit_rows_and_takes_mcp_ones(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    version_one_database(path)
    store = await Store.open(path)
    try:
        await store.add_audit(
            AuditRecord(
                user="bob", origin="mcp", action="cancel", targets=("42",), ok=True, ts=1800000060.0
            )
        )
        entries = await store.list_audit()
    finally:
        await store.close()
    assert [(e.user, e.origin, e.action, e.targets, e.reason) for e in entries] == [
        ("bob", "mcp", "cancel", ("42",), ""),
        ("alice", "keyboard", "drain", ("gpu-02",), "fan"),
    ]
