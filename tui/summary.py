"""Cluster-wide figures derived from one snapshot (summary line, snapshot JSON, agent)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tui.model import ALLOCATED_IDLE_BELOW_PCT, ClusterSnapshot, Gpu, JobState
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
    def of(
        cls,
        snapshot: ClusterSnapshot,
        gpu_hourly_price: float,
        gpu_figures: GpuFigures | None = None,
        slurm_figures: SlurmFigures | None = None,
    ) -> ClusterSummary:
        """`gpu_figures`, `slurm_figures`: the snapshot's, when the caller has them already
        (the UI keeps Slurm's while Slurm was not read again)."""
        # One pass over the GPUs and one over the nodes, not one per figure: the UI reads
        # this for every snapshot it shows.
        gpu_figures = gpu_figures or GpuFigures.of(snapshot.gpus)
        slurm = slurm_figures or SlurmFigures.of(snapshot)
        lost = gpu_figures.lost
        gpus_by_node = snapshot.gpus_by_node
        # GPUs lost from their nodes. Exporters report a lost GPU in two ways: the pod's
        # exporter (like DCGM) keeps listing a GPU that fell off the bus, with a
        # DCGM_EXP_GPU_HEALTH_STATUS failure (Gpu.error, counted with the GPUs); a GPU the
        # driver no longer enumerates simply vanishes from the page, counted here against
        # the node's Slurm GRES. A node with no GPU readings at all is unknown (its
        # exporter is down or not scraped), never counted as lost.
        for name, gres in slurm.gpus_by_node:
            listed = len(gpus_by_node.get(name, ()))
            if listed:
                lost += max(0, gres - listed)
        nodes_total, slurm_gpus, gpus_alloc = slurm.nodes_total, slurm.gpus, slurm.gpus_alloc
        utils = gpu_figures.utils
        temps = gpu_figures.temps
        gpus_total = max(slurm_gpus, len(snapshot.gpus))
        allocated = gpus_alloc or gpu_figures.with_job
        allocated_idle = gpu_figures.allocated_idle
        return cls(
            nodes_total=nodes_total,
            nodes_by_state=dict(slurm.nodes_by_state),
            gpus_total=gpus_total,
            gpus_reporting=len(snapshot.gpus),
            gpus_busy=gpu_figures.busy,
            gpus_idle=len(utils) - gpu_figures.busy,
            gpus_allocated=allocated,
            gpus_allocated_idle=allocated_idle,
            avg_utilization_pct=sum(utils) / len(utils) if utils else None,
            avg_temperature_c=sum(temps) / len(temps) if temps else None,
            memory_used_mib=sum(gpu_figures.memory_used),
            memory_total_mib=sum(gpu_figures.memory_total),
            cpus_total=slurm.cpus_total,
            cpus_alloc=slurm.cpus_alloc,
            jobs_running=slurm.jobs_running,
            jobs_pending=slurm.jobs_pending,
            cost_per_hour=gpus_total * gpu_hourly_price,
            idle_cost_per_hour=allocated_idle * gpu_hourly_price,
            gpus_lost=lost,
        )


@dataclass(frozen=True, slots=True)
class SlurmFigures:
    """What the summary reads from Slurm's nodes and jobs: the same until Slurm is read
    again, which is less often than the GPUs (at 4,096 nodes ~10 ms per snapshot)."""

    nodes_total: int
    nodes_by_state: tuple[tuple[str, int], ...]
    gpus: int
    gpus_alloc: int
    cpus_total: int
    cpus_alloc: int
    jobs_running: int
    jobs_pending: int
    # (node, GPUs in its GRES) for every node.
    gpus_by_node: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, snapshot: ClusterSnapshot) -> SlurmFigures:
        gpus = cpus_total = cpus_alloc = gpus_alloc = 0
        states: Counter[str] = Counter()
        for node in snapshot.nodes:
            gpus += node.gpus_total
            gpus_alloc += node.gpus_alloc
            cpus_total += node.cpus_total
            cpus_alloc += node.cpus_alloc
            states[node.display_state] += 1
        job_states = Counter(j.state for j in snapshot.jobs)
        return cls(
            nodes_total=len(snapshot.nodes),
            nodes_by_state=tuple(states.most_common()),
            gpus=gpus,
            gpus_alloc=gpus_alloc,
            cpus_total=cpus_total,
            cpus_alloc=cpus_alloc,
            jobs_running=job_states[JobState.RUNNING],
            jobs_pending=job_states[JobState.PENDING],
            gpus_by_node=tuple((node.name, node.gpus_total) for node in snapshot.nodes),
        )


NodeGpuFigures = tuple[float | None, int]


@dataclass(slots=True)
class GpuFigures:
    """What the summary reads from the GPUs, and each node's mean utilization and
    allocated-but-idle GPU count (for the nodes table), gathered in one pass.

    One pass serves both: reading ~30,000 GPUs (4,096 nodes) is mostly waiting on memory,
    and a second pass over them for the table cost nearly as much as the first.
    """

    utils: list[float]
    temps: list[float]
    memory_used: list[float]
    memory_total: list[float]
    by_node: dict[str, NodeGpuFigures]
    busy: int = 0
    allocated_idle: int = 0
    with_job: int = 0
    lost: int = 0

    @classmethod
    def of(cls, gpus: Sequence[Gpu]) -> GpuFigures:
        figures = cls([], [], [], [], {})
        utils, temps = figures.utils, figures.temps
        used, total = figures.memory_used, figures.memory_total
        busy = allocated_idle = with_job = lost = 0
        # name -> [utilization sum, readings, allocated idle]; a snapshot lists each node's
        # GPUs together, so the node's entry is looked up once.
        sums: dict[str, list[float]] = {}
        node: str | None = None
        node_sums: list[float] = []
        for gpu in gpus:
            if gpu.node != node:
                node = gpu.node
                node_sums = sums.get(node) or sums.setdefault(node, [0.0, 0, 0])
            util = gpu.utilization_pct
            held = gpu.job_id is not None
            if util is not None:
                utils.append(util)
                node_sums[0] += util
                node_sums[1] += 1
                if util >= BUSY_THRESHOLD_PCT:
                    busy += 1
                elif held:
                    allocated_idle += 1
                if held and util < ALLOCATED_IDLE_BELOW_PCT:
                    node_sums[2] += 1
            if held:
                with_job += 1
            if gpu.temperature_c is not None:
                temps.append(gpu.temperature_c)
            used.append(gpu.memory_used_mib or 0.0)
            total.append(gpu.memory_total_mib or 0.0)
            if gpu.error == GPU_LOST_ERROR:
                lost += 1
        figures.busy, figures.allocated_idle = busy, allocated_idle
        figures.with_job, figures.lost = with_job, lost
        figures.by_node = {
            name: ((util_sum / count if count else None), int(idle))
            for name, (util_sum, count, idle) in sums.items()
        }
        return figures
