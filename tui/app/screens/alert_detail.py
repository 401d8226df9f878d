"""One alert in full: rule, state, target, value, labels, times, ack, silence, history."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Label, Static

from tui.alerts.engine import Alert, AlertState
from tui.alerts.persistence import AlertEvent, Silence
from tui.app import format as fmt
from tui.app.dash import DashAccess
from tui.app.widgets.alert_feed import SEVERITY_STYLES
from tui.app.widgets.key_footer import KeyFooter

LABEL_ORDER: tuple[str, ...] = ("job", "user", "node", "gpu", "model", "state", "reason", "source")
HISTORY_LIMIT = 50
REFRESH_S = 2.0


def alert_table(alert: Alert, silences: list[Silence], now: float, *, active: bool) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    fmt.add_plain_row(table, "Rule", alert.rule)
    fmt.add_plain_row(
        table,
        "Severity",
        Text(alert.severity.value, style=SEVERITY_STYLES.get(alert.severity.value, "")),
    )
    state = alert.state.value if active else "resolved (no longer active)"
    fmt.add_plain_row(
        table, "State", Text(state, style="bold" if alert.state is AlertState.FIRING else "")
    )
    fmt.add_plain_row(table, "Target", alert.target)
    fmt.add_plain_row(table, "Value", f"{alert.value:g}")
    fmt.add_plain_row(table, "Summary", alert.summary)
    fmt.add_plain_row(table, "Runbook", alert.description or "-")
    labels = dict(alert.labels)
    ordered = [k for k in LABEL_ORDER if labels.get(k)] + sorted(
        k for k in labels if k not in LABEL_ORDER and labels[k]
    )
    fmt.add_plain_row(table, "Labels", "  ".join(f"{k}={labels[k]}" for k in ordered) or "-")
    fmt.add_plain_row(table, "Since", fmt.time_text(alert.active_since, now))
    fmt.add_plain_row(table, "Fired", fmt.time_text(alert.fired_at, now))
    fmt.add_plain_row(table, "Resolved", fmt.time_text(alert.resolved_at, now))
    if alert.ack_by:
        fmt.add_plain_row(
            table, "Acknowledged", f"by {alert.ack_by} at {fmt.time_text(alert.ack_at, now)}"
        )
    else:
        fmt.add_plain_row(table, "Acknowledged", "no (a acknowledges)")
    if silences:
        fmt.add_plain_row(
            table,
            "Silenced",
            "; ".join(
                f"{s.describe()} by {s.created_by} until {fmt.clock_text(s.ends_at)}"
                + (f": {s.comment}" if s.comment else "")
                for s in silences
            ),
        )
    else:
        fmt.add_plain_row(table, "Silenced", "no (s silences)")
    return table


class AlertDetailScreen(DashAccess, Screen[None]):
    DEFAULT_CSS = """
    AlertDetailScreen #alert-title { height: 1; background: $boost; }
    AlertDetailScreen #alert-info { height: auto; max-height: 60%; padding: 0 1; }
    AlertDetailScreen #alert-history-title { margin-top: 1; padding: 0 1; text-style: bold; }
    AlertDetailScreen DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("a", "ack", "Acknowledge"),
        Binding("s", "silence", "Silence…", tooltip="rule and/or target, 15m-24h, with a comment"),
        Binding("escape", "close", "Back"),
    ]

    def __init__(self, rule: str, target: str) -> None:
        super().__init__()
        self.key = (rule, target)
        self.alert: Alert | None = None
        self.active = False
        self.events: list[AlertEvent] = []

    def compose(self) -> ComposeResult:
        rule, target = self.key
        yield Static(f" alert {rule} on {target}", id="alert-title", markup=False)
        with VerticalScroll(id="alert-info"):
            yield Static("", id="alert-table")
        yield Label("History (newest first)", id="alert-history-title")
        yield DataTable(id="alert-history", cursor_type="row")
        yield KeyFooter(show_command_palette=False)  # ":" and ctrl+p are in the help

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label in ("TIME", "STATE", "SEVERITY", "VALUE", "SUMMARY"):
            table.add_column(label, key=label.lower())
        self.reload()
        self.set_interval(REFRESH_S, self.show_alert)

    def reload(self) -> None:
        """The alert as the engine has it now, and its history from the store."""
        self.show_alert()
        self.load_history()

    def show_alert(self) -> None:
        controller = self.dash.alerts_ui
        current = controller.find(self.key)
        self.active = current is not None
        if current is not None:
            self.alert = current
        info = self.query_one("#alert-table", Static)
        if self.alert is None:
            info.update("this alert is no longer active")
            return
        service = controller.service
        now = self.dash.now()
        silences = [
            s for s in service.silences(now) if s.covers(self.alert.rule, self.alert.target)
        ]
        info.update(alert_table(self.alert, silences, now, active=self.active))

    @work(group="alert-history", exclusive=True)
    async def load_history(self) -> None:
        service = self.dash.alerts_ui.service
        rule, target = self.key
        events = await service.history(rule=rule, target=target, limit=HISTORY_LIMIT)
        self.events = list(events)
        table = self.query_one(DataTable)
        table.clear()
        if not self.events:
            table.add_row("", Text("no history recorded (needs the store)", style="dim"))
            return
        for event in self.events:
            value = "-" if event.value is None else f"{event.value:g}"
            style = SEVERITY_STYLES.get(event.severity, "")
            table.add_row(
                fmt.clock_text(event.ts),
                event.state,
                Text(event.severity, style),
                value,
                Text(event.summary),  # as written: a summary may hold "[...]"
            )

    def action_ack(self) -> None:
        self.dash.alerts_ui.acknowledge(*self.key)

    def action_silence(self) -> None:
        self.dash.alerts_ui.ask_silence(*self.key)

    def action_close(self) -> None:
        self.dismiss(None)
