"""A read-only viewer of history that still records what only its own operator did.

The writer lock keeps one process writing what every process would otherwise write again:
collected samples, alert state and events, webhooks. An audit row or a chat message is not
like that: only the process whose operator drained the node, or asked the assistant, knows
it happened, so only that process can record it, and it does so exactly once. A second
standalone dashboard on a database another process writes therefore opens one short
read-write connection per such row, inserts that row in its own transaction (SQLite
serialises it with the writer's; the busy timeout covers a writer mid-commit) and closes it
again. It never writes anything else and never takes the writer's role.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from tui.audit_record import AuditRecord
from tui.store import Store


class RecordingReader:
    """Stands where Store does in a non-writing process: reads from `store`, and records its
    own operator's audit rows and conversations."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @asynccontextmanager
    async def _writer(self) -> AsyncIterator[Store]:
        # Same schema version as the reader already checked, so opening migrates nothing.
        writer = await Store.open(self._store.path)
        try:
            yield writer
        finally:
            await writer.close()

    async def add_audit(self, record: AuditRecord) -> int:
        """Record one action in a short write transaction of its own; returns its id."""
        async with self._writer() as writer:
            return await writer.add_audit(record)

    async def create_conversation(self, title: str, ts: float | None = None) -> int:
        async with self._writer() as writer:
            return await writer.create_conversation(title, ts)

    async def add_chat_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        extra: Mapping[str, Any] | None = None,
        ts: float | None = None,
    ) -> int:
        async with self._writer() as writer:
            return await writer.add_chat_message(conversation_id, role, content, extra, ts)
