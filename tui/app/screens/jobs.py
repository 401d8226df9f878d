"""An squeue-like job list (arrays folded, efficiency, cost, waste; sort and filter) and job
detail."""

from __future__ import annotations

import shlex
import sqlite3

from loguru import logger
from rich.table import Table
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Static

from tui.actions import Action, ActionError, ActionKind
from tui.agent.reasons import explain_reason
from tui.app import format as fmt
from tui.app.dash import DashAccess
from tui.app.errors import ContainedErrors
from tui.app.filtering import FilterError, RowFilter, parse_filter, sort_rows
from tui.app.job_rows import (
    ARRAY_PREFIX,
    FILTER_FIELDS,
    FILTER_FLAGS,
    JOB_COLUMNS,
    JobContext,
    JobRow,
    job_gpus,
    job_row,
    member_rows,
)
from tui.app.job_timeline import lifetime_window, start_ruler, timeline
from tui.app.screens.closing import close_screen
from tui.app.screens.job_output import JobOutputScreen
from tui.app.widgets.key_footer import KeyFooter
from tui.app.widgets.typeahead import is_filter_key, route_typeahead, show_filter
from tui.hostlist import compress_hostlist
from tui.job_arrays import group_arrays, split_array_id
from tui.job_efficiency import JobEfficiencyTracker
from tui.job_usage import JobEfficiency
from tui.model import ClusterSnapshot, Job, JobState
from tui.store import Store, StoreError
from tui.text import one_line


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
    fmt.add_plain_row(table, "Nodes", compress_hostlist(job.nodes) or "-")
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
    fmt.add_plain_row(table, "Priority", "-" if job.priority is None else str(job.priority))
    fmt.add_plain_row(table, "StdOut", job.stdout or "-")
    fmt.add_plain_row(table, "StdErr", job.stderr or "-")
    return table


def _clock(ts: float | None, now: float) -> str:
    return "-" if ts is None else f"{fmt.age(now - ts)} ago"


TIMELINE_WIDTH = 60
# A job on more nodes shows its first ones; the rest are named in the Slurm record.
TIMELINE_NODES = 16


def job_commands(job_id: str) -> str:
    """The commands cancel and requeue would run, as the operator would type them."""
    lines = []
    for kind in (ActionKind.CANCEL, ActionKind.REQUEUE):
        try:
            argv = Action(kind, (job_id,)).argv()
        except ActionError as error:
            return str(error)
        lines.extend(f"{kind.value:8} $ {shlex.join(command)}" for command in argv)
    return "\n".join(lines)


class JobDetailScreen(DashAccess, ModalScreen[None]):
    DEFAULT_CSS = """
    JobDetailScreen { align: center middle; }
    JobDetailScreen > VerticalScroll {
        width: 90%; max-width: 100; height: auto; max-height: 90%;
        border: thick $accent; background: $panel; padding: 1 2;
    }
    JobDetailScreen #job-commands { color: $text-accent; margin: 1 0; }
    """
    BINDINGS = [Binding("escape,q,enter", "app.pop_screen", "Close")]

    def __init__(self, job: Job, now: float) -> None:
        super().__init__()
        self.job = job
        self.now = now

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(job_detail_table(self.job, self.now))
            yield Static(job_commands(self.job.job_id), id="job-commands", markup=False)
            yield Static("", id="job-gpus", markup=False)

    def on_mount(self) -> None:
        self._load_timelines()

    @work(group="job-timelines", exclusive=True)
    async def _load_timelines(self) -> None:
        """Each of the job's GPUs over its life so far, from the history."""
        box = self.query_one("#job-gpus", Static)
        job = self.job
        if job.start_time is None or not job.gpu_indices:
            box.update("GPUs over the job's life: not started on GPUs yet")
            return
        history = self.dash.history
        if history is None:
            box.update("GPUs over the job's life: no GPU history here")
            return
        window_start, end = lifetime_window(job.start_time, self.now)
        label_width = max(
            len(f"{node} GPU {i}") for node, indices in job.gpu_indices.items() for i in indices
        )
        text = Text("GPU utilization over the job's life", style="bold")
        text.append(f"  ({fmt.duration(end - window_start)}, one column per ")
        text.append(f"{fmt.duration((end - window_start) / TIMELINE_WIDTH)})\n")
        text.append(" " * (label_width + 1))
        text.append(start_ruler(window_start, job.start_time, end, TIMELINE_WIDTH) + "\n")
        nodes = sorted(job.gpu_indices)[:TIMELINE_NODES]
        for node in nodes:
            try:
                series = await history.gpu_history(
                    node, "utilization_pct", window_start, end, TIMELINE_WIDTH * 2
                )
            except Exception as error:  # the history's failure is shown, never raised
                text.append(f"{node}: history not readable: {one_line(error)}\n", style="red")
                continue
            for index in job.gpu_indices[node]:
                label = f"{node} GPU {index}".ljust(label_width)
                points = series.get(index, [])
                line = timeline(points, window_start, end, TIMELINE_WIDTH)
                text.append(f"{label} ")
                text.append(line if line.strip() else "(no readings)", style="green")
                text.append("\n")
        if len(job.gpu_indices) > len(nodes):
            text.append(f"… and {len(job.gpu_indices) - len(nodes)} more nodes\n", style="dim")
        if self.is_attached:
            box.update(text)


