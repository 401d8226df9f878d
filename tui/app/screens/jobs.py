"""An squeue-like job list (filter by user, state, partition or any text) and job detail."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Static

from tui.agent.reasons import explain_reason
from tui.app import format as fmt
from tui.app.dash import DashAccess
from tui.app.errors import ContainedErrors
from tui.app.filtering import FilterError, RowFilter, parse_filter, sort_rows
from tui.app.rows import JOB_COLUMNS, job_gpus, job_row
from tui.app.screens.closing import close_screen
from tui.app.widgets.typeahead import is_filter_key, route_typeahead, show_filter
from tui.model import ClusterSnapshot, Job, JobState


def job_detail_table(job: Job, now: float) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    state = job.state.value + (" (held)" if job.held else "")
    fmt.add_plain_row(table, "Job", f"{job.job_id}  {job.name}")
    fmt.add_plain_row(table, "User", f"{job.user}  account {job.account or '-'}")
    fmt.add_plain_row(table, "Partition", job.partition or "-")
    fmt.add_plain_row(
        table, "State", fmt.styled(state, fmt.JOB_STATE_STYLES.get(job.state.value, ""))
    )
    if job.state is JobState.PENDING:
        fmt.add_plain_row(table, "Pending", f"{job.reason or 'None'}: {explain_reason(job.reason)}")
        fmt.add_plain_row(table, "Waiting", fmt.duration(job.pending_for_s(now)))
    elif job.reason and job.reason != "None":
        fmt.add_plain_row(table, "Reason", job.reason)
    fmt.add_plain_row(table, "Nodes", ",".join(job.nodes) or "-")
    for node, indices in sorted(job.gpu_indices.items()):
        fmt.add_plain_row(table, f"  GPUs on {node}", ",".join(str(i) for i in indices))
    if job.state is JobState.PENDING:
        fmt.add_plain_row(table, "GPUs", f"{job_gpus(job)} requested")
    else:
        fmt.add_plain_row(table, "GPUs", str(job.gpu_count))
    fmt.add_plain_row(table, "Submitted", _clock(job.submit_time, now))
    fmt.add_plain_row(table, "Started", _clock(job.start_time, now))
    limit = "-" if job.time_limit_min is None else fmt.duration(job.time_limit_min * 60.0)
    fmt.add_plain_row(table, "Time limit", limit)
    return table


def _clock(ts: float | None, now: float) -> str:
    return "-" if ts is None else f"{fmt.age(now - ts)} ago"


class JobDetailScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    JobDetailScreen { align: center middle; }
    JobDetailScreen > VerticalScroll {
        width: 90%; max-width: 100; height: auto; max-height: 90%;
        border: thick $accent; background: $panel; padding: 1 2;
    }
    """
    BINDINGS = [Binding("escape,q,enter", "app.pop_screen", "Close")]

    def __init__(self, job: Job, now: float) -> None:
        super().__init__()
        self.job = job
        self.now = now

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(job_detail_table(self.job, self.now))


class JobsTable(DataTable[Text | str]):
    """The job rows; keys typed after `/` go to the filter however fast they come."""

    def on_key(self, event: events.Key) -> None:
        screen = self.screen
        if not isinstance(screen, JobsScreen):
            return
        box = screen.query_one("#jobs-filter", Input)
        if not route_typeahead(box, event) and is_filter_key(event):
            show_filter(box, screen.row_filter.text)


