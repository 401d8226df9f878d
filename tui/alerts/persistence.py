"""Alert state, history and silences in the SQLite store, so they survive a restart."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType

from tui.alerts.engine import Alert, AlertState, Transition
from tui.alerts.rules import Severity
from tui.store import Store


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    created_at: float
    created_by: str
    rule: str | None
    target: str | None
    ends_at: float
    comment: str = ""
    lifted_at: float | None = None

    def active(self, now: float) -> bool:
        return self.lifted_at is None and now < self.ends_at

    def covers(self, rule: str, target: str) -> bool:
        return (self.rule is None or self.rule == rule) and (
            self.target is None or self.target == target
        )

    def describe(self) -> str:
        what = " ".join(
            part
            for part in (
                f"rule {self.rule}" if self.rule else "",
                f"target {self.target}" if self.target else "",
            )
            if part
        )
        return what or "everything"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    ts: float
    rule: str
    target: str
    severity: str
    state: str
    value: float | None
    summary: str


_STATE_COLUMNS = (
    "rule, target, state, active_since, fired_at, resolved_at, last_value, severity, summary,"
    " labels, ack_by, ack_at"
)
_UPSERT_STATE = (
    f"INSERT OR REPLACE INTO alert_state ({_STATE_COLUMNS}) VALUES ({', '.join('?' * 12)})"
)
StateKey = tuple[str, str]


class AlertRepository:
    """Alert state in the store. Writes only what changed since the last record()."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # The pending/firing rows the database holds, as written; None until known.
        self._written: dict[StateKey, tuple[Alert, tuple[object, ...]]] | None = None

    async def record(self, transitions: Iterable[Transition], active: Iterable[Alert]) -> None:
        """Write this evaluation's transitions as events and the changed state, in one transaction.

        The first record (unless load_active ran) replaces every pending/firing row; later ones
        insert, update and delete only the rows that differ from what was last written.
        """
        transitions = list(transitions)
        resolved = [
            _state_row(t.alert) for t in transitions if t.alert.state is AlertState.RESOLVED
        ]
        written = self._written
        wanted: dict[StateKey, tuple[Alert, tuple[object, ...]]] = {}
        changed: list[tuple[object, ...]] = []
        for alert in active:
            key = (alert.rule, alert.target)
            before = None if written is None else written.get(key)
            if before is not None and before[0] is alert:
                wanted[key] = before  # the engine keeps an unchanged alert's object
                continue
            row = _state_row(alert)
            wanted[key] = (alert, row)
            if before is None or before[1] != row:
                changed.append(row)
        gone: list[StateKey] = []
        if written is not None:
            resolved_keys = {(str(row[0]), str(row[1])) for row in resolved}
            gone = [key for key in written if key not in wanted and key not in resolved_keys]
            if not (transitions or changed or gone):
                self._written = wanted
                return
        async with self.store.transaction() as db:
            await db.executemany(
                "INSERT INTO alert_events (ts, rule, target, severity, state, value, summary)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        t.alert.resolved_at or t.alert.fired_at or t.alert.active_since,
                        t.alert.rule,
                        t.alert.target,
                        t.alert.severity.value,
                        t.alert.state.value,
                        t.alert.value,
                        t.alert.summary,
                    )
                    for t in transitions
                ],
            )
            if written is None:
                await db.execute("DELETE FROM alert_state WHERE state != 'resolved'")
            elif gone:
                await db.executemany(
                    "DELETE FROM alert_state WHERE rule = ? AND target = ? AND state != 'resolved'",
                    gone,
                )
            await db.executemany(_UPSERT_STATE, [*changed, *resolved])
        self._written = wanted

    async def load_active(self) -> list[Alert]:
        rows = await self.store.db.execute_fetchall(
            f"SELECT {_STATE_COLUMNS} FROM alert_state WHERE state IN ('pending', 'firing')"
        )
        alerts = [_alert_from_row(row) for row in rows]
        self._written = {(a.rule, a.target): (a, _state_row(a)) for a in alerts}
        return alerts

    async def history(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        rule: str | None = None,
        target: str | None = None,
        severity: str | None = None,
        limit: int = 200,
    ) -> list[AlertEvent]:
        clauses, params = [], []
        for column, op, value in (
            ("ts", ">=", since),
            ("ts", "<=", until),
            ("rule", "=", rule),
            ("target", "=", target),
            ("severity", "=", severity),
        ):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self.store.db.execute_fetchall(
            "SELECT ts, rule, target, severity, state, value, summary FROM alert_events"
            f" {where} ORDER BY ts DESC, id DESC LIMIT ?",
            [*params, limit],
        )
        return [AlertEvent(*row) for row in rows]

    async def acknowledge(self, rule: str, target: str, who: str, at: float) -> bool:
        async with self.store.transaction() as db:
            cursor = await db.execute(
                "UPDATE alert_state SET ack_by = ?, ack_at = ? WHERE rule = ? AND target = ?"
                " AND state != 'resolved'",
                (who, at, rule, target),
            )
            return cursor.rowcount > 0

    async def add_silence(
        self,
        *,
        rule: str | None,
        target: str | None,
        ends_at: float,
        created_by: str,
        created_at: float,
        comment: str = "",
    ) -> Silence:
        async with self.store.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO silences (created_at, created_by, rule, target, ends_at, comment)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (created_at, created_by, rule, target, ends_at, comment),
            )
            silence_id = cursor.lastrowid
        assert silence_id is not None
        return Silence(silence_id, created_at, created_by, rule, target, ends_at, comment)

    async def lift_silence(self, silence_id: int, at: float) -> bool:
        async with self.store.transaction() as db:
            cursor = await db.execute(
                "UPDATE silences SET lifted_at = ? WHERE id = ? AND lifted_at IS NULL",
                (at, silence_id),
            )
            return cursor.rowcount > 0

    async def active_silences(self, now: float) -> list[Silence]:
        rows = await self.store.db.execute_fetchall(
            "SELECT id, created_at, created_by, rule, target, ends_at, comment, lifted_at"
            " FROM silences WHERE lifted_at IS NULL AND ends_at > ? ORDER BY ends_at",
            (now,),
        )
        return [Silence(*row) for row in rows]


def _state_row(alert: Alert) -> tuple[object, ...]:
    return (
        alert.rule,
        alert.target,
        alert.state.value,
        alert.active_since,
        alert.fired_at,
        alert.resolved_at,
        alert.value,
        alert.severity.value,
        alert.summary,
        json.dumps(dict(alert.labels), sort_keys=True),
        alert.ack_by,
        alert.ack_at,
    )


def _alert_from_row(row: Iterable[object]) -> Alert:
    (
        rule,
        target,
        state,
        active_since,
        fired_at,
        resolved_at,
        value,
        severity,
        summary,
        labels,
        ack_by,
        ack_at,
    ) = row
    return Alert(
        rule=str(rule),
        target=str(target),
        severity=Severity(severity),
        state=AlertState(state),
        active_since=float(active_since),  # type: ignore[arg-type]
        value=float(value) if value is not None else 0.0,  # type: ignore[arg-type]
        summary=str(summary or ""),
        labels=MappingProxyType(json.loads(str(labels)) if labels else {}),
        fired_at=fired_at,  # type: ignore[arg-type]
        resolved_at=resolved_at,  # type: ignore[arg-type]
        ack_by=ack_by,  # type: ignore[arg-type]
        ack_at=ack_at,  # type: ignore[arg-type]
    )