class JobsTable(DataTable[Text | str]):
    """The job rows; keys typed after `/` go to the filter however fast they come."""

    def on_key(self, event: events.Key) -> None:
        screen = self.screen
        if not isinstance(screen, JobsScreen):
            return
        box = screen.query_one("#jobs-filter", Input)
        if not route_typeahead(box, event) and is_filter_key(event):
            show_filter(box, screen.row_filter.text)


def history_store(services: object) -> Store | None:
    """The history database this process reads, when it has one."""
    for candidate in (getattr(services, "history", None), getattr(services, "store", None)):
        if isinstance(candidate, Store):
            return candidate
    return None


class JobsScreen(DashAccess, ContainedErrors, Screen[None]):
    DEFAULT_CSS = """
    JobsScreen #jobs-title { height: 1; background: $boost; }
    JobsScreen DataTable { height: 1fr; }
    JobsScreen #jobs-filter { dock: bottom; display: none; }
    JobsScreen #jobs-filter.-shown { display: block; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="clears the filter first"),
        Binding(
            "slash",
            "filter",
            "Filter",
            tooltip="text, user:alice account: state:pd,r partition:, wasting (idle GPUs)",
        ),
        # Under the table's own (hidden) enter, so not in the footer: at 120 columns it
        # would push Help and Quit off the screen.
        Binding("enter", "detail", "Detail", tooltip="GPUs over the job's life, record, commands"),
        Binding("space", "toggle_select", "Select", tooltip="mark / unmark for a batch action"),
        Binding(
            "e",
            "toggle_expand",
            "Expand",
            tooltip="unfold / fold an array (a folded array's actions take all its tasks)",
        ),
        Binding("s", "cycle_sort", "Sort", tooltip="by the next column (or click a header)"),
        Binding("S", "reverse_sort", "Reverse", show=False, tooltip="the sort order"),
        Binding(
            "c", "copy_id", "Copy id", show=False, tooltip="to your clipboard (OSC 52, over SSH)"
        ),
        Binding("l", "output", "Output", tooltip="stdout / stderr, followed as they grow"),
        Binding("C", "app.on_selection('cancel')", "Cancel", tooltip="the selected jobs"),
        Binding("R", "app.on_selection('requeue')", "Requeue"),
        Binding("H", "app.on_selection('hold')", "Hold"),
        Binding("L", "app.on_selection('release')", "Release"),
    ]

    def __init__(self, initial_filter: str = "") -> None:
        super().__init__()
        # Parsed now, so the screen says what it shows from the moment it is pushed.
        self.row_filter = self._parse(initial_filter) if initial_filter else RowFilter()
        # Action targets: job ids, or an array's id for a whole (collapsed) array.
        self.selected: set[str] = set()
        self.expanded: set[str] = set()
        self.sort_column = "job_id"
        self.sort_reverse = False
        self.rows: list[JobRow] = []
        self.efficiency: dict[str, JobEfficiency] = {}
        self._tracker: JobEfficiencyTracker | None = None
        self._efficiency_running = False
        self._efficiency_again = False
        self._snapshot: ClusterSnapshot | None = None
        self._columns_ready = False

    @property
    def _order(self) -> list[str]:
        """The row keys, top to bottom."""
        return [row.key for row in self.rows]

    def compose(self) -> ComposeResult:
        yield Static("", id="jobs-title", markup=False)
        yield JobsTable(id="jobs-table", cursor_type="row")
        yield Input(
            placeholder="filter: user:NAME account: state: partition: wasting, text, regex,"
            " !invert",
            id="jobs-filter",
        )
        yield KeyFooter(show_command_palette=False)  # ":" and ctrl+p are in the help

    def on_mount(self) -> None:
        self._add_columns()
        self._columns_ready = True
        store = history_store(self.dash.services)
        if store is not None:
            self._tracker = JobEfficiencyTracker(store)
        self.apply_snapshot(self.dash.snapshot)
        self.query_one("#jobs-table", DataTable).focus()

    def _add_columns(self) -> None:
        table = self.query_one("#jobs-table", DataTable)
        table.clear(columns=True)
        table.add_column(" ", key="mark", width=1)
        arrow = "▼" if self.sort_reverse else "▲"
        for key, label in JOB_COLUMNS:
            table.add_column(f"{label} {arrow}" if key == self.sort_column else label, key=key)

    @staticmethod
    def _parse(text: str) -> RowFilter:
        return parse_filter(text, fields=FILTER_FIELDS, flags=FILTER_FLAGS)

    def apply_snapshot(self, snapshot: ClusterSnapshot) -> None:
        if not self._columns_ready:
            return  # a snapshot before on_mount: on_mount shows the latest one
        self._snapshot = snapshot
        self._show()
        self._refresh_efficiency()

    def _job_context(self, snapshot: ClusterSnapshot) -> JobContext:
        return JobContext(
            now=self.dash.now(),
            price_per_gpu_hour=self.dash.settings.cluster.gpu_hourly_price,
            efficiency=self.efficiency,
            gpus={gpu.key: gpu for gpu in snapshot.gpus},
            gpus_stale=snapshot.gpus_stale,
        )

    def _show(self) -> None:
        snapshot = self._snapshot
        if snapshot is None:
            return
        ctx = self._job_context(snapshot)
        groups = {}
        heads = []
        for group in group_arrays(snapshot.jobs):
            row = job_row(group, ctx)
            if self.row_filter.matches(row.haystack, row.values, row.flags):
                heads.append(row)
                groups[row.key] = group
        column = self.sort_column
        heads = sort_rows(heads, lambda r: r.sort_values.get(column), reverse=self.sort_reverse)
        rows: list[JobRow] = []
        for head in heads:
            rows.append(head)
            if head.is_array and head.target in self.expanded:
                rows.extend(member_rows(groups[head.key], ctx))
        targets = {row.target for row in rows}
        self.selected &= targets
        table = self.query_one("#jobs-table", DataTable)
        cursor_key = self.current_key()
        table.clear()
        self.rows = rows
        for row in rows:
            mark = Text("●", style="bold magenta") if row.target in self.selected else ""
            table.add_row(mark, *row.cells, key=row.key)
        order = self._order
        if cursor_key in order:
            table.move_cursor(row=order.index(cursor_key), animate=False)
        self._show_title(snapshot, len(heads))

    def _show_title(self, snapshot: ClusterSnapshot, shown: int) -> None:
        running = sum(1 for j in snapshot.jobs if j.state is JobState.RUNNING)
        pending = sum(1 for j in snapshot.jobs if j.state is JobState.PENDING)
        title = Text(" Jobs ", style="bold reverse")
        title.append(f"  {shown} shown: {running} running, {pending} pending")
        if self.row_filter.active:
            title.append(f"  filter: {self.row_filter.text}", style="yellow")
        if self.selected:
            title.append(f"  {len(self.selected)} selected", style="magenta")
        if self._tracker is None:
            title.append("  no GPU history here: utilization unknown", style="dim")
        self.query_one("#jobs-title", Static).update(title)

    @work(group="job-efficiency")
    async def _refresh_efficiency(self) -> None:
        """Per-job utilization from the history; one read at a time, never interrupted."""
        if self._tracker is None or self._snapshot is None:
            return
        if self._efficiency_running:
            self._efficiency_again = True
            return
        self._efficiency_running = True
        try:
            while True:
                self._efficiency_again = False
                try:
                    found = await self._tracker.efficiency(self._snapshot.jobs)
                except (StoreError, sqlite3.Error, ValueError) as error:  # ValueError: closed
                    logger.debug("job efficiency not read: {}", one_line(error))
                    return
                if found != self.efficiency:
                    self.efficiency = dict(found)
                    self._show()
                if not self._efficiency_again:
                    return
        finally:
            self._efficiency_running = False

    def current_row(self) -> JobRow | None:
        table = self.query_one("#jobs-table", DataTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def current_key(self) -> str | None:
        row = self.current_row()
        return None if row is None else row.key

    def current_job_id(self) -> str | None:
        """The highlighted job's id; an array's own id on a whole-array row."""
        row = self.current_row()
        return None if row is None else row.target

    def action_filter(self) -> None:
        show_filter(self.query_one("#jobs-filter", Input), self.row_filter.text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            self.row_filter = self._parse(event.value)
        except FilterError as error:
            self.notify(str(error), severity="error")
            return
        event.input.remove_class("-shown")
        self.query_one("#jobs-table", DataTable).focus()
        self._show()

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
            self._show()
        else:
            close_screen(self)

    def action_cycle_sort(self) -> None:
        keys = [key for key, _ in JOB_COLUMNS]
        position = keys.index(self.sort_column) if self.sort_column in keys else -1
        self.sort_by(keys[(position + 1) % len(keys)])
        self.notify(f"sorted by {dict(JOB_COLUMNS)[self.sort_column]}", timeout=2)

    def action_reverse_sort(self) -> None:
        self.sort_by(self.sort_column, reverse=not self.sort_reverse)

    def sort_by(self, column: str, *, reverse: bool = False) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._add_columns()
        self._show()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        column = str(event.column_key.value)
        if column not in dict(JOB_COLUMNS):
            return
        reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_by(column, reverse=reverse)

    def action_toggle_expand(self) -> None:
        row = self.current_row()
        if row is None:
            return
        array_id = row.target if row.is_array else _array_of(row.key)
        if array_id is None:
            self.notify(f"{row.target} is not an array job", timeout=2)
            return
        self.expanded.symmetric_difference_update({array_id})
        self._show()
        table = self.query_one("#jobs-table", DataTable)
        head = ARRAY_PREFIX + array_id
        if head in self._order:
            table.move_cursor(row=self._order.index(head), animate=False)

    def action_detail(self) -> None:
        row = self.current_row()
        if row is None or self._snapshot is None:
            return
        job = self._snapshot.job_by_id.get(row.key)
        if job is None and row.is_array:
            job = next((j for j in self._snapshot.jobs if _array_of(j.job_id) == row.target), None)
        if job is not None:
            self.app.push_screen(JobDetailScreen(job, self.dash.now()))

    def action_copy_id(self) -> None:
        job_id = self.current_job_id()
        if job_id is not None:
            self.app.copy_to_clipboard(job_id)
            self.notify(f"copied {job_id}", timeout=2)

    def action_output(self) -> None:
        row = self.current_row()
        if row is None or self._snapshot is None:
            return
        job = self._snapshot.job_by_id.get(row.key)
        if job is None:
            self.notify(f"{row.target} is an array: expand it (e) and pick a task", timeout=3)
            return
        self.app.push_screen(JobOutputScreen(job))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_detail()

    def action_toggle_select(self) -> None:
        row = self.current_row()
        if row is None:
            return
        self.selected.symmetric_difference_update({row.target})
        table = self.query_one("#jobs-table", DataTable)
        position = table.cursor_row
        self._show()
        table.move_cursor(row=min(position + 1, len(self.rows) - 1), animate=False)

    def targets(self) -> list[str]:
        if self.selected:
            return [row.target for row in self.rows if row.target in self.selected]
        row = self.current_row()
        return [row.target] if row else []


def _array_of(job_id: str) -> str | None:
    split = split_array_id(job_id)
    return None if split is None else split[0]
