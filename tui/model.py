"""The immutable domain model every layer shares: nodes, GPUs, jobs, snapshots.

Sources build these; the collector merges them into a ClusterSnapshot; the store,
alert engine, UI and agent only read them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

EMPTY_MAPPING: Mapping[Any, Any] = MappingProxyType({})


class NodeFlag(StrEnum):
    """Slurm node state flags that change what an operator should do."""

    DRAIN = "DRAIN"
    NOT_RESPONDING = "NOT_RESPONDING"
    COMPLETING = "COMPLETING"
    MAINTENANCE = "MAINTENANCE"
    RESERVED = "RESERVED"
    POWERED_DOWN = "POWERED_DOWN"
    POWERING_UP = "POWERING_UP"
    FAIL = "FAIL"
    REBOOT_REQUESTED = "REBOOT_REQUESTED"
    INVALID_REG = "INVALID_REG"
    PLANNED = "PLANNED"
    DYNAMIC_NORM = "DYNAMIC_NORM"
    CLOUD = "CLOUD"


class NodeBaseState(StrEnum):
    IDLE = "IDLE"
    MIXED = "MIXED"
    ALLOCATED = "ALLOCATED"
    DOWN = "DOWN"
    ERROR = "ERROR"
    FUTURE = "FUTURE"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    state: NodeBaseState
    flags: frozenset[str] = frozenset()
    reason: str = ""
    partitions: tuple[str, ...] = ()
    cpus_total: int = 0
    cpus_alloc: int = 0
    mem_total_mb: int = 0
    mem_alloc_mb: int = 0
    gpus_total: int = 0
    gpus_alloc: int = 0
    gpu_model: str = ""

    @property
    def is_drain(self) -> bool:
        return NodeFlag.DRAIN in self.flags

    @property
    def is_unreachable(self) -> bool:
        return self.state is NodeBaseState.DOWN or NodeFlag.NOT_RESPONDING in self.flags

    @property
    def display_state(self) -> str:
        """What sinfo's long form would say, in lower case: 'draining', 'drained', ..."""
        if not self.flags:  # most nodes; read for every node on every snapshot
            return str.lower(self.state)
        if NodeFlag.NOT_RESPONDING in self.flags and self.state is not NodeBaseState.DOWN:
            return "not responding"
        if self.is_drain:
            busy = self.state in (NodeBaseState.ALLOCATED, NodeBaseState.MIXED)
            busy = busy or NodeFlag.COMPLETING in self.flags
            return "draining" if busy else "drained"
        if NodeFlag.COMPLETING in self.flags:
            return "completing"
        if NodeFlag.MAINTENANCE in self.flags:
            return "maint"
        if NodeFlag.POWERED_DOWN in self.flags:
            return "powered down"
        return self.state.value.lower()


@dataclass(frozen=True, slots=True)
class MigInstance:
    """A MIG slice of a GPU (GPU instance id, profile such as "3g.40gb") and its readings."""

    instance_id: str
    profile: str = ""
    utilization_pct: float | None = None
    memory_used_mib: float | None = None


@dataclass(frozen=True, slots=True)
class Gpu:
    """One GPU's latest readings. None means "not reported", never zero."""

    node: str
    index: int
    uuid: str = ""
    model: str = ""
    pci_bus_id: str = ""
    utilization_pct: float | None = None
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    sm_clock_mhz: float | None = None
    last_xid: int | None = None
    ecc_uncorrectable: int | None = None
    remapped_row_failures: int | None = None
    job_id: str | None = None
    user: str | None = None
    error: str | None = None
    # MIG slices, when the GPU is partitioned.
    mig: tuple[MigInstance, ...] = ()

    @property
    def key(self) -> tuple[str, int]:
        return (self.node, self.index)

    @property
    def memory_pct(self) -> float | None:
        if self.memory_used_mib is None or not self.memory_total_mib:
            return None
        return 100.0 * self.memory_used_mib / self.memory_total_mib


