"""The jobs screen's rows, as pure functions: one per job or per array job, with what an
operator reads there (squeue's columns, then GPU efficiency, cost and waste).

An array's row sums its listed tasks: the running ones one by one, the pending rest as the
one record squeue gives it (`1234_[5-20]`, whose GPU request counts once per task).
Figures not known (no GPU reading, no history yet) are shown as UNKNOWN, never as zero.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from tui.agent.reasons import explain_reason
from tui.app import format as fmt
from tui.hostlist import compress_hostlist
from tui.job_arrays import JobGroup, split_array_id
from tui.job_usage import IDLE_THRESHOLD_PCT, JobEfficiency, JobUsage
from tui.model import Gpu, Job, JobState

UNKNOWN = "–"  # noqa: RUF001  (an en dash: "not known", unlike a minus)
ARRAY_PREFIX = "array:"

JOB_COLUMNS: tuple[tuple[str, str], ...] = (
    ("job_id", "JOBID"),
    ("name", "NAME"),
    ("user", "USER"),
    ("account", "ACCOUNT"),
    ("partition", "PARTITION"),
    ("state", "ST"),
    ("gpus", "GPUS"),
    ("nodes", "NODELIST(REASON)"),
    ("time", "TIME / LIMIT"),
    ("util", "UTIL life/10m"),
    ("mem", "MEM life/10m"),
    ("cost", "COST"),
    ("wasted", "WASTED"),
    ("priority", "PRIORITY"),
    ("why", "WHY PENDING"),
)
FILTER_FIELDS = ("user", "account", "state", "partition")
FILTER_FLAGS = ("wasting",)

# squeue's compact state codes (%t), so that `state:pd` works as it reads there.
STATE_CODES: Mapping[JobState, str] = {
    JobState.PENDING: "PD",
    JobState.RUNNING: "R",
    JobState.SUSPENDED: "S",
    JobState.COMPLETING: "CG",
    JobState.COMPLETED: "CD",
    JobState.CANCELLED: "CA",
    JobState.FAILED: "F",
    JobState.TIMEOUT: "TO",
    JobState.NODE_FAIL: "NF",
    JobState.PREEMPTED: "PR",
    JobState.OUT_OF_MEMORY: "OOM",
    JobState.BOOT_FAIL: "BF",
    JobState.DEADLINE: "DL",
    JobState.REQUEUED: "RQ",
    JobState.CONFIGURING: "CF",
    JobState.UNKNOWN: "?",
}
_HOLDING = (JobState.RUNNING, JobState.COMPLETING, JobState.SUSPENDED)


@dataclass(frozen=True, slots=True)
class JobContext:
    """What rows are computed against: the time, the price and the GPUs' readings."""

    now: float
    price_per_gpu_hour: float
    efficiency: Mapping[str, JobEfficiency]
    gpus: Mapping[tuple[str, int], Gpu]
    gpus_stale: bool = False


@dataclass(frozen=True, slots=True)
class JobRow:
    key: str  # the table's row key: a job id, or ARRAY_PREFIX + the array's id
    target: str  # what an action on this row is given: a job id or an array's id
    task_count: int
    is_array: bool
    cells: tuple[Text, ...]
    sort_values: Mapping[str, Any]
    haystack: str
    values: Mapping[str, frozenset[str]]
    flags: frozenset[str]


def job_gpus(job: Job) -> int:
    """GPUs held; for a job not yet running, the GPUs it asked for."""
    if job.state is JobState.PENDING or not job.nodes:
        return job.gpus_requested or job.gpu_count
    return job.gpu_count


def record_tasks(job: Job) -> int:
    """How many array tasks one squeue record stands for (1 unless it is `1234_[5-20]`)."""
    split = split_array_id(job.job_id)
    return len(split[1]) if split is not None else 1


