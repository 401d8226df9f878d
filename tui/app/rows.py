"""Snapshot objects -> table rows (cell text + sort values), as pure functions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text

from tui.app import format as fmt
from tui.model import ClusterSnapshot, Gpu, Job, Node, is_allocated_idle

# What an operator scans first comes first: at 80 columns, state, GPUs, utilization and
# jobs are on screen; the reason, CPUs and memory follow (scroll right for the rest).
NODE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "NODE"),
    ("state", "STATE"),
    ("gpus", "GPUS"),
    ("util", "GPU UTIL"),
    ("jobs", "JOBS"),
    ("reason", "REASON"),
    ("cpus", "CPUS"),
    ("mem", "MEM"),
    ("partition", "PARTITION"),
)
UTIL_BAR_WIDTH = 10
REASON_WIDTH = 24
JOBS_WIDTH = 18


class NodeRow:
    """One node's row. The styled cells are built on first use: only rows that are drawn
    pay for them (all 1,024 rows cost ~14 ms; the ~45 on screen well under 1 ms)."""

    __slots__ = ("_cells", "_make_cells", "haystack", "lengths", "name", "partition", "sort_values")

    def __init__(
        self,
        name: str,
        make_cells: Callable[[], tuple[Text, ...]],
        sort_values: dict[str, Any],
        haystack: str,
        partition: str,
        lengths: tuple[int, ...],
    ) -> None:
        self.name = name
        self._make_cells = make_cells
        self._cells: tuple[Text, ...] | None = None
        self.sort_values = sort_values
        self.haystack = haystack
        self.partition = partition
        # Each cell's width in terminal cells, for column sizing without building the cells.
        self.lengths = lengths

    @property
    def cells(self) -> tuple[Text, ...]:
        if self._cells is None:
            self._cells = self._make_cells()
        return self._cells


def stale_gpu_age(snapshot: ClusterSnapshot) -> str | None:
    """How old the GPU readings are ('3m', '?' when unknown) when they are stale, else None."""
    if not snapshot.gpus_stale:
        return None
    if snapshot.gpus_taken_at is None:
        return "?"
    return fmt.age(snapshot.taken_at - snapshot.gpus_taken_at)


def stale_gpu_note(age: str) -> str:
    return f"GPU readings stale, taken {age} ago"


def mean_utilization(gpus: Sequence[Gpu]) -> float | None:
    values = [g.utilization_pct for g in gpus if g.utilization_pct is not None]
    return sum(values) / len(values) if values else None


def gpu_figures(gpus: Sequence[Gpu]) -> tuple[float | None, int]:
    """(mean utilization, allocated-but-idle count) in one pass."""
    total = 0.0
    count = 0
    idle_allocated = 0
    for gpu in gpus:
        util = gpu.utilization_pct
        if util is not None:
            total += util
            count += 1
            if gpu.job_id is not None and is_allocated_idle(gpu):
                idle_allocated += 1
    return (total / count if count else None), idle_allocated


def node_row(
    node: Node,
    gpus: Sequence[Gpu],
    jobs: Sequence[Job],
    figures: tuple[float | None, int] | None = None,
    stale_age: str | None = None,
) -> NodeRow:
    util, idle_allocated = figures or gpu_figures(gpus)
    state = node.display_state
    job_ids = ",".join(j.job_id for j in jobs)
    partition = node.partitions[0] if node.partitions else ""
    partitions = ",".join(node.partitions)
    reason = fmt.truncate(node.reason, REASON_WIDTH)
    jobs_text = fmt.truncate(job_ids, JOBS_WIDTH)
    gpus_text = fmt.fraction(node.gpus_alloc, node.gpus_total)
    cpus_text = fmt.fraction(node.cpus_alloc, node.cpus_total)
    mem_text = f"{fmt.memory_mb(node.mem_alloc_mb)}/{fmt.memory_mb(node.mem_total_mb)}"
    util_tail = f" {fmt.percent(util)}%"
    idle_mark = f" {idle_allocated}⚠" if idle_allocated else ""
    stale_mark = f" stale {stale_age}" if stale_age is not None and gpus else ""

    def make_cells() -> tuple[Text, ...]:
        util_text = Text(fmt.bar(util, UTIL_BAR_WIDTH), style=_util_style(util))
        util_text.append(util_tail)
        if idle_mark:
            util_text.append(idle_mark, style="bold yellow")
        if stale_mark:
            util_text.stylize("dim")
            util_text.append(stale_mark, style="yellow")
        # Text, never str: a reason holding "[...]" must not be read as markup.
        return (
            Text(node.name),
            fmt.styled(state, fmt.state_style(state)),
            Text(gpus_text),
            util_text,
            Text(jobs_text),
            Text(reason),
            Text(cpus_text),
            Text(mem_text),
            Text(partitions),
        )

    lengths = (
        len(node.name),
        len(state),
        len(gpus_text),
        UTIL_BAR_WIDTH + len(util_tail) + len(idle_mark) + len(stale_mark),
        len(jobs_text),
        len(reason),
        len(cpus_text),
        len(mem_text),
        len(partitions),
    )
    sort_values = {
        "name": node.name,
        "state": state,
        "reason": node.reason or None,
        "gpus": node.gpus_alloc,
        "cpus": node.cpus_alloc,
        "mem": node.mem_alloc_mb,
        "util": util,
        "jobs": len(jobs),
        "partition": partition,
    }
    haystack = " ".join((node.name, state, node.reason, job_ids, partitions, node.gpu_model))
    return NodeRow(node.name, make_cells, sort_values, haystack, partition, lengths)


def _util_style(util: float | None) -> str:
    if util is None:
        return "dim"
    if util < 5:
        return "dim"
    if util < 50:
        return "cyan"
    return "green"
