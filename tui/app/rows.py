"""Snapshot objects -> table rows (cell text + sort values), as pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.segment import Segment
from rich.text import Text

from tui.app import format as fmt
from tui.model import ALLOCATED_IDLE_BELOW_PCT, ClusterSnapshot, Gpu, Job, Node

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
UTIL_COLUMN = [key for key, _ in NODE_COLUMNS].index("util")
UTIL_BAR_WIDTH = 10
REASON_WIDTH = 24
JOBS_WIDTH = 18


class NodeFacts:
    """What a node's row shows from Slurm (its record and its jobs).

    Kept across snapshots while the record and jobs are unchanged: only the GPU utilization
    cell moves on most snapshots. The styled cells are built on first use, so only rows
    that are drawn pay for them (all 1,024 rows cost ~14 ms; the ~45 on screen under 1 ms).
    """

    __slots__ = (
        "_cells",
        "haystack",
        "jobs",
        "lengths",
        "name",
        "node",
        "partition",
        "partitions",
        "segments",
        "sort_values",
        "state",
        "texts",
    )

    def __init__(self, node: Node, jobs: Sequence[Job]) -> None:
        self.node = node
        self.jobs = jobs
        self.name = node.name
        self.state = state = node.display_state
        job_ids = ",".join(j.job_id for j in jobs)
        self.partition = node.partitions[0] if node.partitions else ""
        self.partitions = partitions = ",".join(node.partitions)
        # The plain text of every column but the utilization, in NODE_COLUMNS order.
        self.texts: tuple[str, ...] = (
            node.name,
            state,
            fmt.fraction(node.gpus_alloc, node.gpus_total),
            fmt.truncate(job_ids, JOBS_WIDTH),
            fmt.truncate(node.reason, REASON_WIDTH),
            fmt.fraction(node.cpus_alloc, node.cpus_total),
            f"{fmt.memory_mb(node.mem_alloc_mb)}/{fmt.memory_mb(node.mem_total_mb)}",
            partitions,
        )
        self.lengths = tuple(len(text) for text in self.texts)
        self.sort_values: dict[str, Any] = {
            "name": node.name,
            "state": state,
            "reason": node.reason or None,
            "gpus": node.gpus_alloc,
            "cpus": node.cpus_alloc,
            "mem": node.mem_alloc_mb,
            "jobs": len(jobs),
            "partition": self.partition,
        }
        haystack = (node.name, state, node.reason, job_ids, partitions, node.gpu_model)
        self.haystack = " ".join(haystack)
        self._cells: tuple[Text, ...] | None = None
        # The cells as drawn, kept here by the table that draws them.
        self.segments: list[tuple[list[Segment], int]] | None = None

    def same_as(self, node: Node, jobs: Sequence[Job]) -> bool:
        # The same objects while Slurm was not read again: no field-by-field comparison.
        return (self.node is node or self.node == node) and (self.jobs is jobs or self.jobs == jobs)

    @property
    def cells(self) -> tuple[Text, ...]:
        """Every cell but the utilization, styled (Text, never str: a reason holding "[...]"
        must not be read as markup)."""
        if self._cells is None:
            name, state, *rest = self.texts
            self._cells = (Text(name), fmt.styled(state, fmt.state_style(state)))
            self._cells += tuple(Text(text) for text in rest)
        return self._cells


UtilShown = tuple[int | None, str, str, int, str]


def util_shown(util: float | None, idle_allocated: int, stale_age: str | None) -> UtilShown:
    """What the GPU UTIL cell shows: (bar cells filled, percent tail, style, alloc-idle GPUs,
    stale mark). Two readings that show the same keep the row as it is."""
    filled = None if util is None else round(max(0.0, min(100.0, util)) / 100.0 * UTIL_BAR_WIDTH)
    stale_mark = "" if stale_age is None else f" stale {stale_age}"
    return filled, f" {fmt.percent(util)}%", _util_style(util), idle_allocated, stale_mark


class NodeRow:
    """One node's row: its Slurm facts and its GPU utilization cell.

    What the cell shows is worked out only for rows that are drawn: a snapshot makes a new
    row for every node whose readings moved, and most of them are off screen.
    """

    __slots__ = (
        "_cells",
        "_shown",
        "_util_cell",
        "facts",
        "idle_allocated",
        "stale_age",
        "util",
        "util_length",
    )

    def __init__(
        self,
        facts: NodeFacts,
        util: float | None,
        idle_allocated: int = 0,
        stale_age: str | None = None,
    ) -> None:
        self.facts = facts
        # The mean utilization, for sorting; it may move while what is shown stays the same.
        self.util = util
        self.idle_allocated = idle_allocated
        self.stale_age = stale_age
        self._shown: UtilShown | None = None
        # The utilization cell's width in terminal cells, as util_shown would make it.
        tail = 5 if util is None or -99.5 < util < 999.5 else len(fmt.percent(util)) + 2
        idle_mark = len(str(idle_allocated)) + 2 if idle_allocated else 0
        stale_mark = 0 if stale_age is None else len(stale_age) + 7
        self.util_length = UTIL_BAR_WIDTH + tail + idle_mark + stale_mark
        self._cells: tuple[Text, ...] | None = None
        self._util_cell: Text | None = None

    def same_readings(self, util: float | None, idle_allocated: int, stale_age: str | None) -> bool:
        return (
            self.util == util
            and self.idle_allocated == idle_allocated
            and self.stale_age == stale_age
        )

    @property
    def shown(self) -> UtilShown:
        """What the utilization cell shows: rows that show the same draw the same line."""
        if self._shown is None:
            self._shown = util_shown(self.util, self.idle_allocated, self.stale_age)
        return self._shown

    @property
    def name(self) -> str:
        return self.facts.name

    @property
    def haystack(self) -> str:
        return self.facts.haystack

    @property
    def partition(self) -> str:
        return self.facts.partition

    def sort_value(self, column: str) -> Any:
        return self.util if column == "util" else self.facts.sort_values.get(column)

    @property
    def sort_values(self) -> dict[str, Any]:
        return self.facts.sort_values | {"util": self.util}

    @property
    def lengths(self) -> tuple[int, ...]:
        """Each cell's width in terminal cells, for column sizing without building the cells."""
        static = self.facts.lengths
        return (*static[:UTIL_COLUMN], self.util_length, *static[UTIL_COLUMN:])

    @property
    def cells(self) -> tuple[Text, ...]:
        if self._cells is None:
            static = self.facts.cells
            self._cells = (*static[:UTIL_COLUMN], self.util_cell, *static[UTIL_COLUMN:])
        return self._cells

    @property
    def util_cell(self) -> Text:
        if self._util_cell is None:
            self._util_cell = util_cell(self.shown)
        return self._util_cell


