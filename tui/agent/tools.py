"""The agent's tools, one declaration each: a typed signature and a docstring.

The signature is the tool's argument schema and its validator (tool_registry builds both
from it); the docstring's first paragraph is what the model is told. Read tools are async
functions of a ToolContext returning JSON-ready data (or text); the assistant, the slash
commands and the MCP server call the very same functions. Action tools only build the
Action they propose: the host decides whether it runs.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections import Counter
from typing import Annotated, Any, Literal

import httpx
from pydantic import Field

from tui.actions import Action, ActionKind
from tui.agent.reasons import explain_reason, reason_code
from tui.agent.tool_context import ToolContext, ToolError
from tui.agent.tool_helpers import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    age,
    compact,
    find_job,
    find_node,
    gpu_row,
    job_row,
    log_lines,
    logs_endpoint,
    mean,
    node_matches_state,
    node_row,
    plain,
    positive_duration,
    rounded,
    row_limit,
)
from tui.model import JobState, is_allocated_idle
from tui.sources.base import HISTORY_METRICS
from tui.text import one_line

MAX_LOG_LINES = 500
MAX_HISTORY_RANGE_S = 7 * 86400.0
HISTORY_POINTS = 60
HISTORY_SAMPLES_SHOWN = 12
LOG_TIMEOUT_S = 5.0

Limit = Annotated[int | None, Field(description=f"max rows (default {DEFAULT_LIMIT})")]
NodeName = Annotated[str, Field(description="node name, like gpu-01")]
JobId = Annotated[str, Field(description="Slurm job id, like 42 or 42_7")]
HistoryMetric = Literal[HISTORY_METRICS]


# ---------------------------------------------------------------- read tools


async def cluster_summary(ctx: ToolContext) -> dict[str, Any]:
    """Cluster overview: node states, GPU counts and use, job counts, partitions, failing
    data sources. Start here."""
    snap = ctx.require_snapshot()
    now = ctx.clock()
    states = Counter(node.display_state for node in snap.nodes)
    gpus_total = sum(node.gpus_total for node in snap.nodes) or len(snap.gpus)
    gpus_alloc = sum(node.gpus_alloc for node in snap.nodes)
    utils = [g.utilization_pct for g in snap.gpus if g.utilization_pct is not None]
    temps = [g.temperature_c for g in snap.gpus if g.temperature_c is not None]
    jobs = Counter(job.state.value for job in snap.jobs)
    partitions = sorted({p for node in snap.nodes for p in node.partitions})
    idle = [g for g in snap.gpus if is_allocated_idle(g, ctx.idle_threshold_pct)]
    unhealthy = sorted(name for name, h in snap.health.items() if h.enabled and not h.ok)
    return compact(
        {
            "cluster": snap.cluster_name,
            "demo": snap.demo or None,
            "slurm_version": snap.slurm_version,
            "data_age": age(now - snap.taken_at),
            "nodes": len(snap.nodes),
            "node_states": dict(states.most_common()),
            "partitions": partitions,
            "gpu_models": sorted({n.gpu_model for n in snap.nodes if n.gpu_model})
            or sorted({g.model for g in snap.gpus if g.model}),
            "gpus_total": gpus_total,
            "gpus_allocated": gpus_alloc,
            "gpu_util_avg": rounded(mean(utils)),
            "gpu_temp_max": rounded(max(temps)) if temps else None,
            "gpus_allocated_idle": len(idle),
            "jobs": dict(jobs.most_common()),
            "sources_failing": unhealthy,
        }
    )


async def list_nodes(
    ctx: ToolContext,
    state: Annotated[
        str | None, Field(description="idle, mixed, alloc, drain, down, not responding, ...")
    ] = None,
    partition: str | None = None,
    name: Annotated[str | None, Field(description="glob, like gpu-0*")] = None,
    limit: Limit = None,
) -> dict[str, Any]:
    """List nodes, optionally filtered by state (idle, mixed, alloc, drain, down, ...),
    partition, or name glob (gpu-0*)."""
    snap = ctx.require_snapshot()
    nodes = [
        node
        for node in snap.nodes
        if (not state or node_matches_state(node, state))
        and (not partition or partition in node.partitions)
        and (not name or fnmatch.fnmatchcase(node.name, name))
    ]
    shown = nodes[: row_limit(limit)]
    result: dict[str, Any] = {
        "count": len(nodes),
        "nodes": [node_row(snap, node) for node in shown],
    }
    if len(nodes) > len(shown):
        result["more"] = f"{len(nodes) - len(shown)} more; filter by state, partition or name"
    return result


async def node_detail(ctx: ToolContext, name: NodeName) -> dict[str, Any]:
    """One node: state, drain reason, CPUs, memory, each GPU's readings (util, temp, power,
    XID, ECC) and the jobs on it."""
    snap = ctx.require_snapshot()
    node = find_node(snap, name)
    now = ctx.clock()
    return compact(
        {
            "name": node.name,
            "state": node.display_state,
            "flags": sorted(node.flags),
            "reason": node.reason,
            "partitions": list(node.partitions),
            "cpus": f"{node.cpus_alloc}/{node.cpus_total}",
            "mem_mb": f"{node.mem_alloc_mb}/{node.mem_total_mb}",
            "gpus_alloc": f"{node.gpus_alloc}/{node.gpus_total}",
            "gpu_model": node.gpu_model,
            "gpus": [gpu_row(gpu) for gpu in snap.gpus_of(node.name)],
            "jobs": [job_row(job, now) for job in snap.jobs_on(node.name)],
        }
    )


async def list_jobs(
    ctx: ToolContext,
    user: str | None = None,
    state: Annotated[str | None, Field(description="PENDING, RUNNING, ...")] = None,
    partition: str | None = None,
    limit: Limit = None,
) -> dict[str, Any]:
    """List jobs in the queue, optionally filtered by user, state (PENDING, RUNNING, ...)
    or partition."""
    snap = ctx.require_snapshot()
    now = ctx.clock()
    wanted_state = JobState.parse(state) if state else None
    if state and wanted_state is JobState.UNKNOWN and state.strip().upper() != "UNKNOWN":
        names = ", ".join(s.value for s in JobState if s is not JobState.UNKNOWN)
        raise ToolError(f"unknown job state {state!r}; use one of {names}")
    jobs = [
        job
        for job in snap.jobs
        if (not user or job.user == user.strip())
        and (wanted_state is None or job.state is wanted_state)
        and (not partition or job.partition == partition.strip())
    ]
    shown = jobs[: row_limit(limit)]
    result: dict[str, Any] = {"count": len(jobs), "jobs": [job_row(j, now) for j in shown]}
    if len(jobs) > len(shown):
        result["more"] = f"{len(jobs) - len(shown)} more; filter by user, state or partition"
    return result


async def job_detail(ctx: ToolContext, job_id: JobId) -> dict[str, Any]:
    """One job: state, nodes, GPUs, times, and for a pending job its Slurm reason in plain
    words."""
    snap = ctx.require_snapshot()
    job = find_job(snap, job_id)
    row = job_row(job, ctx.clock())
    row.update(
        compact(
            {
                "account": job.account,
                "held": job.held or None,
                "time_limit_min": job.time_limit_min,
                "gpu_indices": {node: list(idx) for node, idx in job.gpu_indices.items()},
            }
        )
    )
    if job.state is JobState.PENDING:
        row["reason"] = reason_code(job.reason) or "None"
        row["reason_explained"] = explain_reason(job.reason)
    return row


async def gpu_history(
    ctx: ToolContext,
    node: NodeName,
    gpu: Annotated[int | None, Field(description="GPU index; all GPUs if omitted")] = None,
    metric: HistoryMetric = "utilization_pct",
    range: Annotated[str, Field(description="like 15m, 1h, 1d (default 1h)")] = "1h",
) -> dict[str, Any]:
    """A node's (or one GPU's) metric over a time range: min/avg/max/last and samples."""
    if ctx.history is None:
        raise ToolError("GPU history is not available: no store or Prometheus configured")
    if metric not in HISTORY_METRICS:
        raise ToolError(f"unknown metric {metric!r}; use one of {', '.join(HISTORY_METRICS)}")
    span = positive_duration("range", range, "range must be positive, like 15m or 1h")
    span = min(span, MAX_HISTORY_RANGE_S)
    end = ctx.clock()
    series = await ctx.history.gpu_history(node.strip(), metric, end - span, end, HISTORY_POINTS)
    if gpu is not None:
        series = {index: points for index, points in series.items() if index == gpu}
    if not series:
        snap = ctx.snapshot()
        if snap is not None and node.strip() not in snap.node_by_name:
            find_node(snap, node)
        which = f"GPU {gpu} of {node}" if gpu is not None else node
        raise ToolError(f"no {metric} history for {which} in the last {range}")
    rows = []
    for index in sorted(series):
        values = [value for _, value in series[index]]
        if not values:
            continue
        step = max(1, len(values) // HISTORY_SAMPLES_SHOWN)
        rows.append(
            {
                "gpu": index,
                "min": rounded(min(values)),
                "avg": rounded(mean(values)),
                "max": rounded(max(values)),
                "last": rounded(values[-1]),
                "samples": [rounded(v) for v in values[::step][-HISTORY_SAMPLES_SHOWN:]],
            }
        )
    return {"node": node.strip(), "metric": metric, "range": range, "gpus": rows}


async def idle_gpus(
    ctx: ToolContext,
    threshold_pct: Annotated[float | None, Field(description="util below this (default 5)")] = None,
) -> dict[str, Any]:
    """GPUs allocated to jobs but (almost) unused, with the money they burn per hour."""
    snap = ctx.require_snapshot()
    threshold = ctx.idle_threshold_pct if threshold_pct is None else threshold_pct
    idle = [g for g in snap.gpus if is_allocated_idle(g, threshold)]
    per_job = Counter(g.job_id for g in idle)
    return {
        "threshold_pct": threshold,
        "count": len(idle),
        "cost_per_hour_usd": round(len(idle) * ctx.gpu_hourly_price, 2),
        "price_per_gpu_hour_usd": ctx.gpu_hourly_price,
        "by_job": [
            compact({"job": job_id, "user": snap.job_by_id[job_id].user, "idle_gpus": n})
            if job_id in snap.job_by_id
            else {"job": job_id, "idle_gpus": n}
            for job_id, n in per_job.most_common(DEFAULT_LIMIT)
        ],
        "gpus": [
            compact(
                {
                    "node": g.node,
                    "gpu": g.index,
                    "job": g.job_id,
                    "user": g.user,
                    "util": rounded(g.utilization_pct),
                }
            )
            for g in idle[:DEFAULT_LIMIT]
        ],
    }


async def alerts(ctx: ToolContext, include_history: bool = True) -> dict[str, Any]:
    """Alerts firing now, and recent alert history."""
    if ctx.alerts is None:
        raise ToolError("alerting not configured")
    view = ctx.alerts()
    if inspect.isawaitable(view):
        view = await view
    result: dict[str, Any] = {"active": [plain(a) for a in view.active[:MAX_LIMIT]]}
    if include_history:
        result["history"] = [plain(a) for a in list(view.history)[-DEFAULT_LIMIT:]]
    return result


async def source_health(ctx: ToolContext) -> dict[str, Any]:
    """Health of the dashboard's data sources (Slurm, GPU exporters, Prometheus): is the
    data fresh, and the last error."""
    snap = ctx.require_snapshot()
    now = ctx.clock()
    return {
        name: compact(
            {
                "ok": health.ok,
                "enabled": health.enabled,
                "last_success_ago": age(health.age_s(now)),
                "latency_ms": None if health.latency_s is None else round(health.latency_s * 1e3),
                "failures": health.consecutive_failures or None,
                "error": health.last_error,
                "detail": health.detail,
            }
        )
        for name, health in sorted(snap.health.items())
    }


async def vllm_logs(
    ctx: ToolContext,
    lines: Annotated[int, Field(description=f"how many (max {MAX_LOG_LINES})")] = 100,
    contains: str | None = None,
) -> str:
    """Tail of the model server's (vLLM) log, optionally only lines containing a string."""
    if not ctx.log_url:
        raise ToolError("no vLLM log server configured ([agent] log_url)")
    count = max(1, min(int(lines), MAX_LOG_LINES))
    url = logs_endpoint(ctx.log_url)
    try:
        if ctx.http is not None:
            response = await ctx.http.get(url, params={"lines": count}, timeout=LOG_TIMEOUT_S)
        else:
            async with httpx.AsyncClient(timeout=LOG_TIMEOUT_S) as client:
                response = await client.get(url, params={"lines": count})
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise ToolError(f"log server {url}: {one_line(error, 160)}") from None
    found = log_lines(response)
    if contains:
        found = [line for line in found if contains.lower() in line.lower()]
    found = found[-count:]
    if not found:
        return "(no matching log lines)" if contains else "(log is empty)"
    return "\n".join(found)


# ---------------------------------------------------------------- action tools


def drain_node(
    node: NodeName, reason: Annotated[str, Field(description="why, one line")]
) -> Action:
    """Propose draining a node (no new jobs; running ones finish)."""
    return Action(ActionKind.DRAIN, (node.strip(),), reason.strip())


def resume_node(node: NodeName) -> Action:
    """Propose resuming a drained or down node."""
    return Action(ActionKind.RESUME, (node.strip(),))


def cancel_job(job_id: JobId) -> Action:
    """Propose cancelling a job."""
    return Action(ActionKind.CANCEL, (job_id.strip(),))


def requeue_job(job_id: JobId) -> Action:
    """Propose requeueing a job (it goes back to pending)."""
    return Action(ActionKind.REQUEUE, (job_id.strip(),))


def hold_job(job_id: JobId) -> Action:
    """Propose holding a pending job (it will not start until released)."""
    return Action(ActionKind.HOLD, (job_id.strip(),))


def release_job(job_id: JobId) -> Action:
    """Propose releasing a held job (it may start again)."""
    return Action(ActionKind.RELEASE, (job_id.strip(),))
