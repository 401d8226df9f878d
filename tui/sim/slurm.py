"""The simulated cluster behind the Slurm source's interface (WorkloadSource).

fetch() returns what the real Slurm source would build from squeue/sinfo, and
run_action() accepts the same actions with Slurm's own error wording.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType

from tui.actions import Action, ActionError, ActionKind, ActionResult
from tui.model import EMPTY_MAPPING, Job, JobState, Node, NodeBaseState, NodeFlag
from tui.sim.cluster import (
    CPUS_PER_NODE,
    MEMORY_PER_NODE_MB,
    MEMORY_SHARE_FOR_GPUS,
    SimActionError,
    SimCluster,
)
from tui.sim.jobs import Phase, SimJob
from tui.sources.base import SlurmState

SIM_SLURM_VERSION = "23.11.10-sim"
GRES_TYPE = "a100"


class SimSlurmSource:
    """A WorkloadSource named "slurm" that reads and drives a SimCluster."""

    name = "slurm"

    def __init__(self, sim: SimCluster) -> None:
        self.sim = sim
        self._cached: tuple[int, SlurmState] | None = None

    async def fetch(self) -> SlurmState:
        return self.state()

    def state(self) -> SlurmState:
        """The current state, built once per simulation change."""
        self.sim.sync()
        if self._cached is not None and self._cached[0] == self.sim.version:
            return self._cached[1]
        state = SlurmState(
            nodes=tuple(self._node(i) for i in range(len(self.sim.node_names))),
            jobs=self._jobs(),
            version=SIM_SLURM_VERSION,
        )
        self._cached = (self.sim.version, state)
        return state

    async def run_action(self, action: Action) -> ActionResult:
        try:
            action.validate()
        except ActionError as error:
            return ActionResult(action, False, str(error))
        if action.kind.targets_nodes:
            return self._node_action(action)
        return self._job_action(action)

    async def aclose(self) -> None:
        return None

    # ---- building model objects ---------------------------------------------------------

    def _node(self, position: int) -> Node:
        sim = self.sim
        allocated = sim.gpus_allocated(position)
        per = sim.gpus_per_node
        if allocated == 0:
            state = NodeBaseState.IDLE
        elif allocated == per:
            state = NodeBaseState.ALLOCATED
        else:
            state = NodeBaseState.MIXED
        flags: set[str] = set()
        reason = sim.drain_reason(position)
        if reason is not None:
            flags.add(NodeFlag.DRAIN.value)
        if not sim.is_responding(position):
            flags.add(NodeFlag.NOT_RESPONDING.value)
        partitions = ("gpu", "debug") if position in sim.debug_nodes else ("gpu",)
        return Node(
            name=sim.node_names[position],
            state=state,
            flags=frozenset(flags),
            reason=reason or "",
            partitions=partitions,
            cpus_total=CPUS_PER_NODE,
            cpus_alloc=CPUS_PER_NODE * allocated // per,
            mem_total_mb=MEMORY_PER_NODE_MB,
            mem_alloc_mb=int(MEMORY_PER_NODE_MB * MEMORY_SHARE_FOR_GPUS) * allocated // per,
            gpus_total=per,
            gpus_alloc=allocated,
            gpu_model=GRES_TYPE,
        )

    def _jobs(self) -> tuple[Job, ...]:
        jobs = list(self.sim.jobs())
        # Slurm's multifactor priority here is plain age: the oldest waiting job in each
        # partition waits for Resources, the ones behind it for Priority.
        first_waiting: set[int] = set()
        seen_partitions: set[str] = set()
        for job in sorted(jobs, key=lambda j: (j.submit_tick, j.job_id)):
            waiting = job.phase is Phase.PENDING and not job.held
            if waiting and job.partition not in seen_partitions:
                seen_partitions.add(job.partition)
                first_waiting.add(job.job_id)
        return tuple(self._job(job, job.job_id in first_waiting) for job in jobs)

    def _job(self, job: SimJob, first_waiting: bool) -> Job:
        sim = self.sim
        if job.phase is Phase.RUNNING:
            names = tuple(sim.node_names[n] for n in job.nodes)
            indices = MappingProxyType(dict(zip(names, job.gpu_indices, strict=True)))
            state, reason = JobState.RUNNING, ""
            start_time: float | None = sim.time_of(job.start_tick or 0)
        else:
            names, indices = (), EMPTY_MAPPING
            start_time = None
            state = JobState.PENDING
            reason = "Resources" if first_waiting else "Priority"
            if sim.tick < job.begin_tick:
                reason = "BeginTime"
            if job.held:
                reason = "JobHeldUser"
        return Job(
            job_id=str(job.job_id),
            name=job.name,
            user=job.user,
            account=job.account,
            partition=job.partition,
            state=state,
            reason=reason,
            nodes=names,
            gpu_indices=indices,
            gpus_per_node=job.gpus_per_node,
            gpus_requested=job.gpu_total,
            submit_time=sim.time_of(job.submit_tick),
            start_time=start_time,
            time_limit_min=job.time_limit_min,
            held=job.held,
        )

    # ---- actions ------------------------------------------------------------------------

    def _node_action(self, action: Action) -> ActionResult:
        names = action.targets
        try:
            if action.kind is ActionKind.DRAIN:
                self.sim.drain(names, action.reason.strip())
            else:
                self.sim.resume(names)
        except SimActionError as error:
            return ActionResult(action, False, f"slurm_update error: {error}")
        verb = "drained" if action.kind is ActionKind.DRAIN else "resumed"
        return ActionResult(action, True, f"{verb} {', '.join(names)}")

    def _job_action(self, action: Action) -> ActionResult:
        operations: dict[ActionKind, tuple[Callable[[str], None], str]] = {
            ActionKind.CANCEL: (self.sim.cancel, "cancelled"),
            ActionKind.REQUEUE: (self.sim.requeue, "requeued"),
            ActionKind.HOLD: (self.sim.hold, "held"),
            ActionKind.RELEASE: (self.sim.release, "released"),
        }
        operation, verb = operations[action.kind]
        errors = []
        for job_id in action.targets:
            try:
                operation(job_id)
            except SimActionError as error:
                if action.kind is ActionKind.CANCEL:
                    errors.append(f"scancel: error: Kill job error on job id {job_id}: {error}")
                else:
                    errors.append(f"{error} for job {job_id}")
        if errors:
            return ActionResult(action, False, "; ".join(errors))
        noun = "jobs" if len(action.targets) > 1 else "job"
        return ActionResult(action, True, f"{verb} {noun} {', '.join(action.targets)}")
