"""The audit log's side of cluster actions: one row per action that ran, whoever asked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from loguru import logger

from tui.actions import ActionResult, audit_record, current_user
from tui.audit_record import AuditRecord
from tui.text import one_line


class AuditLog(Protocol):
    async def add_audit(self, record: AuditRecord) -> int: ...


class ActionAudit:
    """Writes an action's result to the store; a failed write is shown, never raised."""

    def __init__(
        self,
        store: Callable[[], AuditLog | None],
        clock: Callable[[], float],
        notify_error: Callable[[str], None],
    ) -> None:
        self.store = store
        self.clock = clock
        self.notify_error = notify_error

    async def record(self, result: ActionResult, origin: str) -> None:
        store = self.store()
        if store is None:
            return
        try:
            await store.add_audit(audit_record(result, origin, current_user(), ts=self.clock()))
        except Exception as error:
            logger.exception("audit write failed")
            self.notify_error(f"audit log write failed: {one_line(error)}")