class JobState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUSPENDED = "SUSPENDED"
    COMPLETING = "COMPLETING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    BOOT_FAIL = "BOOT_FAIL"
    DEADLINE = "DEADLINE"
    REQUEUED = "REQUEUED"
    CONFIGURING = "CONFIGURING"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, text: str) -> JobState:
        try:
            return cls(text.strip().upper())
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str
    name: str = ""
    user: str = ""
    account: str = ""
    partition: str = ""
    state: JobState = JobState.UNKNOWN
    reason: str = ""
    nodes: tuple[str, ...] = ()
    # node name -> GPU indices on that node held by this job (from Slurm's GRES IDX).
    gpu_indices: Mapping[str, tuple[int, ...]] = field(default_factory=lambda: EMPTY_MAPPING)
    gpus_per_node: int = 0
    # All the GPUs the job asked for (pending jobs too); 0 when it asked for none.
    gpus_requested: int = 0
    submit_time: float | None = None
    start_time: float | None = None
    time_limit_min: int | None = None
    held: bool = False
    # Slurm's scheduling priority (pending jobs are started in its order); None: not reported.
    priority: int | None = None
    # Where Slurm writes the job's output, as it reports them; "" when not reported.
    stdout: str = ""
    stderr: str = ""

    @property
    def gpu_count(self) -> int:
        by_index = sum(len(v) for v in self.gpu_indices.values())
        return by_index or self.gpus_per_node * len(self.nodes)

    def pending_for_s(self, now: float) -> float | None:
        if self.state is not JobState.PENDING or self.submit_time is None:
            return None
        return max(0.0, now - self.submit_time)


def job_is_part_of(job_id: str, requested: str) -> bool:
    """Whether a job Slurm lists answers for a requested id: itself, an array task of it
    (42_7 for 42), or a component of a heterogeneous job (42+1 for 42)."""
    return job_id == requested or job_id.startswith((f"{requested}_", f"{requested}+"))


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """How a source is doing. Errors are one readable line."""

    name: str
    ok: bool = False
    last_success: float | None = None
    last_attempt: float | None = None
    latency_s: float | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    enabled: bool = True
    # A short fact for the status bar when healthy (e.g. the model an endpoint serves).
    detail: str = ""
    # Per target (exporter node name or URL): why it failed in the last cycle.
    failing_targets: Mapping[str, str] = field(default_factory=lambda: EMPTY_MAPPING)

    def succeeded(
        self,
        at: float,
        latency_s: float,
        *,
        partial_error: str | None = None,
        failing_targets: Mapping[str, str] = EMPTY_MAPPING,
    ) -> SourceHealth:
        """This health after an attempt at `at` that answered (perhaps for some targets only)."""
        return replace(
            self,
            ok=True,
            last_success=at,
            last_attempt=at,
            latency_s=latency_s,
            consecutive_failures=0,
            last_error=partial_error,
            failing_targets=failing_targets,
        )

    def failed(self, at: float, message: str) -> SourceHealth:
        """This health after an attempt at `at` that failed with the one-line `message`."""
        return replace(
            self,
            ok=False,
            last_attempt=at,
            consecutive_failures=self.consecutive_failures + 1,
            last_error=message,
            failing_targets=EMPTY_MAPPING,
        )

    def age_s(self, now: float) -> float | None:
        return None if self.last_success is None else max(0.0, now - self.last_success)

    def is_stale(self, now: float, interval_s: float) -> bool:
        age = self.age_s(now)
        return age is None or age > 2 * interval_s + 1


