"""One action to record in the audit log, as every writer of the log takes it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An action to record (a recorded one is the store's AuditEntry, with its id)."""

    user: str
    origin: str
    action: str
    targets: tuple[str, ...]
    ok: bool
    reason: str = ""
    message: str = ""
    ts: float | None = None  # now, when not given
