"""Cluster-wide figures derived from one snapshot (summary line, snapshot JSON, agent)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tui.model import ClusterSnapshot, JobState, is_allocated_idle
from tui.sources.exporters import GPU_LOST_ERROR

BUSY_THRESHOLD_PCT = 5.0


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    nodes_total: int
    nodes_by_state: dict[str, int]
    gpus_total: int
    gpus_reporting: int
    gpus_busy: int
    gpus_idle: int
    gpus_allocated: int
    gpus_allocated_idle: int
    avg_utilization_pct: float | None
    avg_temperature_c: float | None
    memory_used_mib: float
    memory_total_mib: float
    cpus_total: int
    cpus_alloc: int
    jobs_running: int
    jobs_pending: int
    cost_per_hour: float
    idle_cost_per_hour: float
    gpus_lost: int = 0

    @classmethod
    def of(cls, snapshot: ClusterSnapshot, gpu_hourly_price: float) -> ClusterSummary:
        gpus = snapshot.gpus
        utils = [g.utilization_pct for g in gpus if g.utilization_pct is not None]
        temps = [g.temperature_c for g in gpus if g.temperature_c is not None]
        busy = sum(1 for u in utils if u >= BUSY_THRESHOLD_PCT)
        allocated_idle = sum(1 for g in gpus if is_allocated_idle(g, BUSY_THRESHOLD_PCT))
        slurm_gpus = sum(n.gpus_total for n in snapshot.nodes)
        gpus_total = max(slurm_gpus, len(gpus))
        allocated = sum(n.gpus_alloc for n in snapshot.nodes) or sum(
            1 for g in gpus if g.job_id is not None
        )
        job_states = Counter(j.state for j in snapshot.jobs)
        return cls(
            nodes_total=len(snapshot.nodes),
            nodes_by_state=dict(Counter(n.display_state for n in snapshot.nodes).most_common()),
            gpus_total=gpus_total,
            gpus_reporting=len(gpus),
            gpus_busy=busy,
            gpus_idle=len(utils) - busy,
            gpus_allocated=allocated,
            gpus_allocated_idle=allocated_idle,
            avg_utilization_pct=sum(utils) / len(utils) if utils else None,
            avg_temperature_c=sum(temps) / len(temps) if temps else None,
            memory_used_mib=sum(g.memory_used_mib or 0.0 for g in gpus),
            memory_total_mib=sum(g.memory_total_mib or 0.0 for g in gpus),
            cpus_total=sum(n.cpus_total for n in snapshot.nodes),
            cpus_alloc=sum(n.cpus_alloc for n in snapshot.nodes),
            jobs_running=job_states[JobState.RUNNING],
            jobs_pending=job_states[JobState.PENDING],
            cost_per_hour=gpus_total * gpu_hourly_price,
            idle_cost_per_hour=allocated_idle * gpu_hourly_price,
            gpus_lost=gpus_lost(snapshot),
        )


def gpus_lost(snapshot: ClusterSnapshot) -> int:
    """GPUs gone from their nodes.

    Exporters report a lost GPU in two ways: the pod's exporter (like DCGM) keeps listing a
    GPU that fell off the bus, with a DCGM_EXP_GPU_HEALTH_STATUS failure (Gpu.error); a GPU
    the driver no longer enumerates simply vanishes from the page. The second kind is counted
    against the node's Slurm GRES: on a node whose exporter still lists GPUs, each GRES GPU
    it no longer lists is lost. A node with no GPU readings at all is unknown (its exporter is
    down or not scraped), never counted as lost.
    """
    lost = sum(1 for gpu in snapshot.gpus if gpu.error == GPU_LOST_ERROR)
    for node in snapshot.nodes:
        listed = len(snapshot.gpus_of(node.name))
        if listed:
            lost += max(0, node.gpus_total - listed)
    return lost
