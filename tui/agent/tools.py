"""The agent's read-only tools: plain async functions over a ToolContext.

Each returns JSON-ready data (or text); the loop serialises it for the model and the
slash commands render the very same data as Markdown.
"""

from __future__ import annotations

import fnmatch
import inspect
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Protocol

import httpx

from tui.agent.reasons import explain_reason, reason_code
from tui.durations import format_duration, parse_duration
from tui.model import ClusterSnapshot, Gpu, Job, JobState, Node, NodeBaseState, is_allocated_idle
from tui.sources.base import HISTORY_METRICS, GpuHistory, one_line

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_LOG_LINES = 500
MAX_HISTORY_RANGE_S = 7 * 86400.0
HISTORY_POINTS = 60
HISTORY_SAMPLES_SHOWN = 12
LOG_TIMEOUT_S = 5.0


class ToolError(Exception):
    """A tool cannot answer; the message is one line the model (or user) can act on."""


class AlertsView(Protocol):
    """What the alerting module exposes: alerts firing now, and recent ones."""

    @property
    def active(self) -> Sequence[object]: ...

    @property
    def history(self) -> Sequence[object]: ...


AlertsProvider = Callable[[], "AlertsView | Awaitable[AlertsView]"]


@dataclass(frozen=True)
class ToolContext:
    """Everything the tools read. Built once by the host; cheap to share."""

    snapshot: Callable[[], ClusterSnapshot | None]
    history: GpuHistory | None = None
    alerts: AlertsProvider | None = None
    # vLLM log server, e.g. http://head:8002 (GET /logs?lines=N).
    log_url: str = ""
    gpu_hourly_price: float = 1.89
    readonly: bool = False
    idle_threshold_pct: float = 5.0
    clock: Callable[[], float] = field(default=time.time)
    # Injected for tests or connection reuse; one short-lived client per call otherwise.
    http: httpx.AsyncClient | None = None

    def require_snapshot(self) -> ClusterSnapshot:
        snap = self.snapshot()
        if snap is None:
            raise ToolError("no cluster data yet: the collector has not completed a cycle")
        return snap


# ---------------------------------------------------------------- helpers


