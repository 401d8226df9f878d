"""The cluster summary line: nodes by state, GPUs, averages, jobs, cost."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from tui.app import format as fmt
from tui.summary import ClusterSummary


def summary_groups(summary: ClusterSummary) -> list[Text]:
    """The summary's parts; a line break only ever falls between two of them."""
    nodes = Text(f"Nodes {summary.nodes_total}", style="bold")
    states = [
        fmt.styled(f"{count} {state}", fmt.state_style(state))
        for state, count in summary.nodes_by_state.items()
    ]
    if states:
        nodes.append(" (")
        nodes.append_text(Text(", ").join(states))
        nodes.append(")")
    gpus = Text("GPUs ", style="bold")
    gpus.append(f"{summary.gpus_busy} busy, {summary.gpus_idle} idle, ")
    gpus.append(
        f"{summary.gpus_allocated_idle} alloc-idle",
        style="bold yellow" if summary.gpus_allocated_idle else "",
    )
    gpus.append(f" of {summary.gpus_total}")
    if summary.gpus_lost:
        gpus.append(f", {summary.gpus_lost} lost", style="bold red")
    util = summary.avg_utilization_pct
    temp = summary.avg_temperature_c
    averages = Text("avg ")
    averages.append("-" if util is None else f"{util:.0f}%")
    averages.append(" ")
    averages.append(
        "-" if temp is None else f"{temp:.0f}°C", style=fmt.threshold_style("temperature_c", temp)
    )
    if summary.memory_total_mib:
        mem_pct = 100.0 * summary.memory_used_mib / summary.memory_total_mib
        averages.append(f"  mem {mem_pct:.0f}%")
    cpus = Text("CPUs ", style="bold")
    cpus.append(f"{summary.cpus_alloc}/{summary.cpus_total}")
    jobs = Text("Jobs ", style="bold")
    jobs.append(f"{summary.jobs_running} run, {summary.jobs_pending} pend")
    cost = Text("Cost ", style="bold")
    cost.append(fmt.money(summary.cost_per_hour))
    cost.append(" idle ")
    cost.append(
        fmt.money(summary.idle_cost_per_hour),
        style="bold yellow" if summary.idle_cost_per_hour else "",
    )
    return [nodes, gpus, averages, cpus, jobs, cost]


def summary_text(summary: ClusterSummary, width: int | None = None) -> Text:
    """One line; narrower than that, lines broken between parts, never inside one."""
    text = Text(" ")
    used = 1
    for index, group in enumerate(summary_groups(summary)):
        gap = "  " if index else ""
        if width is not None and index and used + len(gap) + group.cell_len > width:
            text.append("\n ")
            used, gap = 1, ""
        text.append(gap)
        text.append_text(group)
        used += len(gap) + group.cell_len
    return text


def line_count(text: Text, width: int) -> int:
    return sum(-(-max(1, len(line)) // max(1, width)) for line in text.plain.split("\n"))


class SummaryLine(Widget):
    """Laid out for its own width at render time, so a resize re-breaks it between parts."""

    DEFAULT_CSS = """
    SummaryLine { height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._last: ClusterSummary | None = None

    def show(self, summary: ClusterSummary) -> None:
        if summary == self._last:
            return
        width = self.size.width
        before = self._lines(width)
        self._last = summary
        # Same height as before: no layout pass (~50 ms beside a 1,024-row table).
        self.refresh(layout=self._lines(width) != before)

    def _lines(self, width: int) -> int:
        if self._last is None or width <= 0:
            return 1
        return line_count(summary_text(self._last, width), width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._lines(width)

    def render(self) -> Text:
        if self._last is None:
            return Text("")
        return summary_text(self._last, self.size.width or None)
