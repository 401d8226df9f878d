"""One node: per-GPU history charts, its jobs and its Slurm record."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tui.app import format as fmt
from tui.app.dash import DashAccess
from tui.app.errors import ContainedErrors
from tui.app.rows import stale_gpu_age, stale_gpu_note
from tui.app.widgets.key_footer import KeyFooter
from tui.model import ClusterSnapshot, Node
from tui.sources.base import GpuSeries
from tui.text import one_line

RANGES: tuple[tuple[str, float], ...] = (
    ("15m", 900.0),
    ("1h", 3600.0),
    ("6h", 6 * 3600.0),
    ("24h", 86400.0),
    ("7d", 7 * 86400.0),
)
CHARTS: tuple[tuple[str, str], ...] = (
    ("utilization_pct", "Utilization %"),
    ("memory_pct", "Memory %"),
    ("temperature_c", "Temperature °C"),
    ("power_w", "Power W"),
)
MAX_POINTS = 120
# Fixed y ranges, so an idle GPU reads 0 on a 0-100 scale rather than filling the chart.
PERCENT_METRICS = ("utilization_pct", "memory_pct")
TEMPERATURE_TOP_C = 100.0
CHART_RANGE = "chart range"
PICK_GPU = "charts show one GPU (previous / next), then all again"


def time_axis(span_s: float) -> tuple[float, list[float], list[str]]:
    """(seconds per x unit, tick positions, tick labels) for a chart ending at now."""
    unit_s, suffix = (60.0, "m") if span_s <= 3600 else (3600.0, "h")
    if span_s > 86400:
        unit_s, suffix = 86400.0, "d"
    extent = span_s / unit_s
    ticks = [-extent + extent * i / 4 for i in range(5)]
    labels = [f"{tick:g}{suffix}" if tick else "now" for tick in ticks]
    return unit_s, ticks, labels


def y_limits(metric: str, values: list[float]) -> tuple[float, float]:
    """0-100 for percentages, 0 to at least 100 °C, 0 to the highest power seen (or 1 W)."""
    top = max(values, default=0.0)
    if metric in PERCENT_METRICS:
        return 0.0, 100.0
    if metric == "temperature_c":
        return 0.0, max(TEMPERATURE_TOP_C, top)
    return 0.0, max(1.0, top * 1.1)


def slurm_record(node: Node) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    state = node.display_state
    rows = [
        (
            "State",
            fmt.styled(
                f"{state} ({node.state.value}{'+' if node.flags else ''}"
                f"{'+'.join(sorted(node.flags))})",
                fmt.state_style(state),
            ),
        ),
        ("Reason", node.reason or "-"),
        ("Partitions", ",".join(node.partitions) or "-"),
        ("CPUs", f"{node.cpus_alloc}/{node.cpus_total}"),
        ("Memory", f"{fmt.memory_mb(node.mem_alloc_mb)}/{fmt.memory_mb(node.mem_total_mb)}"),
        ("GPUs", f"{node.gpus_alloc}/{node.gpus_total} {node.gpu_model}"),
    ]
    for key, value in rows:
        fmt.add_plain_row(table, key, value)
    return table


def jobs_table(snapshot: ClusterSnapshot, node: str, now: float) -> Table | Text:
    jobs = snapshot.jobs_on(node)
    if not jobs:
        return Text("no jobs on this node", style="dim")
    table = Table(box=None, header_style="bold")
    for column in ("JOBID", "USER", "STATE", "TIME", "GPUS HERE", "NAME"):
        table.add_column(column)
    for job in jobs:
        elapsed = None if job.start_time is None else now - job.start_time
        indices = job.gpu_indices.get(node, ())
        fmt.add_plain_row(
            table,
            job.job_id,
            job.user,
            fmt.styled(job.state.value, fmt.JOB_STATE_STYLES.get(job.state.value, "")),
            fmt.duration(elapsed),
            ",".join(str(i) for i in indices) or str(job.gpus_per_node or "-"),
            fmt.truncate(job.name, 30),
        )
    return table


class NodeDetailScreen(DashAccess, ContainedErrors, Screen[None]):
    DEFAULT_CSS = """
    NodeDetailScreen #detail-title { height: 1; background: $boost; }
    NodeDetailScreen Grid { grid-size: 2 2; height: 2fr; min-height: 16; }
    NodeDetailScreen PlotextPlot { height: 1fr; }
    NodeDetailScreen #detail-bottom { height: 1fr; }
    NodeDetailScreen #detail-record { width: 40; padding: 0 1; }
    NodeDetailScreen #detail-jobs { width: 1fr; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("1", "range(0)", "15m", tooltip=CHART_RANGE),
        Binding("2", "range(1)", "1h", tooltip=CHART_RANGE),
        Binding("3", "range(2)", "6h", tooltip=CHART_RANGE),
        Binding("4", "range(3)", "24h", tooltip=CHART_RANGE),
        Binding("5", "range(4)", "7d", tooltip=CHART_RANGE),
        Binding("left_square_bracket", "pick_gpu(-1)", "Prev GPU", tooltip=PICK_GPU),
        Binding("right_square_bracket", "pick_gpu(1)", "Next GPU", tooltip=PICK_GPU),
        Binding("d", "app.on_selection('drain')", "Drain", tooltip="this node (asks for a reason)"),
        Binding("r", "app.on_selection('resume')", "Resume", tooltip="this node"),
    ]

    def __init__(self, node: str, range_index: int = 1) -> None:
        super().__init__()
        self.node = node
        self.range_index = range_index
        self.series: dict[str, GpuSeries] = {}
        # None: every GPU on the charts; else the one GPU index shown.
        self.gpu_pick: int | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="detail-title", markup=False)
        with Grid():
            for metric, title in CHARTS:
                plot = PlotextPlot(id=f"chart-{metric}")
                plot.border_title = title
                yield plot
        with Horizontal(id="detail-bottom"):
            with VerticalScroll(id="detail-record"):
                yield Static("", id="record", markup=False)
            with VerticalScroll(id="detail-jobs"):
                yield Static("", id="jobs", markup=False)
        yield KeyFooter(show_command_palette=False)  # ":" and ctrl+p are in the help

    def on_mount(self) -> None:
        self.apply_snapshot(self.dash.snapshot)
        self.load_history()

    def apply_snapshot(self, snapshot: ClusterSnapshot) -> None:
        now = self.dash.now()
        node = snapshot.node_by_name.get(self.node)
        label, _ = RANGES[self.range_index]
        title = Text(f" {self.node} ", style="bold reverse")
        title.append(f"  history: {label}  (1-5: 15m 1h 6h 24h 7d)", style="dim")
        picked = "all GPUs" if self.gpu_pick is None else f"GPU{self.gpu_pick}"
        title.append(f"  showing: {picked}  ([ ] pick one GPU)", style="dim")
        stale_age = stale_gpu_age(snapshot)
        if stale_age is not None:
            title.append(f"  {stale_gpu_note(stale_age)}", style="bold yellow")
        self.query_one("#detail-title", Static).update(title)
        record = self.query_one("#record", Static)
        record.update(slurm_record(node) if node else Text("node not in Slurm's list", "red"))
        self.query_one("#jobs", Static).update(jobs_table(snapshot, self.node, now))

    def action_range(self, index: int) -> None:
        self.range_index = index
        self.apply_snapshot(self.dash.snapshot)
        self.load_history()

    def action_pick_gpu(self, step: int) -> None:
        """Cycle all GPUs -> GPU0 -> ... -> GPUn -> all ([ goes the other way)."""
        indices = sorted({i for series in self.series.values() for i in series}) or list(
            range(max((g.index + 1 for g in self.dash.snapshot.gpus_of(self.node)), default=0))
        )
        if not indices:
            return
        choices: list[int | None] = [None, *indices]
        position = choices.index(self.gpu_pick) if self.gpu_pick in choices else 0
        self.gpu_pick = choices[(position + step) % len(choices)]
        self.apply_snapshot(self.dash.snapshot)
        for metric, _ in CHARTS:
            self._draw(metric, None)

    @work(exclusive=True, group="history")
    async def load_history(self) -> None:
        history = self.dash.history
        _, span = RANGES[self.range_index]
        end = self.dash.now()
        self.series = {}
        if history is None:
            self._draw_all("no history source")
            return
        for metric, _ in CHARTS:
            try:
                self.series[metric] = await history.gpu_history(
                    self.node, metric, end - span, end, MAX_POINTS
                )
            except Exception as error:  # a history failure is shown, not raised
                self._draw(metric, one_line(error))
                continue
            self._draw(metric, None)

    def _draw_all(self, message: str) -> None:
        for metric, _ in CHARTS:
            self._draw(metric, message)

    def _draw(self, metric: str, message: str | None) -> None:
        plot_widget = self.query_one(f"#chart-{metric}", PlotextPlot)
        plt = plot_widget.plt
        plt.clear_data()
        plt.clear_figure()
        series = {
            index: points
            for index, points in self.series.get(metric, {}).items()
            if self.gpu_pick is None or index == self.gpu_pick
        }
        end = self.dash.now()
        _, span = RANGES[self.range_index]
        unit_s, ticks, labels = time_axis(span)
        picked = "all GPUs" if self.gpu_pick is None else f"GPU{self.gpu_pick}"
        if message or not any(series.values()):
            plt.title(message or f"{dict(CHARTS)[metric]}: no data in this range")
        else:
            plt.title(f"{dict(CHARTS)[metric]} · {picked}")
        values: list[float] = []
        for _index, points in sorted(series.items()):
            if not points:
                continue
            xs = [(t - end) / unit_s for t, _ in points]
            ys = [v for _, v in points]
            values += ys
            plt.plot(xs, ys, marker="braille")
        plt.xlim(ticks[0], ticks[-1])
        plt.xticks(ticks, labels)
        plt.ylim(*y_limits(metric, values))
        plot_widget.border_title = f"{dict(CHARTS)[metric]} · {picked}"
        plot_widget.refresh()
