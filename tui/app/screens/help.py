"""`?`: every key, grouped by where it applies, and what the symbols and colours mean."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.app import format as fmt
from tui.app.keys import key_rows

SYMBOLS: tuple[tuple[str, str, str], ...] = (
    ("●", "green", "status bar: the source answered; its data is this old"),
    ("◐", "yellow", "status bar: the source answered with errors (tab to the status bar)"),
    ("○", "dim", "status bar: the source is off, or has not answered yet"),
    ("✖", "bold red", "status bar: the source is failing; its data is this old"),
    ("●", "bold magenta", "nodes and jobs: selected for a batch action"),
    ("3⚠", "bold yellow", "nodes: 3 GPUs are allocated to a job but doing nothing"),
)


def keys_table(app: type[Any]) -> Table:
    table = Table(show_header=True, header_style="bold", expand=True, box=None)
    table.add_column("Where")
    table.add_column("Key", style="bold cyan")
    table.add_column("Does")
    for where, key, does in key_rows(app):
        fmt.add_plain_row(table, where, key, does)
    return table


def symbols_table() -> Table:
    table = Table(show_header=False, expand=True, box=None)
    table.add_column("Symbol", width=12)
    table.add_column("Means")
    for symbol, style, means in SYMBOLS:
        fmt.add_plain_row(table, Text(symbol, style=style), means)
    states = Text()
    for state, style in fmt.STATE_STYLES.items():
        states.append(state, style=style)
        states.append("  ")
    fmt.add_plain_row(table, Text("node states"), states)
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 110; height: 90%; border: thick $accent; background: $panel;
        padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss_help", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("[b]clusterdash keys[/b]  (esc to close)")
            yield Static(keys_table(type(self.app)))
            yield Static("\n[b]Symbols and colours[/b]")
            yield Static(symbols_table())

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