class JobsScreen(DashAccess, ContainedErrors, Screen[None]):
    DEFAULT_CSS = """
    JobsScreen #jobs-title { height: 1; background: $boost; }
    JobsScreen DataTable { height: 1fr; }
    JobsScreen #jobs-filter { dock: bottom; display: none; }
    JobsScreen #jobs-filter.-shown { display: block; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "filter", "Filter"),
        Binding("enter", "detail", "Detail"),
        Binding("space", "toggle_select", "Select"),
        Binding("C", "app.on_selection('cancel')", "Cancel job"),
        Binding("R", "app.on_selection('requeue')", "Requeue"),
        Binding("H", "app.on_selection('hold')", "Hold"),
        Binding("L", "app.on_selection('release')", "Release"),
    ]

    def __init__(self, initial_filter: str = "") -> None:
        super().__init__()
        self.row_filter = RowFilter()
        self.initial_filter = initial_filter
        self.selected: set[str] = set()
        self._order: list[str] = []
        self._columns_ready = False

    def compose(self) -> ComposeResult:
        yield Static("", id="jobs-title", markup=False)
        yield JobsTable(id="jobs-table", cursor_type="row")
        yield Input(
            placeholder="filter: user, state, partition, text, regex, !invert", id="jobs-filter"
        )
        yield Footer(show_command_palette=False)  # ":" and ctrl+p are in the help

    def on_mount(self) -> None:
        table = self.query_one("#jobs-table", DataTable)
        table.add_column(" ", key="mark", width=1)
        for key, label in JOB_COLUMNS:
            table.add_column(label, key=key)
        self._columns_ready = True
        if self.initial_filter:
            self.row_filter = parse_filter(self.initial_filter)
        self.apply_snapshot(self.dash.snapshot)
        table.focus()

    def apply_snapshot(self, snapshot: ClusterSnapshot) -> None:
        if not self._columns_ready:
            return  # a snapshot before on_mount: on_mount shows the latest one
        now = self.dash.now()
        rows = [job_row(job, now) for job in snapshot.jobs]
        rows = [r for r in rows if self.row_filter.matches(r.haystack)]
        rows = sort_rows(rows, lambda r: r.sort_values["job_id"])
        self.selected &= {r.job_id for r in rows}
        table = self.query_one("#jobs-table", DataTable)
        cursor_key = self.current_job_id()
        table.clear()
        self._order = [r.job_id for r in rows]
        for row in rows:
            mark = Text("●", style="bold magenta") if row.job_id in self.selected else ""
            table.add_row(mark, *row.cells, key=row.job_id)
        if cursor_key in self._order:
            table.move_cursor(row=self._order.index(cursor_key), animate=False)
        running = sum(1 for j in snapshot.jobs if j.state is JobState.RUNNING)
        pending = sum(1 for j in snapshot.jobs if j.state is JobState.PENDING)
        title = Text(" Jobs ", style="bold reverse")
        title.append(
            f"  {len(rows)} shown of {len(snapshot.jobs)}: {running} running, {pending} pending"
        )
        if self.row_filter.active:
            title.append(f"  filter: {self.row_filter.text}", style="yellow")
        if self.selected:
            title.append(f"  {len(self.selected)} selected", style="magenta")
        self.query_one("#jobs-title", Static).update(title)

    def current_job_id(self) -> str | None:
        table = self.query_one("#jobs-table", DataTable)
        if not self._order or not 0 <= table.cursor_row < len(self._order):
            return None
        return self._order[table.cursor_row]

    def action_filter(self) -> None:
        show_filter(self.query_one("#jobs-filter", Input), self.row_filter.text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            self.row_filter = parse_filter(event.value)
        except FilterError as error:
            self.notify(str(error), severity="error")
            return
        event.input.remove_class("-shown")
        self.query_one("#jobs-table", DataTable).focus()
        self.apply_snapshot(self.dash.snapshot)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Keys can arrive before on_mount built the table; only "back" makes sense then.
        return self._columns_ready or action == "back"

    def action_back(self) -> None:
        if not self._columns_ready:
            close_screen(self)
            return
        box = self.query_one("#jobs-filter", Input)
        if box.has_class("-shown"):
            box.remove_class("-shown")
            self.query_one("#jobs-table", DataTable).focus()
        elif self.row_filter.active:
            self.row_filter = RowFilter()
            self.apply_snapshot(self.dash.snapshot)
        else:
            close_screen(self)

    def action_detail(self) -> None:
        job_id = self.current_job_id()
        job = self.dash.snapshot.job_by_id.get(job_id or "")
        if job is not None:
            self.app.push_screen(JobDetailScreen(job, self.dash.now()))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_detail()

    def action_toggle_select(self) -> None:
        job_id = self.current_job_id()
        if job_id is None:
            return
        self.selected.symmetric_difference_update({job_id})
        table = self.query_one("#jobs-table", DataTable)
        row = table.cursor_row
        self.apply_snapshot(self.dash.snapshot)
        table.move_cursor(row=min(row + 1, len(self._order) - 1), animate=False)

    def targets(self) -> list[str]:
        if self.selected:
            return [j for j in self._order if j in self.selected]
        job_id = self.current_job_id()
        return [job_id] if job_id else []
