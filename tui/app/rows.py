"""Snapshot objects -> table rows (cell text + sort values), as pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from tui.app import format as fmt
from tui.model import Gpu, Job, Node, is_allocated_idle

NODE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "NODE"),
    ("state", "STATE"),
    ("reason", "REASON"),
    ("gpus", "GPUS"),
    ("cpus", "CPUS"),
    ("mem", "MEM"),
    ("util", "GPU UTIL"),
    ("jobs", "JOBS"),
    ("partition", "PARTITION"),
)
UTIL_BAR_WIDTH = 10
REASON_WIDTH = 24
JOBS_WIDTH = 18


@dataclass(frozen=True, slots=True)
class NodeRow:
    name: str
    cells: tuple[Text | str, ...]
    sort_values: dict[str, Any]
    haystack: str
    partition: str


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
) -> NodeRow:
    util, idle_allocated = figures or gpu_figures(gpus)
    state = node.display_state
    util_text = Text(fmt.bar(util, UTIL_BAR_WIDTH), style=_util_style(util))
    util_text.append(f" {fmt.percent(util)}%")
    if idle_allocated:
        util_text.append(f" {idle_allocated}⚠", style="bold yellow")
    job_ids = ",".join(j.job_id for j in jobs)
    partition = node.partitions[0] if node.partitions else ""
    gpus_text = fmt.fraction(node.gpus_alloc, node.gpus_total)
    # Text, never str: DataTable parses str cells as markup (slow, and a reason holding
    # "[...]" would be mangled).
    cells: tuple[Text | str, ...] = tuple(
        Text(cell) if isinstance(cell, str) else cell
        for cell in (
            node.name,
            fmt.styled(state, fmt.state_style(state)),
            fmt.truncate(node.reason, REASON_WIDTH),
            gpus_text,
            fmt.fraction(node.cpus_alloc, node.cpus_total),
            f"{fmt.memory_mb(node.mem_alloc_mb)}/{fmt.memory_mb(node.mem_total_mb)}",
            util_text,
            fmt.truncate(job_ids, JOBS_WIDTH),
            ",".join(node.partitions),
        )
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
    haystack = " ".join(
        (node.name, state, node.reason, job_ids, ",".join(node.partitions), node.gpu_model)
    )
    return NodeRow(node.name, cells, sort_values, haystack, partition)


def _util_style(util: float | None) -> str:
    if util is None:
        return "dim"
    if util < 5:
        return "dim"
    if util < 50:
        return "cyan"
    return "green"


JOB_COLUMNS: tuple[tuple[str, str], ...] = (
    ("job_id", "JOBID"),
    ("partition", "PARTITION"),
    ("name", "NAME"),
    ("user", "USER"),
    ("state", "ST"),
    ("time", "TIME"),
    ("gpus", "GPUS"),
    ("nodes", "NODELIST(REASON)"),
)


@dataclass(frozen=True, slots=True)
class JobRow:
    job_id: str
    cells: tuple[Text | str, ...]
    sort_values: dict[str, Any]
    haystack: str


def job_row(job: Job, now: float) -> JobRow:
    if job.start_time is not None and job.state.value != "PENDING":
        elapsed: float | None = now - job.start_time
    else:
        elapsed = job.pending_for_s(now)
    where = ",".join(job.nodes) if job.nodes else f"({job.reason or 'None'})"
    state = job.state.value
    cells: tuple[Text | str, ...] = tuple(
        Text(cell) if isinstance(cell, str) else cell
        for cell in (
            job.job_id,
            job.partition,
            fmt.truncate(job.name, 20),
            job.user,
            fmt.styled(
                state + (" (held)" if job.held else ""), fmt.JOB_STATE_STYLES.get(state, "")
            ),
            fmt.duration(elapsed),
            str(job.gpu_count),
            fmt.truncate(where, 40),
        )
    )
    sort_values = {
        "job_id": int(job.job_id.split("_")[0].split("+")[0]),
        "partition": job.partition,
        "name": job.name,
        "user": job.user,
        "state": state,
        "time": elapsed,
        "gpus": job.gpu_count,
        "nodes": where,
    }
    haystack = " ".join((job.job_id, job.name, job.user, state, job.partition, where))
    return JobRow(job.job_id, cells, sort_values, haystack)
