"""The cluster summary line: nodes by state, GPUs, averages, jobs, cost."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.app import format as fmt
from tui.summary import ClusterSummary


def summary_text(summary: ClusterSummary) -> Text:
    text = Text(" ")
    text.append(f"Nodes {summary.nodes_total}", style="bold")
    states = [
        fmt.styled(f"{count} {state}", fmt.state_style(state))
        for state, count in summary.nodes_by_state.items()
    ]
    if states:
        text.append(" (")
        text.append_text(Text(", ").join(states))
        text.append(")")
    text.append("  GPUs ", style="bold")
    text.append(f"{summary.gpus_busy} busy, {summary.gpus_idle} idle, ")
    text.append(
        f"{summary.gpus_allocated_idle} alloc-idle",
        style="bold yellow" if summary.gpus_allocated_idle else "",
    )
    text.append(f" of {summary.gpus_total}")
    util = summary.avg_utilization_pct
    temp = summary.avg_temperature_c
    text.append("  avg ")
    text.append("-" if util is None else f"{util:.0f}%")
    text.append(" ")
    text.append(
        "-" if temp is None else f"{temp:.0f}°C", style=fmt.threshold_style("temperature_c", temp)
    )
    if summary.memory_total_mib:
        mem_pct = 100.0 * summary.memory_used_mib / summary.memory_total_mib
        text.append(f"  mem {mem_pct:.0f}%")
    text.append("  CPUs ", style="bold")
    text.append(f"{summary.cpus_alloc}/{summary.cpus_total}")
    text.append("  Jobs ", style="bold")
    text.append(f"{summary.jobs_running} run, {summary.jobs_pending} pend")
    text.append("  Cost ", style="bold")
    text.append(fmt.money(summary.cost_per_hour))
    text.append(" idle ")
    text.append(
        fmt.money(summary.idle_cost_per_hour),
        style="bold yellow" if summary.idle_cost_per_hour else "",
    )
    return text


class SummaryLine(Static):
    DEFAULT_CSS = """
    SummaryLine { height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._last: ClusterSummary | None = None
        self._lines = 0

    def show(self, summary: ClusterSummary) -> None:
        if summary == self._last:
            return
        self._last = summary
        text = summary_text(summary)
        # Same height as before (one line, or the same wrap): no layout pass (~50 ms at 1,024).
        lines = 1 + len(text.plain) // max(1, self.size.width or 1)
        self.update(text, layout=lines != self._lines)
        self._lines = lines
