"""The cluster summary line: nodes by state, GPUs, averages, jobs, cost."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from tui.app import format as fmt
from tui.summary import ClusterSummary

# Most lines a narrow terminal gives the summary before it uses its compact wording.
MAX_LINES = 2
# What the compact summary leaves out first when two lines are still too few.
LEAST_NEEDED = ("memory", "cpus", "averages")
# sinfo's short state names, which operators read in its default output.
SHORT_STATES = {
    "mixed": "mix",
    "allocated": "alloc",
    "drained": "drain",
    "draining": "drng",
    "completing": "comp",
    "powered down": "pow_dn",
    "not responding": "no_resp",
    "future": "futr",
    "unknown": "unk",
}


@dataclass(frozen=True, slots=True)
class Group:
    """One figure of the summary: a line break may fall between its atoms, never inside one."""

    atoms: tuple[Text, ...]
    joiner: str = " "


def _state_texts(summary: ClusterSummary, name: Callable[[str], str]) -> list[Text]:
    return [
        fmt.styled(f"{count} {name(state)}", fmt.state_style(state))
        for state, count in summary.nodes_by_state.items()
    ]


def _alloc_idle(summary: ClusterSummary) -> Text:
    return Text(
        f"{summary.gpus_allocated_idle} alloc-idle",
        style="bold yellow" if summary.gpus_allocated_idle else "",
    )


def _temperature(summary: ClusterSummary) -> Text:
    temp = summary.avg_temperature_c
    return Text(
        "-" if temp is None else f"{temp:.0f}°C",
        style=fmt.threshold_style("temperature_c", temp),
    )


def _memory_pct(summary: ClusterSummary) -> str | None:
    if not summary.memory_total_mib:
        return None
    return f"{100.0 * summary.memory_used_mib / summary.memory_total_mib:.0f}%"


def _idle_cost(summary: ClusterSummary) -> Text:
    return Text(
        fmt.money(summary.idle_cost_per_hour),
        style="bold yellow" if summary.idle_cost_per_hour else "",
    )


def _short_money(per_hour: float) -> str:
    return fmt.money(per_hour) if per_hour < 100 else f"${per_hour:,.0f}/h"


def _labelled(label: str, *rest: str | Text) -> Text:
    text = Text(label, style="bold")
    for piece in rest:
        text.append_text(piece if isinstance(piece, Text) else Text(piece))
    return text


def summary_groups(summary: ClusterSummary) -> list[Group]:
    """The summary in full words, as wide terminals show it on one line."""
    nodes = _labelled(f"Nodes {summary.nodes_total}")
    states = _state_texts(summary, lambda state: state)
    if states:
        nodes.append(" (")
        nodes.append_text(Text(", ").join(states))
        nodes.append(")")
    gpus = _labelled(
        "GPUs ", f"{summary.gpus_busy} busy, {summary.gpus_idle} idle, ", _alloc_idle(summary)
    )
    gpus.append(f" of {summary.gpus_total}")
    if summary.gpus_lost:
        gpus.append(f", {summary.gpus_lost} lost", style="bold red")
    util = summary.avg_utilization_pct
    averages = Text("avg ")
    averages.append("-" if util is None else f"{util:.0f}%")
    averages.append(" ")
    averages.append_text(_temperature(summary))
    memory = _memory_pct(summary)
    if memory is not None:
        averages.append(f"  mem {memory}")
    cpus = _labelled("CPUs ", f"{summary.cpus_alloc}/{summary.cpus_total}")
    jobs = _labelled("Jobs ", f"{summary.jobs_running} run, {summary.jobs_pending} pend")
    cost = _labelled("Cost ", fmt.money(summary.cost_per_hour), " idle ", _idle_cost(summary))
    return [Group((part,)) for part in (nodes, gpus, averages, cpus, jobs, cost)]


def compact_groups(summary: ClusterSummary, drop: int = 0) -> list[Group]:
    """Short words for narrow terminals: Slurm's figures first, then the GPUs' and the cost.

    `drop` leaves out that many of the least needed figures (memory, CPUs, averages).
    """
    nodes = [_labelled(f"Nodes {summary.nodes_total}:")]
    nodes += _state_texts(summary, lambda state: SHORT_STATES.get(state, state))
    jobs = _labelled("Jobs ", f"{summary.jobs_running} run {summary.jobs_pending} pend")
    cpus = _labelled("CPUs ", f"{summary.cpus_alloc}/{summary.cpus_total}")
    gpus = _labelled(
        f"GPUs {summary.gpus_total}: ",
        f"{summary.gpus_busy} busy {summary.gpus_idle} idle ",
        _alloc_idle(summary),
    )
    if summary.gpus_lost:
        gpus.append(f" {summary.gpus_lost} lost", style="bold red")
    util = summary.avg_utilization_pct
    averages = Text(f"avg {'-' if util is None else f'{util:.0f}%'} ")
    averages.append_text(_temperature(summary))
    memory = _memory_pct(summary)
    cost = Text(_short_money(summary.cost_per_hour))
    cost.append(" idle ")
    cost.append(
        _short_money(summary.idle_cost_per_hour),
        style="bold yellow" if summary.idle_cost_per_hour else "",
    )
    parts = {"jobs": jobs, "cpus": cpus, "gpus": gpus, "averages": averages}
    if memory is not None:
        parts["memory"] = Text(f"mem {memory}")
    parts["cost"] = cost
    for name in LEAST_NEEDED[:drop]:
        parts.pop(name, None)
    return [Group(tuple(nodes))] + [Group((part,)) for part in parts.values()]


def layout(groups: Sequence[Group], width: int | None) -> Text:
    """Groups two spaces apart; narrower than that, lines broken between atoms only."""
    text = Text(" ")
    used = 1
    first = True
    for group in groups:
        for position, atom in enumerate(group.atoms):
            gap = "" if first else (group.joiner if position else "  ")
            first = False
            if width is not None and used > 1 and used + len(gap) + atom.cell_len > width:
                text.append("\n ")
                used, gap = 1, ""
            text.append(gap)
            text.append_text(atom)
            used += len(gap) + atom.cell_len
    return text


def summary_text(summary: ClusterSummary, width: int | None = None) -> Text:
    """One line; narrower, at most two in short words when they fit, broken between parts."""
    full = layout(summary_groups(summary), width)
    if width is None or line_count(full, width) <= MAX_LINES:
        return full
    for drop in range(len(LEAST_NEEDED) + 1):
        compact = layout(compact_groups(summary, drop), width)
        if line_count(compact, width) <= MAX_LINES:
            return compact
    return compact


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
        # The text laid out for one width: show, the height and the render all read it.
        self._laid_out: tuple[ClusterSummary, int, Text] | None = None

    def show(self, summary: ClusterSummary) -> None:
        if summary == self._last:
            return
        width = self.size.width
        before = self._lines(width)
        self._last = summary
        # Same height as before: no layout pass (~50 ms beside a 1,024-row table).
        self.refresh(layout=self._lines(width) != before)

    def _text(self, width: int) -> Text:
        assert self._last is not None
        laid_out = self._laid_out
        if laid_out is None or laid_out[0] is not self._last or laid_out[1] != width:
            laid_out = self._laid_out = (self._last, width, summary_text(self._last, width or None))
        return laid_out[2]

    def _lines(self, width: int) -> int:
        if self._last is None or width <= 0:
            return 1
        return line_count(self._text(width), width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._lines(width)

    def render(self) -> Text:
        if self._last is None:
            return Text("")
        return self._text(self.size.width)