def util_cell(shown: UtilShown) -> Text:
    """The GPU UTIL cell: a function of what it shows, so rows that show the same share it."""
    filled, tail, style, idle_allocated, stale_mark = shown
    text = Text(fmt.filled_bar(filled, UTIL_BAR_WIDTH), style=style)
    text.append(tail)
    if idle_allocated:
        text.append(f" {idle_allocated}⚠", style="bold yellow")
    if stale_mark:
        text.stylize("dim")
        text.append(stale_mark, style="yellow")
    return text


def stale_gpu_age(snapshot: ClusterSnapshot) -> str | None:
    """How old the GPU readings are ('3m', '?' when unknown) when they are stale, else None."""
    if not snapshot.gpus_stale:
        return None
    if snapshot.gpus_taken_at is None:
        return "?"
    return fmt.age(snapshot.taken_at - snapshot.gpus_taken_at)


def stale_gpu_note(age: str) -> str:
    return f"GPU readings stale, taken {age} ago"


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
            if util < ALLOCATED_IDLE_BELOW_PCT and gpu.job_id is not None:
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
    return NodeRow(NodeFacts(node, jobs), util, idle_allocated, stale_age if gpus else None)


def _util_style(util: float | None) -> str:
    if util is None:
        return "dim"
    if util < 5:
        return "dim"
    if util < 50:
        return "cyan"
    return "green"