def wasted_per_hour(job: Job, ctx: JobContext) -> float | None:
    """The price of the job's GPUs reading under IDLE_THRESHOLD_PCT now; None: no reading."""
    if job.state not in _HOLDING or ctx.gpus_stale:
        return None
    readings = [
        ctx.gpus.get((node, index))
        for node, indices in job.gpu_indices.items()
        for index in indices
    ]
    known = [g.utilization_pct for g in readings if g is not None and g.utilization_pct is not None]
    if not known:
        return None
    return sum(1 for util in known if util < IDLE_THRESHOLD_PCT) * ctx.price_per_gpu_hour


def cost_so_far(job: Job, ctx: JobContext) -> float | None:
    """GPUs held times the time since the job started, at the configured price."""
    if job.state not in _HOLDING or job.start_time is None:
        return None
    hours = max(0.0, ctx.now - job.start_time) / 3600.0
    return hours * job.gpu_count * ctx.price_per_gpu_hour


def _weighted(usages: Sequence[JobUsage], field: str) -> float | None:
    pairs = [(getattr(u, field), u.gpu_hours) for u in usages if getattr(u, field) is not None]
    weight = sum(hours for _, hours in pairs)
    if not pairs:
        return None
    if not weight:
        return sum(value for value, _ in pairs) / len(pairs)
    return sum(value * hours for value, hours in pairs) / weight


def _pct(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value:.0f}%"


def _pair(life: float | None, recent: float | None) -> str:
    return f"{_pct(life)} / {_pct(recent)}"


def short_reason(reason: str) -> str:
    """Slurm's pending reason in a few plain words: 'Resources' -> 'waiting for resources'."""
    sentence = explain_reason(reason)
    head = sentence.split(":", 1)[0].split(";", 1)[0].split(".", 1)[0].strip()
    return head[:1].lower() + head[1:] if head else reason


def _state_cell(jobs: Sequence[Job]) -> tuple[Text, str]:
    if len(jobs) == 1:
        job = jobs[0]
        state = job.state.value
        return fmt.styled(
            state + (" (held)" if job.held else ""), fmt.JOB_STATE_STYLES.get(state, "")
        ), state
    counts: Counter[str] = Counter()
    for job in jobs:
        counts[STATE_CODES[job.state]] += record_tasks(job)
    text = " ".join(f"{n}{code}" for code, n in counts.most_common())
    holding = [j.state.value for j in jobs if j.state in _HOLDING]
    main = holding[0] if holding else jobs[0].state.value
    return fmt.styled(text, fmt.JOB_STATE_STYLES.get(main, "")), main


