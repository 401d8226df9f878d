"""Who holds the GPUs now and what it costs: one row per user and account, sortable."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from tui.app.dash import DashAccess
from tui.app.errors import ContainedErrors
from tui.app.filtering import sort_rows
from tui.app.screens.closing import close_screen
from tui.app.screens.jobs import JobsScreen
from tui.app.user_rows import USER_COLUMNS, UserRow, user_rows, user_usage
from tui.app.widgets.key_footer import KeyFooter
from tui.model import ClusterSnapshot


class UsersScreen(DashAccess, ContainedErrors, Screen[None]):
    DEFAULT_CSS = """
    UsersScreen #users-title { height: 1; background: $boost; }
    UsersScreen DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back"),
        # Over the table's own (hidden) enter, so the footer shows what enter does here.
        Binding(
            "enter", "jobs", "Their jobs", tooltip="the jobs screen filtered to them", priority=True
        ),
        Binding("s", "cycle_sort", "Sort", tooltip="by the next column (or click a header)"),
        Binding("S", "reverse_sort", "Reverse", show=False, tooltip="the sort order"),
    ]

    def __init__(self) -> None:
        super().__init__()
        # Who costs the most first: that is what an operator opens this for.
        self.sort_column = "cost"
        self.sort_reverse = True
        self.rows: list[UserRow] = []
        self._snapshot: ClusterSnapshot | None = None
        self._ready = False

    def compose(self) -> ComposeResult:
        yield Static("", id="users-title", markup=False)
        yield DataTable(id="users-table", cursor_type="row")
        yield KeyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        self._add_columns()
        self._ready = True
        self.apply_snapshot(self.dash.snapshot)
        self.query_one("#users-table", DataTable).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self._ready or action == "back"

    def _add_columns(self) -> None:
        table = self.query_one("#users-table", DataTable)
        table.clear(columns=True)
        arrow = "▼" if self.sort_reverse else "▲"
        for key, label in USER_COLUMNS:
            table.add_column(f"{label} {arrow}" if key == self.sort_column else label, key=key)

    def apply_snapshot(self, snapshot: ClusterSnapshot) -> None:
        if not self._ready:
            return
        self._snapshot = snapshot
        self._show()

    def _show(self) -> None:
        if self._snapshot is None:
            return
        price = self.dash.settings.cluster.gpu_hourly_price
        rows = user_rows(user_usage(self._snapshot), price)
        column = self.sort_column
        rows = sort_rows(rows, lambda r: r.sort_values.get(column), reverse=self.sort_reverse)
        table = self.query_one("#users-table", DataTable)
        current = self.current_row()
        table.clear()
        self.rows = rows
        for row in rows:
            table.add_row(*row.cells, key=row.key)
        keys = [row.key for row in rows]
        if current is not None and current.key in keys:
            table.move_cursor(row=keys.index(current.key), animate=False)
        title = Text(" Users ", style="bold reverse")
        held = sum(r.sort_values["gpus"] for r in rows)
        title.append(f"  {len(rows)} users and accounts, {held} GPUs held now")
        title.append(f"  at ${price:g} per GPU-hour", style="dim")
        self.query_one("#users-title", Static).update(title)

    def current_row(self) -> UserRow | None:
        table = self.query_one("#users-table", DataTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def sort_by(self, column: str, *, reverse: bool = False) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._add_columns()
        self._show()

    def action_cycle_sort(self) -> None:
        keys = [key for key, _ in USER_COLUMNS]
        position = keys.index(self.sort_column) if self.sort_column in keys else -1
        self.sort_by(keys[(position + 1) % len(keys)])
        self.notify(f"sorted by {dict(USER_COLUMNS)[self.sort_column]}", timeout=2)

    def action_reverse_sort(self) -> None:
        self.sort_by(self.sort_column, reverse=not self.sort_reverse)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        column = str(event.column_key.value)
        reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_by(column, reverse=reverse)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_jobs()

    def action_jobs(self) -> None:
        row = self.current_row()
        if row is None:
            return
        terms = [f"user:{row.user}"] if row.user else []
        if row.account:
            terms.append(f"account:{row.account}")
        self.app.push_screen(JobsScreen(initial_filter=" ".join(terms)))

    def action_back(self) -> None:
        close_screen(self)