def _age(seconds: float | None) -> str | None:
    return None if seconds is None else format_duration(seconds)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _compact(row: Mapping[str, Any]) -> dict[str, Any]:
    """Drop empty fields: the model reads fewer tokens, nothing is lost."""
    return {k: v for k, v in row.items() if v not in (None, "", (), [], {})}


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _limit(value: int | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if value < 1:
        raise ToolError("limit must be at least 1")
    return min(value, MAX_LIMIT)


def node_matches_state(node: Node, wanted: str) -> bool:
    """'drain', 'down', 'idle', 'mixed', 'alloc', 'not responding', 'maint', ... like sinfo."""
    want = wanted.strip().lower()
    if want in ("drain", "drained", "draining"):
        return node.is_drain and (want == "drain" or node.display_state == want)
    if want in ("down", "unreachable"):
        return node.is_unreachable
    if want in ("alloc", "allocated"):
        return node.state is NodeBaseState.ALLOCATED and not node.is_drain
    if want in ("mix", "mixed"):
        return node.state is NodeBaseState.MIXED and not node.is_drain
    return (
        node.display_state == want
        or node.state.value.lower() == want
        or want.upper().replace(" ", "_") in node.flags
    )


def _node_row(snap: ClusterSnapshot, node: Node) -> dict[str, Any]:
    gpus = snap.gpus_of(node.name)
    utils = [g.utilization_pct for g in gpus if g.utilization_pct is not None]
    temps = [g.temperature_c for g in gpus if g.temperature_c is not None]
    return _compact(
        {
            "name": node.name,
            "state": node.display_state,
            "gpus": f"{node.gpus_alloc}/{node.gpus_total}",
            "partitions": ",".join(node.partitions),
            "util_avg": _round(_mean(utils)),
            "temp_max": _round(max(temps)) if temps else None,
            "reason": node.reason,
        }
    )


def _gpu_row(gpu: Gpu) -> dict[str, Any]:
    return _compact(
        {
            "gpu": gpu.index,
            "util": _round(gpu.utilization_pct),
            "mem_pct": _round(gpu.memory_pct),
            "temp": _round(gpu.temperature_c),
            "power_w": _round(gpu.power_w),
            "xid": gpu.last_xid,
            "ecc_uncorr": gpu.ecc_uncorrectable or None,
            "remap_fail": gpu.remapped_row_failures or None,
            "job": gpu.job_id,
            "user": gpu.user,
            "error": gpu.error,
        }
    )


def _job_row(job: Job, now: float) -> dict[str, Any]:
    pending = job.pending_for_s(now)
    running = (
        now - job.start_time
        if job.state is JobState.RUNNING and job.start_time is not None
        else None
    )
    return _compact(
        {
            "id": job.job_id,
            "name": job.name,
            "user": job.user,
            "partition": job.partition,
            "state": job.state.value,
            "gpus": job.gpu_count or None,
            "nodes": ",".join(job.nodes),
            "reason": reason_code(job.reason) if job.state is JobState.PENDING else None,
            "pending_for": _age(pending),
            "running_for": _age(running),
        }
    )


# ---------------------------------------------------------------- read tools


async def cluster_summary(ctx: ToolContext) -> dict[str, Any]:
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
    return _compact(
        {
            "cluster": snap.cluster_name,
            "demo": snap.demo or None,
            "slurm_version": snap.slurm_version,
            "data_age": _age(now - snap.taken_at),
            "nodes": len(snap.nodes),
            "node_states": dict(states.most_common()),
            "partitions": partitions,
            "gpu_models": sorted({n.gpu_model for n in snap.nodes if n.gpu_model})
            or sorted({g.model for g in snap.gpus if g.model}),
            "gpus_total": gpus_total,
            "gpus_allocated": gpus_alloc,
            "gpu_util_avg": _round(_mean(utils)),
            "gpu_temp_max": _round(max(temps)) if temps else None,
            "gpus_allocated_idle": len(idle),
            "jobs": dict(jobs.most_common()),
            "sources_failing": unhealthy,
        }
    )


async def list_nodes(
    ctx: ToolContext,
    state: str | None = None,
    partition: str | None = None,
    name: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    snap = ctx.require_snapshot()
    nodes = [
        node
        for node in snap.nodes
        if (not state or node_matches_state(node, state))
        and (not partition or partition in node.partitions)
        and (not name or fnmatch.fnmatchcase(node.name, name))
    ]
    shown = nodes[: _limit(limit)]
    result: dict[str, Any] = {
        "count": len(nodes),
        "nodes": [_node_row(snap, node) for node in shown],
    }
    if len(nodes) > len(shown):
        result["more"] = f"{len(nodes) - len(shown)} more; filter by state, partition or name"
    return result


def _find_node(snap: ClusterSnapshot, name: str) -> Node:
    node = snap.node_by_name.get(name.strip())
    if node is None:
        close = [n for n in snap.node_by_name if name.strip().lower() in n.lower()][:5]
        hint = f" (similar: {', '.join(close)})" if close else ""
        raise ToolError(f"no node named {name!r}{hint}")
    return node


async def node_detail(ctx: ToolContext, name: str) -> dict[str, Any]:
    snap = ctx.require_snapshot()
    node = _find_node(snap, name)
    now = ctx.clock()
    return _compact(
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
            "gpus": [_gpu_row(gpu) for gpu in snap.gpus_of(node.name)],
            "jobs": [_job_row(job, now) for job in snap.jobs_on(node.name)],
        }
    )


async def list_jobs(
    ctx: ToolContext,
    user: str | None = None,
    state: str | None = None,
    partition: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
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
    shown = jobs[: _limit(limit)]
    result: dict[str, Any] = {"count": len(jobs), "jobs": [_job_row(j, now) for j in shown]}
    if len(jobs) > len(shown):
        result["more"] = f"{len(jobs) - len(shown)} more; filter by user, state or partition"
    return result


def _find_job(snap: ClusterSnapshot, job_id: str | int) -> Job:
    key = str(job_id).strip()
    job = snap.job_by_id.get(key)
    if job is None:
        raise ToolError(
            f"no job {key} in the queue (finished jobs leave squeue; ask sacct for history)"
        )
    return job


async def job_detail(ctx: ToolContext, job_id: str) -> dict[str, Any]:
    snap = ctx.require_snapshot()
    job = _find_job(snap, job_id)
    row = _job_row(job, ctx.clock())
    row.update(
        _compact(
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
    node: str,
    gpu: int | None = None,
    metric: str = "utilization_pct",
    range: str = "1h",
) -> dict[str, Any]:
    if ctx.history is None:
        raise ToolError("GPU history is not available: no store or Prometheus configured")
    if metric not in HISTORY_METRICS:
        raise ToolError(f"unknown metric {metric!r}; use one of {', '.join(HISTORY_METRICS)}")
    try:
        span = parse_duration(range)
    except ValueError as error:
        raise ToolError(f"range: {error}") from None
    if span <= 0:
        raise ToolError("range must be positive, like 15m or 1h")
    span = min(span, MAX_HISTORY_RANGE_S)
    end = ctx.clock()
    series = await ctx.history.gpu_history(node.strip(), metric, end - span, end, HISTORY_POINTS)
    if gpu is not None:
        series = {index: points for index, points in series.items() if index == gpu}
    if not series:
        snap = ctx.snapshot()
        if snap is not None and node.strip() not in snap.node_by_name:
            _find_node(snap, node)
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
                "min": _round(min(values)),
                "avg": _round(_mean(values)),
                "max": _round(max(values)),
                "last": _round(values[-1]),
                "samples": [_round(v) for v in values[::step][-HISTORY_SAMPLES_SHOWN:]],
            }
        )
    return {"node": node.strip(), "metric": metric, "range": range, "gpus": rows}


async def idle_gpus(ctx: ToolContext, threshold_pct: float | None = None) -> dict[str, Any]:
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
            _compact({"job": job_id, "user": snap.job_by_id[job_id].user, "idle_gpus": n})
            if job_id in snap.job_by_id
            else {"job": job_id, "idle_gpus": n}
            for job_id, n in per_job.most_common(DEFAULT_LIMIT)
        ],
        "gpus": [
            _compact(
                {
                    "node": g.node,
                    "gpu": g.index,
                    "job": g.job_id,
                    "user": g.user,
                    "util": _round(g.utilization_pct),
                }
            )
            for g in idle[:DEFAULT_LIMIT]
        ],
    }