def job_row(group: JobGroup, ctx: JobContext, *, member: bool = False) -> JobRow:
    """The row of one group (a plain job, a whole array, or with `member`, one listed task)."""
    jobs = group.jobs
    first = jobs[0]
    pending = [j for j in jobs if j.state is JobState.PENDING]
    holding = [j for j in jobs if j.state in _HOLDING]
    allocated = sum(j.gpu_count for j in holding)
    requested = sum(job_gpus(j) * record_tasks(j) for j in pending)
    if holding and requested:
        gpus_cell = Text(f"{allocated} +{requested} req")
        gpus_cell.stylize("yellow", len(str(allocated)) + 1)
    elif pending and not holding:
        gpus_cell = Text(f"{requested} req", style="yellow") if requested else Text("0")
    else:
        gpus_cell = Text(str(allocated))
    nodes = compress_hostlist(n for j in jobs for n in j.nodes)
    reason = pending[0].reason if pending else ""
    where = nodes or f"({reason or 'None'})"

    elapsed_values = [ctx.now - j.start_time for j in holding if j.start_time is not None]
    elapsed = max(elapsed_values) if elapsed_values else None
    limit = first.time_limit_min
    limit_text = "UNLIMITED" if limit is None else fmt.duration(limit * 60.0)
    if holding:
        time_cell = Text(f"{fmt.duration(elapsed)} / {limit_text}")
    else:
        waits = [j.pending_for_s(ctx.now) for j in pending]
        waited = max((w for w in waits if w is not None), default=None)
        elapsed = waited
        time_cell = Text(f"wait {fmt.duration(waited)} / {limit_text}", style="yellow")

    gpu_holders = [j for j in holding if j.gpu_count]
    lives = [ctx.efficiency[j.job_id].life for j in gpu_holders if j.job_id in ctx.efficiency]
    recents = [
        recent
        for j in gpu_holders
        if j.job_id in ctx.efficiency and (recent := ctx.efficiency[j.job_id].recent) is not None
    ]
    util_life = _weighted(lives, "mean_utilization_pct")
    util_recent = _weighted(recents, "mean_utilization_pct")
    mem_life = _weighted(lives, "mean_memory_pct")
    mem_recent = _weighted(recents, "mean_memory_pct")
    costs = [c for j in holding if (c := cost_so_far(j, ctx)) is not None]
    cost = sum(costs) if costs else None
    wastes = [w for j in gpu_holders if (w := wasted_per_hour(j, ctx)) is not None]
    wasted = sum(wastes) if wastes else None
    priority = next((j.priority for j in pending if j.priority is not None), None)
    why = short_reason(reason) if pending else ""

    def measured(text: str) -> Text:
        return Text(text if gpu_holders else "", style="dim" if UNKNOWN in text else "")

    wasted_cell = Text("")
    if gpu_holders:
        wasted_cell = (
            Text(UNKNOWN, style="dim")
            if wasted is None
            else Text(fmt.money(wasted), style="bold yellow" if wasted > 0 else "")
        )
    state_cell, state_sort = _state_cell(jobs)
    prefix = "  └ " if member else ""
    marker = "" if not group.is_array or member else " …"
    cells = (
        Text(prefix + group.job_id + marker),
        Text(fmt.truncate(first.name, 20)),
        Text(first.user),
        Text(first.account),
        Text(first.partition),
        state_cell,
        gpus_cell,
        Text(fmt.truncate(where, 40)),
        time_cell,
        measured(_pair(util_life, util_recent)),
        measured(_pair(mem_life, mem_recent)),
        Text("" if not holding else UNKNOWN if cost is None else f"${cost:,.2f}"),
        wasted_cell,
        Text("" if priority is None else str(priority)),
        Text(fmt.truncate(why, 40), style="yellow" if why else ""),
    )
    number = split_array_id(group.job_id)
    base = number[0] if number else group.job_id
    sort_values = {
        "job_id": (int(base.split("+")[0]) if base.split("+")[0].isdigit() else base),
        "name": first.name,
        "user": first.user,
        "account": first.account,
        "partition": first.partition,
        "state": state_sort,
        "gpus": allocated + requested,
        "nodes": where,
        "time": elapsed,
        "util": util_life,
        "mem": mem_life,
        "cost": cost,
        "wasted": wasted,
        "priority": priority,
        "why": why or None,
    }
    states = {s for j in jobs for s in (j.state.value.lower(), STATE_CODES[j.state].lower())}
    values = {
        "user": frozenset(j.user.lower() for j in jobs),
        "account": frozenset(j.account.lower() for j in jobs),
        "partition": frozenset(p.lower() for j in jobs for p in j.partition.split(",")),
        "state": frozenset(states),
    }
    states_text = " ".join(j.state.value for j in jobs)
    haystack = " ".join(
        (group.job_id, first.name, first.user, first.account, first.partition, states_text)
    )
    haystack = f"{haystack} {where} {why}"
    is_whole_array = group.is_array and not member
    return JobRow(
        key=ARRAY_PREFIX + str(group.array_job_id) if is_whole_array else group.job_id,
        target=str(group.array_job_id) if is_whole_array else group.job_id,
        task_count=group.task_count if is_whole_array else 1,
        is_array=is_whole_array,
        cells=cells,
        sort_values=sort_values,
        haystack=haystack,
        values=values,
        flags=frozenset({"wasting"}) if wasted else frozenset(),
    )


def member_rows(group: JobGroup, ctx: JobContext) -> list[JobRow]:
    """An expanded array's listed tasks (and pending rest), in task order."""

    def first_task(job: Job) -> int:
        split = split_array_id(job.job_id)
        return split[1][0] if split and split[1] else 0

    return [
        job_row(JobGroup(job.job_id, (job,)), ctx, member=True)
        for job in sorted(group.jobs, key=first_task)
    ]
