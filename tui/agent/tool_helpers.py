"""Rows and look-ups the agent's tools share: compact JSON-ready rows, node and job finders."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

import httpx

from tui.actions import Action
from tui.agent.reasons import reason_code
from tui.agent.tool_context import ToolError
from tui.durations import format_duration, parse_duration
from tui.model import ClusterSnapshot, Gpu, Job, JobState, Node, NodeBaseState

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def positive_duration(name: str, text: str, not_positive: str) -> float:
    """A duration argument in seconds, or the tool's one-line error naming the argument."""
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise ToolError(f"{name}: {error}") from None
    if seconds <= 0:
        raise ToolError(not_positive)
    return seconds


def age(seconds: float | None) -> str | None:
    return None if seconds is None else format_duration(seconds)


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def compact(row: Mapping[str, Any]) -> dict[str, Any]:
    """Drop empty fields: the model reads fewer tokens, nothing is lost."""
    return {k: v for k, v in row.items() if v not in (None, "", (), [], {})}


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def row_limit(value: int | None) -> int:
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


def node_row(snap: ClusterSnapshot, node: Node) -> dict[str, Any]:
    gpus = snap.gpus_of(node.name)
    utils = [g.utilization_pct for g in gpus if g.utilization_pct is not None]
    temps = [g.temperature_c for g in gpus if g.temperature_c is not None]
    return compact(
        {
            "name": node.name,
            "state": node.display_state,
            "gpus": f"{node.gpus_alloc}/{node.gpus_total}",
            "partitions": ",".join(node.partitions),
            "util_avg": rounded(mean(utils)),
            "temp_max": rounded(max(temps)) if temps else None,
            "reason": node.reason,
        }
    )


def gpu_row(gpu: Gpu) -> dict[str, Any]:
    return compact(
        {
            "gpu": gpu.index,
            "util": rounded(gpu.utilization_pct),
            "mem_pct": rounded(gpu.memory_pct),
            "temp": rounded(gpu.temperature_c),
            "power_w": rounded(gpu.power_w),
            "xid": gpu.last_xid,
            "ecc_uncorr": gpu.ecc_uncorrectable or None,
            "remap_fail": gpu.remapped_row_failures or None,
            "job": gpu.job_id,
            "user": gpu.user,
            "error": gpu.error,
        }
    )


def job_row(job: Job, now: float) -> dict[str, Any]:
    pending = job.pending_for_s(now)
    running = (
        now - job.start_time
        if job.state is JobState.RUNNING and job.start_time is not None
        else None
    )
    return compact(
        {
            "id": job.job_id,
            "name": job.name,
            "user": job.user,
            "partition": job.partition,
            "state": job.state.value,
            "gpus": job.gpu_count or None,
            "nodes": ",".join(job.nodes),
            "reason": reason_code(job.reason) if job.state is JobState.PENDING else None,
            "pending_for": age(pending),
            "running_for": age(running),
        }
    )


def find_node(snap: ClusterSnapshot, name: str) -> Node:
    node = snap.node_by_name.get(name.strip())
    if node is None:
        close = [n for n in snap.node_by_name if name.strip().lower() in n.lower()][:5]
        hint = f" (similar: {', '.join(close)})" if close else ""
        raise ToolError(f"no node named {name!r}{hint}")
    return node


def find_job(snap: ClusterSnapshot, job_id: str | int) -> Job:
    key = str(job_id).strip()
    job = snap.job_by_id.get(key)
    if job is None:
        raise ToolError(
            f"no job {key} in the queue (finished jobs leave squeue; ask sacct for history)"
        )
    return job


def check_targets_exist(snap: ClusterSnapshot | None, action: Action) -> None:
    """A proposed action names nodes or jobs the cluster has; without data, Slurm decides."""
    if snap is None:
        return
    known = snap.node_by_name if action.kind.targets_nodes else snap.job_by_id
    missing = [t for t in action.targets if t not in known]
    if missing:
        noun = "node" if action.kind.targets_nodes else "job"
        raise ToolError(f"no {noun} {', '.join(missing)} in the cluster; nothing proposed")


def plain(item: object) -> object:
    """An alert of whatever shape the alerting module uses, as JSON-ready data."""
    if hasattr(item, "to_dict"):
        return item.to_dict()
    if is_dataclass(item) and not isinstance(item, type):
        return compact(json.loads(json.dumps(asdict(item), default=str)))
    if isinstance(item, Mapping):
        return compact(item)
    return str(item)


def logs_endpoint(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith("/logs") else f"{base}/logs"


def log_lines(response: httpx.Response) -> list[str]:
    """A log server's answer as lines: plain text, or JSON {"lines": [...]}."""
    text = response.text
    if text.lstrip().startswith("{"):
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("lines"), list):
            return [str(line).rstrip("\n") for line in data["lines"]]
    return text.splitlines()