def _plain(item: object) -> object:
    """An alert of whatever shape the alerting module uses, as JSON-ready data."""
    if hasattr(item, "to_dict"):
        return item.to_dict()
    if is_dataclass(item) and not isinstance(item, type):
        return _compact(json.loads(json.dumps(asdict(item), default=str)))
    if isinstance(item, Mapping):
        return _compact(item)
    return str(item)


async def alerts(ctx: ToolContext, include_history: bool = True) -> dict[str, Any]:
    if ctx.alerts is None:
        raise ToolError("alerting not configured")
    view = ctx.alerts()
    if inspect.isawaitable(view):
        view = await view
    result: dict[str, Any] = {"active": [_plain(a) for a in view.active[:MAX_LIMIT]]}
    if include_history:
        result["history"] = [_plain(a) for a in list(view.history)[-DEFAULT_LIMIT:]]
    return result


async def source_health(ctx: ToolContext) -> dict[str, Any]:
    snap = ctx.require_snapshot()
    now = ctx.clock()
    return {
        name: _compact(
            {
                "ok": health.ok,
                "enabled": health.enabled,
                "last_success_ago": _age(health.age_s(now)),
                "latency_ms": None if health.latency_s is None else round(health.latency_s * 1e3),
                "failures": health.consecutive_failures or None,
                "error": health.last_error,
                "detail": health.detail,
            }
        )
        for name, health in sorted(snap.health.items())
    }


def _logs_endpoint(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith("/logs") else f"{base}/logs"


def _log_lines(response: httpx.Response) -> list[str]:
    text = response.text
    if text.lstrip().startswith("{"):
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("lines"), list):
            return [str(line).rstrip("\n") for line in data["lines"]]
    return text.splitlines()


async def vllm_logs(ctx: ToolContext, lines: int = 100, contains: str | None = None) -> str:
    if not ctx.log_url:
        raise ToolError("no vLLM log server configured ([agent] log_url)")
    count = max(1, min(int(lines), MAX_LOG_LINES))
    url = _logs_endpoint(ctx.log_url)
    try:
        if ctx.http is not None:
            response = await ctx.http.get(url, params={"lines": count}, timeout=LOG_TIMEOUT_S)
        else:
            async with httpx.AsyncClient(timeout=LOG_TIMEOUT_S) as client:
                response = await client.get(url, params={"lines": count})
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise ToolError(f"log server {url}: {one_line(error, 160)}") from None
    found = _log_lines(response)
    if contains:
        found = [line for line in found if contains.lower() in line.lower()]
    found = found[-count:]
    if not found:
        return "(no matching log lines)" if contains else "(log is empty)"
    return "\n".join(found)


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: Mapping[str, Any]
    func: Callable[..., Awaitable[Any]] | None = None
    # Action tools only propose; the loop asks the host before anything runs.
    action: bool = False

    def schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


