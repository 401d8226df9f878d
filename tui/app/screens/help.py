"""`?`: every key, grouped by where it applies."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.app.keys import KEY_TABLE


def keys_table() -> Table:
    table = Table(show_header=True, header_style="bold", expand=True, box=None)
    table.add_column("Where")
    table.add_column("Key", style="bold cyan")
    table.add_column("Does")
    for where, key, does in KEY_TABLE:
        table.add_row(where, key, does)
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
            yield Static(keys_table())

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
