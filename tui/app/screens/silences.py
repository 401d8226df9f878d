"""Silences: the dialog that creates one, and the list of active ones (lift with `l`)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
)

from tui.app import format as fmt
from tui.app.dash import DashAccess
from tui.app.screens.form_dialog import FormDialog
from tui.app.widgets.key_footer import KeyFooter
from tui.durations import format_duration, parse_duration

DURATION_CHOICES: tuple[str, ...] = ("15m", "1h", "4h", "24h")
DEFAULT_DURATION = "1h"
MAX_SILENCE_S = 30 * 86400.0


@dataclass(frozen=True, slots=True)
class SilenceRequest:
    rule: str | None
    target: str | None
    duration_s: float
    comment: str = ""

    @property
    def duration_text(self) -> str:
        return format_duration(self.duration_s)


def silence_request(
    rule: str, target: str, *, by_rule: bool, by_target: bool, duration: str, comment: str
) -> SilenceRequest:
    """The silence the dialog describes; ValueError with one line when it is not valid."""
    if not by_rule and not by_target:
        raise ValueError("silence by rule, by target or both")
    try:
        seconds = parse_duration(duration.strip())
    except ValueError as error:
        raise ValueError(f"duration: {error}") from None
    if seconds <= 0:
        raise ValueError("duration must be more than 0")
    if seconds > MAX_SILENCE_S:
        raise ValueError("duration: 30 days at most (lift and renew a longer one)")
    return SilenceRequest(
        rule if by_rule else None, target if by_target else None, seconds, comment.strip()
    )


class SilenceDialog(FormDialog[SilenceRequest]):
    """What to silence (rule, target or both), for how long, and why."""

    SUBMIT_BUTTON = "silence"

    DEFAULT_CSS = """
    SilenceDialog { align: center middle; }
    SilenceDialog > Vertical {
        width: 90%; max-width: 90; height: auto; max-height: 95%;
        border: thick $warning; background: $panel; padding: 1 2;
    }
    SilenceDialog RadioSet { layout: horizontal; width: auto; height: auto; }
    SilenceDialog Horizontal { height: auto; }
    SilenceDialog #silence-custom { width: 40; }
    SilenceDialog #silence-error { color: $error; height: auto; }
    SilenceDialog #silence-buttons { align-horizontal: right; margin-top: 1; }
    SilenceDialog Button { margin-left: 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, rule: str, target: str) -> None:
        super().__init__()
        self.rule = rule
        self.target = target

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Silence {self.rule} on {self.target}", style="bold"))
            with Horizontal():
                yield Checkbox(f"rule {self.rule}", True, id="silence-by-rule")
                yield Checkbox(f"target {self.target}", True, id="silence-by-target")
            yield Label("For how long")
            with RadioSet(id="silence-durations"):
                for choice in DURATION_CHOICES:
                    yield RadioButton(
                        choice, value=choice == DEFAULT_DURATION, id=f"silence-{choice}"
                    )
            yield Input(placeholder="or type a duration: 90m, 2d", id="silence-custom")
            yield Input(placeholder="comment (why; who is on it)", id="silence-comment")
            yield Static("", id="silence-error", markup=False)
            with Horizontal(id="silence-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Silence", id="silence", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#silence-comment", Input).focus()

    def duration(self) -> str:
        typed = self.query_one("#silence-custom", Input).value.strip()
        if typed:
            return typed
        pressed = self.query_one(RadioSet).pressed_button
        return str(pressed.label) if pressed is not None else DEFAULT_DURATION

    def request(self) -> SilenceRequest:
        return silence_request(
            self.rule,
            self.target,
            by_rule=self.query_one("#silence-by-rule", Checkbox).value,
            by_target=self.query_one("#silence-by-target", Checkbox).value,
            duration=self.duration(),
            comment=self.query_one("#silence-comment", Input).value,
        )

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self.query_one("#silence-custom", Input).value = ""

    def submit(self) -> None:
        try:
            request = self.request()
        except ValueError as error:
            self.query_one("#silence-error", Static).update(str(error))
            return
        self.dismiss(request)


class SilencesScreen(DashAccess, Screen[None]):
    """Active silences: what, who, until when, why; `l` lifts the highlighted one."""

    DEFAULT_CSS = """
    SilencesScreen #silences-title { height: 1; background: $boost; }
    SilencesScreen DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("l,delete", "lift", "Lift", tooltip="end the highlighted silence"),
        Binding("escape", "close", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[int] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="silences-title", markup=False)
        yield DataTable(id="silences", cursor_type="row")
        yield KeyFooter(show_command_palette=False)  # ":" and ctrl+p are in the help

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label in ("ID", "SILENCES", "BY", "UNTIL", "LEFT", "COMMENT"):
            table.add_column(label, key=label.lower())
        self.reload()
        self.set_interval(5.0, self.reload)
        table.focus()

    def reload(self) -> None:
        service = self.dash.alert_service
        now = self.dash.now()
        silences = service.silences(now) if service is not None else []
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        self.ids = [s.id for s in silences]
        for s in silences:
            table.add_row(
                str(s.id),
                s.describe(),
                s.created_by,
                fmt.clock_text(s.ends_at),
                format_duration(s.ends_at - now),
                s.comment or "-",
                key=str(s.id),
            )
        if silences:
            table.move_cursor(row=min(cursor, len(silences) - 1), animate=False)
        count = len(silences)
        self.query_one("#silences-title", Static).update(
            f" {count} active silence{'s' if count != 1 else ''}"
            + ("  (l lifts the highlighted one, esc goes back)" if count else "")
        )

    def action_lift(self) -> None:
        table = self.query_one(DataTable)
        if not self.ids or not 0 <= table.cursor_row < len(self.ids):
            self.notify("no silence selected", severity="warning")
            return
        self.dash.alerts_ui.lift(self.ids[table.cursor_row])

    def action_close(self) -> None:
        self.dismiss(None)