def _params(required: Sequence[str] = (), **properties: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": dict(properties), "required": list(required)}


_STR = {"type": "string"}
_LIMIT = {"type": "integer", "description": f"max rows (default {DEFAULT_LIMIT})"}

READ_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "cluster_summary",
        "Cluster overview: node states, GPU counts and use, job counts, partitions, failing "
        "data sources. Start here.",
        _params(),
        cluster_summary,
    ),
    ToolSpec(
        "list_nodes",
        "List nodes, optionally filtered by state (idle, mixed, alloc, drain, down, ...), "
        "partition, or name glob (gpu-0*).",
        _params(
            state=_STR, partition=_STR, name={"type": "string", "description": "glob"}, limit=_LIMIT
        ),
        list_nodes,
    ),
    ToolSpec(
        "node_detail",
        "One node: state, drain reason, CPUs, memory, each GPU's readings (util, temp, power, "
        "XID, ECC) and the jobs on it.",
        _params(["name"], name=_STR),
        node_detail,
    ),
    ToolSpec(
        "list_jobs",
        "List jobs in the queue, optionally filtered by user, state (PENDING, RUNNING, ...) "
        "or partition.",
        _params(user=_STR, state=_STR, partition=_STR, limit=_LIMIT),
        list_jobs,
    ),
    ToolSpec(
        "job_detail",
        "One job: state, nodes, GPUs, times, and for a pending job its Slurm reason in plain "
        "words.",
        _params(["job_id"], job_id=_STR),
        job_detail,
    ),
    ToolSpec(
        "gpu_history",
        "A node's (or one GPU's) metric over a time range: min/avg/max/last and samples.",
        _params(
            ["node"],
            node=_STR,
            gpu={"type": "integer", "description": "GPU index; all GPUs if omitted"},
            metric={"type": "string", "enum": list(HISTORY_METRICS)},
            range={"type": "string", "description": "like 15m, 1h, 1d (default 1h)"},
        ),
        gpu_history,
    ),
    ToolSpec(
        "idle_gpus",
        "GPUs allocated to jobs but (almost) unused, with the money they burn per hour.",
        _params(threshold_pct={"type": "number", "description": "util below this (default 5)"}),
        idle_gpus,
    ),
    ToolSpec(
        "alerts",
        "Alerts firing now, and recent alert history.",
        _params(include_history={"type": "boolean"}),
        alerts,
    ),
    ToolSpec(
        "source_health",
        "Health of the dashboard's data sources (Slurm, GPU exporters, Prometheus): is the "
        "data fresh, and the last error.",
        _params(),
        source_health,
    ),
    ToolSpec(
        "vllm_logs",
        "Tail of the model server's (vLLM) log, optionally only lines containing a string.",
        _params(
            lines={"type": "integer", "description": f"how many (max {MAX_LOG_LINES})"},
            contains=_STR,
        ),
        vllm_logs,
    ),
)

_ACTION_NOTE = " Only proposes it: the operator confirms or rejects; you get the outcome."
ACTION_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "drain_node",
        "Propose draining a node (no new jobs; running ones finish)." + _ACTION_NOTE,
        _params(["node", "reason"], node=_STR, reason=_STR),
        action=True,
    ),
    ToolSpec(
        "resume_node",
        "Propose resuming a drained or down node." + _ACTION_NOTE,
        _params(["node"], node=_STR),
        action=True,
    ),
    ToolSpec(
        "cancel_job",
        "Propose cancelling a job." + _ACTION_NOTE,
        _params(["job_id"], job_id=_STR),
        action=True,
    ),
    ToolSpec(
        "requeue_job",
        "Propose requeueing a job (it goes back to pending)." + _ACTION_NOTE,
        _params(["job_id"], job_id=_STR),
        action=True,
    ),
)

ALL_TOOLS: Mapping[str, ToolSpec] = {spec.name: spec for spec in READ_TOOLS + ACTION_TOOLS}


def offered_tools(readonly: bool) -> list[ToolSpec]:
    """The tools the model is told about: no action tools at all in read-only mode."""
    return list(READ_TOOLS) if readonly else list(READ_TOOLS + ACTION_TOOLS)


_JSON_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def check_arguments(spec: ToolSpec, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments checked against the tool's schema; ToolError says what to fix."""
    properties: Mapping[str, Any] = spec.parameters.get("properties", {})
    unknown = sorted(set(arguments) - set(properties))
    if unknown:
        raise ToolError(
            f"{spec.name}: unknown argument(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(properties) or 'none'}"
        )
    missing = [name for name in spec.parameters.get("required", []) if name not in arguments]
    if missing:
        raise ToolError(f"{spec.name}: missing required argument(s) {', '.join(missing)}")
    checked: dict[str, Any] = {}
    for name, value in arguments.items():
        if value is None:
            continue
        kind = properties[name].get("type", "string")
        if kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # job ids arrive as numbers from some models
        if kind == "integer" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        allowed = _JSON_TYPES.get(kind, (object,))
        if not isinstance(value, allowed) or (kind != "boolean" and isinstance(value, bool)):
            raise ToolError(f"{spec.name}: argument {name} must be of type {kind}, got {value!r}")
        enum = properties[name].get("enum")
        if enum and value not in enum:
            raise ToolError(f"{spec.name}: {name} must be one of {', '.join(map(str, enum))}")
        checked[name] = value
    return checked
