"""The alert feed: newest first, severity colour, firing/resolved, age, target; ack and silence.

The feed knows nothing about the alert engine: it is given rows and two callbacks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
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


AlertCallback = Callable[[AlertRow], None]


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
        Binding("enter", "open", "Detail"),
        Binding("a", "ack", "Ack"),
        Binding("x", "silence", "Silence 1h"),
    ]

    def __init__(
        self,
        *,
        on_ack: AlertCallback | None = None,
        on_silence: AlertCallback | None = None,
        on_open: AlertCallback | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row")
        self.on_ack = on_ack
        self.on_silence = on_silence
        self.on_open = on_open
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
        if row is not None and self.on_open is not None:
            self.on_open(row)

    def action_ack(self) -> None:
        row = self.current()
        if row is None:
            self.notify("no alert selected", severity="warning")
        elif self.on_ack is None:
            self.notify("alert acknowledgement needs the alert engine", severity="warning")
        else:
            self.on_ack(row)

    def action_silence(self) -> None:
        row = self.current()
        if row is None:
            self.notify("no alert selected", severity="warning")
        elif self.on_silence is None:
            self.notify("silencing needs the alert engine", severity="warning")
        else:
            self.on_silence(row)
