"""A read-only viewer of history that still records its own operator's actions.

The writer lock keeps one process writing what every process would otherwise write again:
collected samples, alert state and events, webhooks. An audit row is not like that: only
the process whose operator drained the node knows the action happened, so only that
process can record it, and it does so exactly once. A second standalone dashboard on a
database another process writes therefore opens one short read-write connection per audit
row, inserts that row in its own transaction (SQLite serialises it with the writer's; the
busy timeout covers a writer mid-commit) and closes it again. It never writes anything else
and never takes the writer's role.
"""

from __future__ import annotations

from typing import Any

from tui.audit_record import AuditRecord
from tui.store import Store


class AuditingReader:
    """Stands where Store does in a non-writing process: reads from `store`, audits itself."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def add_audit(self, record: AuditRecord) -> int:
        """Record one action in a short write transaction of its own; returns its id."""
        # Same schema version as the reader already checked, so opening migrates nothing.
        writer = await Store.open(self._store.path)
        try:
            return await writer.add_audit(record)
        finally:
            await writer.close()
