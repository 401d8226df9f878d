"""`clusterdash snapshot`: one collection cycle as stable JSON or a human table.

The JSON shape is a contract (documented in the README); bump SCHEMA on any
incompatible change. Unknown readings are null, never 0.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from tui.hostlist import compress_hostlist
from tui.job_arrays import split_array_id
from tui.model import ClusterSnapshot, Gpu, Job, Node, SourceHealth
from tui.summary import ClusterSummary

SCHEMA = "clusterdash.snapshot/1"


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _node(node: Node) -> dict[str, Any]:
    return {
        "name": node.name,
        "state": node.display_state,
        "base_state": node.state.value,
        "flags": sorted(node.flags),
        "reason": node.reason,
        "partitions": list(node.partitions),
        "cpus": {"total": node.cpus_total, "allocated": node.cpus_alloc},
        "memory_mb": {"total": node.mem_total_mb, "allocated": node.mem_alloc_mb},
        "gpus": {"total": node.gpus_total, "allocated": node.gpus_alloc, "model": node.gpu_model},
    }


def _gpu(gpu: Gpu) -> dict[str, Any]:
    return {
        "node": gpu.node,
        "index": gpu.index,
        "uuid": gpu.uuid,
        "model": gpu.model,
        "utilization_pct": gpu.utilization_pct,
        "memory_used_mib": gpu.memory_used_mib,
        "memory_total_mib": gpu.memory_total_mib,
        "temperature_c": gpu.temperature_c,
        "power_w": gpu.power_w,
        "sm_clock_mhz": gpu.sm_clock_mhz,
        "last_xid": gpu.last_xid,
        "ecc_uncorrectable": gpu.ecc_uncorrectable,
        "remapped_row_failures": gpu.remapped_row_failures,
        "job_id": gpu.job_id,
        "user": gpu.user,
        "mig": [
            {
                "instance_id": m.instance_id,
                "profile": m.profile,
                "utilization_pct": m.utilization_pct,
                "memory_used_mib": m.memory_used_mib,
            }
            for m in gpu.mig
        ],
    }


def _job(job: Job) -> dict[str, Any]:
    array = split_array_id(job.job_id)
    return {
        "id": job.job_id,
        "name": job.name,
        "user": job.user,
        "account": job.account,
        "partition": job.partition,
        "state": job.state.value,
        "reason": job.reason,
        "nodes": list(job.nodes),
        "nodelist": compress_hostlist(job.nodes),
        "array_job_id": array[0] if array else None,
        "gpu_indices": {node: list(idx) for node, idx in job.gpu_indices.items()},
        "gpus": job.gpu_count,
        "gpus_requested": job.gpus_requested,
        "submit_time": _iso(job.submit_time),
        "start_time": _iso(job.start_time),
        "time_limit_min": job.time_limit_min,
        "held": job.held,
    }


def _health(health: SourceHealth) -> dict[str, Any]:
    return {
        "ok": health.ok,
        "last_success": _iso(health.last_success),
        "latency_s": None if health.latency_s is None else round(health.latency_s, 4),
        "consecutive_failures": health.consecutive_failures,
        "last_error": health.last_error,
        "failing_targets": dict(sorted(health.failing_targets.items())),
    }


def snapshot_to_dict(snapshot: ClusterSnapshot, gpu_hourly_price: float) -> dict[str, Any]:
    summary = asdict(ClusterSummary.of(snapshot, gpu_hourly_price))
    return {
        "schema": SCHEMA,
        "taken_at": _iso(snapshot.taken_at),
        "cluster": snapshot.cluster_name,
        "demo": snapshot.demo,
        "slurm_version": snapshot.slurm_version,
        "gpus_taken_at": _iso(snapshot.gpus_taken_at),
        "gpus_stale": snapshot.gpus_stale,
        "sources": {name: _health(h) for name, h in sorted(snapshot.health.items())},
        "summary": summary,
        "nodes": [_node(n) for n in sorted(snapshot.nodes, key=lambda n: n.name)],
        "gpus": [_gpu(g) for g in sorted(snapshot.gpus, key=lambda g: (g.node, g.index))],
        "jobs": [_job(j) for j in snapshot.jobs],
    }


def snapshot_json(snapshot: ClusterSnapshot, gpu_hourly_price: float) -> str:
    return json.dumps(snapshot_to_dict(snapshot, gpu_hourly_price), indent=2, allow_nan=False)


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def snapshot_table(snapshot: ClusterSnapshot, gpu_hourly_price: float) -> str:
    """A plain-text report for a terminal or a pipe (no colour, fixed columns)."""
    s = ClusterSummary.of(snapshot, gpu_hourly_price)
    states = ", ".join(f"{count} {state}" for state, count in s.nodes_by_state.items()) or "none"
    lines = [
        f"cluster {snapshot.cluster_name}{' (demo)' if snapshot.demo else ''}"
        f"  at {_iso(snapshot.taken_at)}",
        f"nodes {s.nodes_total}: {states}",
        f"gpus {s.gpus_total}: {s.gpus_busy} busy, {s.gpus_idle} idle, "
        f"{s.gpus_allocated_idle} allocated-idle; avg util {_fmt(s.avg_utilization_pct, '%')}, "
        f"avg temp {_fmt(s.avg_temperature_c, 'C')}",
        f"jobs {s.jobs_running} running, {s.jobs_pending} pending; "
        f"cost ${s.cost_per_hour:.2f}/h (idle-allocated ${s.idle_cost_per_hour:.2f}/h)",
    ]
    for name, health in sorted(snapshot.health.items()):
        status = "ok" if health.ok else f"FAILING: {health.last_error}"
        if health.ok and health.last_error:
            status = f"ok (partial: {health.last_error})"
        lines.append(f"source {name}: {status}")
    lines.append("")
    header = f"{'NODE':<16} {'STATE':<15} {'GPUS':>5} {'CPUS':>9} {'UTIL':>5}  REASON"
    lines.append(header)
    for node in sorted(snapshot.nodes, key=lambda n: n.name):
        utils = [g.utilization_pct for g in snapshot.gpus_of(node.name)]
        known = [u for u in utils if u is not None]
        util = _fmt(sum(known) / len(known), "%") if known else "-"
        lines.append(
            f"{node.name:<16} {node.display_state:<15} "
            f"{node.gpus_alloc:>2}/{node.gpus_total:<2} "
            f"{node.cpus_alloc:>4}/{node.cpus_total:<4} {util:>5}  {node.reason}"
        )
    return "\n".join(lines)
