"""Lossless JSON form of a ClusterSnapshot, for the collector socket (not the public schema)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from tui.model import (
    ClusterSnapshot,
    Gpu,
    Job,
    JobState,
    MigInstance,
    Node,
    NodeBaseState,
    SourceHealth,
)

_GPU_FIELDS = tuple(Gpu.__dataclass_fields__)
_HEALTH_FIELDS = tuple(SourceHealth.__dataclass_fields__)
_MIG_COLUMN = _GPU_FIELDS.index("mig")


def _node(node: Node) -> dict[str, Any]:
    return {
        "name": node.name,
        "state": node.state.value,
        "flags": sorted(node.flags),
        "reason": node.reason,
        "partitions": list(node.partitions),
        "cpus_total": node.cpus_total,
        "cpus_alloc": node.cpus_alloc,
        "mem_total_mb": node.mem_total_mb,
        "mem_alloc_mb": node.mem_alloc_mb,
        "gpus_total": node.gpus_total,
        "gpus_alloc": node.gpus_alloc,
        "gpu_model": node.gpu_model,
    }


def _job(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "name": job.name,
        "user": job.user,
        "account": job.account,
        "partition": job.partition,
        "state": job.state.value,
        "reason": job.reason,
        "nodes": list(job.nodes),
        "gpu_indices": {node: list(indices) for node, indices in job.gpu_indices.items()},
        "gpus_per_node": job.gpus_per_node,
        "gpus_requested": job.gpus_requested,
        "submit_time": job.submit_time,
        "start_time": job.start_time,
        "time_limit_min": job.time_limit_min,
        "held": job.held,
    }


def _health(health: SourceHealth) -> dict[str, Any]:
    fields = {f: getattr(health, f) for f in _HEALTH_FIELDS}
    fields["failing_targets"] = dict(health.failing_targets)
    return fields


def _gpu(gpu: Gpu) -> list[Any]:
    row = [getattr(gpu, f) for f in _GPU_FIELDS]
    row[_MIG_COLUMN] = [
        [m.instance_id, m.profile, m.utilization_pct, m.memory_used_mib] for m in gpu.mig
    ]
    return row


def _gpu_from(row: list[Any]) -> Gpu:
    row = list(row)
    row[_MIG_COLUMN] = tuple(MigInstance(*m) for m in row[_MIG_COLUMN])
    return Gpu(*row)


def encode(snapshot: ClusterSnapshot) -> dict[str, Any]:
    return {
        "taken_at": snapshot.taken_at,
        "cluster_name": snapshot.cluster_name,
        "demo": snapshot.demo,
        "slurm_version": snapshot.slurm_version,
        "gpus_taken_at": snapshot.gpus_taken_at,
        "gpus_stale": snapshot.gpus_stale,
        "health": {name: _health(h) for name, h in snapshot.health.items()},
        "nodes": [_node(n) for n in snapshot.nodes],
        "gpus": [_gpu(g) for g in snapshot.gpus],
        "jobs": [_job(j) for j in snapshot.jobs],
    }


def decode(data: dict[str, Any]) -> ClusterSnapshot:
    """The snapshot `encode` made; ValueError/KeyError/TypeError on anything else."""
    nodes = tuple(
        Node(
            **{
                **n,
                "state": NodeBaseState(n["state"]),
                "flags": frozenset(n["flags"]),
                "partitions": tuple(n["partitions"]),
            }
        )
        for n in data["nodes"]
    )
    jobs = tuple(
        Job(
            **{
                **j,
                "state": JobState(j["state"]),
                "nodes": tuple(j["nodes"]),
                "gpu_indices": MappingProxyType(
                    {node: tuple(idx) for node, idx in j["gpu_indices"].items()}
                ),
            }
        )
        for j in data["jobs"]
    )
    gpus = tuple(_gpu_from(row) for row in data["gpus"])
    health = {
        name: SourceHealth(**{**h, "failing_targets": MappingProxyType(h["failing_targets"])})
        for name, h in data["health"].items()
    }
    return ClusterSnapshot(
        taken_at=float(data["taken_at"]),
        nodes=nodes,
        gpus=gpus,
        jobs=jobs,
        health=MappingProxyType(health),
        cluster_name=str(data["cluster_name"]),
        demo=bool(data["demo"]),
        slurm_version=str(data["slurm_version"]),
        gpus_taken_at=data["gpus_taken_at"],
        gpus_stale=bool(data["gpus_stale"]),
    )