@dataclass(frozen=True)
class ClusterSnapshot:
    """One consistent view of the cluster. Derived indexes are built once, here."""

    taken_at: float
    nodes: tuple[Node, ...] = ()
    gpus: tuple[Gpu, ...] = ()
    jobs: tuple[Job, ...] = ()
    health: Mapping[str, SourceHealth] = field(default_factory=lambda: EMPTY_MAPPING)
    cluster_name: str = "cluster"
    demo: bool = False
    slurm_version: str = ""
    # When the GPU readings in `gpus` were taken; stale: the GPU source's last poll failed
    # and `gpus` are its last good readings (shown as such, never counted as fresh).
    gpus_taken_at: float | None = None
    gpus_stale: bool = False

    # Derived; filled in __post_init__.
    node_by_name: Mapping[str, Node] = field(init=False, repr=False, compare=False)
    job_by_id: Mapping[str, Job] = field(init=False, repr=False, compare=False)
    gpus_by_node: Mapping[str, tuple[Gpu, ...]] = field(init=False, repr=False, compare=False)
    jobs_by_node: Mapping[str, tuple[Job, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        gpus = attach_gpu_owners(self.gpus, self.jobs)
        object.__setattr__(self, "gpus", gpus)
        object.__setattr__(self, "node_by_name", MappingProxyType({n.name: n for n in self.nodes}))
        object.__setattr__(self, "job_by_id", MappingProxyType({j.job_id: j for j in self.jobs}))
        by_node: dict[str, list[Gpu]] = {}
        for gpu in gpus:
            by_node.setdefault(gpu.node, []).append(gpu)
        object.__setattr__(
            self,
            "gpus_by_node",
            MappingProxyType(
                {k: tuple(sorted(v, key=lambda g: g.index)) for k, v in by_node.items()}
            ),
        )
        jobs_by_node: dict[str, list[Job]] = {}
        for job in self.jobs:
            for node in job.nodes:
                jobs_by_node.setdefault(node, []).append(job)
        object.__setattr__(
            self, "jobs_by_node", MappingProxyType({k: tuple(v) for k, v in jobs_by_node.items()})
        )

    def gpus_of(self, node: str) -> tuple[Gpu, ...]:
        return self.gpus_by_node.get(node, ())

    def jobs_on(self, node: str) -> tuple[Job, ...]:
        return self.jobs_by_node.get(node, ())

    def with_health(self, health: Mapping[str, SourceHealth]) -> ClusterSnapshot:
        """The same snapshot with other source health. The indexes built in __post_init__ do
        not depend on health, so they are shared, not rebuilt (replace() would rebuild them:
        ~15 ms at 1,024 nodes, on every update a viewer receives)."""
        copy = object.__new__(ClusterSnapshot)
        copy.__dict__.update(self.__dict__)
        copy.__dict__["health"] = MappingProxyType(dict(health))
        return copy


def attach_gpu_owners(gpus: Iterable[Gpu], jobs: Iterable[Job]) -> tuple[Gpu, ...]:
    """Fill each GPU's job and user from Slurm's per-node GRES index allocation."""
    owner: dict[tuple[str, int], Job] = {}
    for job in jobs:
        if job.state not in (JobState.RUNNING, JobState.COMPLETING, JobState.SUSPENDED):
            continue
        for node, indices in job.gpu_indices.items():
            for index in indices:
                owner[(node, index)] = job
    if not owner:
        return tuple(gpus)
    result = []
    for gpu in gpus:
        job = owner.get((gpu.node, gpu.index))
        if job is not None and (gpu.job_id != job.job_id or gpu.user != job.user):
            gpu = _with_owner(gpu, job.job_id, job.user)
        result.append(gpu)
    return tuple(result)


def _with_owner(gpu: Gpu, job_id: str, user: str) -> Gpu:
    """replace(gpu, job_id=..., user=...) by position: half its cost (4.5-5.8 us against
    9.1-11.8 us), for the thousands of allocated GPUs of every snapshot
    (tests/unit/test_gpu_owners.py checks every field)."""
    return Gpu(
        gpu.node,
        gpu.index,
        gpu.uuid,
        gpu.model,
        gpu.pci_bus_id,
        gpu.utilization_pct,
        gpu.memory_used_mib,
        gpu.memory_total_mib,
        gpu.temperature_c,
        gpu.power_w,
        gpu.sm_clock_mhz,
        gpu.last_xid,
        gpu.ecc_uncorrectable,
        gpu.remapped_row_failures,
        job_id,
        user,
        gpu.error,
        gpu.mig,
    )


# Utilization under which a GPU held by a job counts as idle.
ALLOCATED_IDLE_BELOW_PCT = 5.0


def is_allocated_idle(gpu: Gpu, threshold_pct: float = ALLOCATED_IDLE_BELOW_PCT) -> bool:
    """A GPU held by a job but doing (almost) nothing: money burning."""
    return (
        gpu.job_id is not None
        and gpu.utilization_pct is not None
        and gpu.utilization_pct < threshold_pct
    )


def finite_or_none(value: float) -> float | None:
    """Exporter values that mean "not available" (NaN, inf, dcgm sentinels) become None."""
    if math.isnan(value) or math.isinf(value):
        return None
    # dcgm's blank sentinels are near 2**63 (int64) or 2**31 (int32): never a real reading.
    if abs(value) >= 2147483632:
        return None
    return value
