"""The alert feed: newest first, severity colour, firing/resolved, age, target; ack and silence.

The feed knows nothing about the alert engine: it is given rows, and its keys post
messages (open, acknowledge, silence) that the alerts controller handles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from tui.app import format as fmt
from tui.model import ClusterSnapshot

SEVERITY_STYLES: dict[str, str] = {
    "critical": "bold red",
    "warning": "yellow",
    "info": "cyan",
}


@dataclass(frozen=True, slots=True)
class AlertRow:
    key: str
    severity: str
    firing: bool
    since: float
    target: str
    summary: str
    acked: bool = False
    silenced: bool = False


def health_alerts(snapshot: ClusterSnapshot) -> list[AlertRow]:
    """Source-health problems as alert rows (until the alert engine provides real ones)."""
    rows = []
    for name, health in snapshot.health.items():
        if not health.enabled or not health.last_error:
            continue
        rows.append(
            AlertRow(
                key=f"source:{name}",
                severity="warning" if health.ok else "critical",
                firing=True,
                since=health.last_attempt or snapshot.taken_at,
                target=name,
                summary=health.last_error,
            )
        )
    return rows


def alert_cells(row: AlertRow, now: float) -> tuple[Text, Text, str, str, str]:
    severity = Text(row.severity[:4].upper(), style=SEVERITY_STYLES.get(row.severity, ""))
    if row.silenced:
        state = Text("silenced", style="dim")
    elif row.acked:
        state = Text("acked", style="dim")
    else:
        state = Text("FIRING" if row.firing else "resolved", style="bold" if row.firing else "dim")
    return severity, state, fmt.age(now - row.since), row.target, row.summary


class AlertFeed(DataTable[Text | str]):
    BINDINGS = [
        Binding("enter", "open", "Detail", tooltip="labels, times, ack, silences, history"),
        Binding("a", "ack", "Ack", tooltip="record that someone is on it"),
        Binding("x", "silence", "Silence", tooltip="asks for how long, as in the alert detail"),
    ]

    class RowMessage(Message):
        def __init__(self, row: AlertRow) -> None:
            super().__init__()
            self.row = row

    class OpenRequested(RowMessage):
        """Enter on a row: show its detail."""

    class AckRequested(RowMessage):
        """`a` on a row: acknowledge it."""

    class SilenceRequested(RowMessage):
        """`x` on a row: ask how long to silence it."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row")
        self.alerts: list[AlertRow] = []
        self._shown: list[tuple[str, tuple[Text | str, ...]]] = []

    def on_mount(self) -> None:
        for label in ("SEV", "STATE", "AGE", "TARGET", "SUMMARY"):
            self.add_column(label, key=label.lower())

    def show(self, alerts: Sequence[AlertRow], now: float) -> None:
        ordered = sorted(alerts, key=lambda a: (-a.since, a.key))
        shown = [(a.key, alert_cells(a, now)) for a in ordered]
        if shown == self._shown:
            return
        self.alerts = ordered
        self._shown = shown
        cursor = self.cursor_row
        self.clear()
        if not shown:
            self.add_row("", Text("no alerts", style="dim"), "", "", "", key="\x00empty")
            return
        for key, cells in shown:
            self.add_row(*cells, key=key)
        self.move_cursor(row=min(cursor, len(shown) - 1), animate=False)

    def current(self) -> AlertRow | None:
        if not self.alerts or not 0 <= self.cursor_row < len(self.alerts):
            return None
        return self.alerts[self.cursor_row]

    def action_open(self) -> None:
        row = self.current()
        if row is not None:
            self.post_message(self.OpenRequested(row))

    def action_ack(self) -> None:
        self._post_for_current(self.AckRequested)

    def action_silence(self) -> None:
        self._post_for_current(self.SilenceRequested)

    def _post_for_current(self, message: type[RowMessage]) -> None:
        row = self.current()
        if row is None:
            self.notify("no alert selected", severity="warning")
        else:
            self.post_message(message(row))
