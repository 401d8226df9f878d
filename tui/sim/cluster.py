"""A deterministic simulated Slurm GPU cluster whose state is a function of time.

State advances lazily, in fixed 5-second ticks from `start`, up to whatever the clock says
when it is read; how often it is read never changes what it shows. Randomness comes from
one seeded generator consumed only while stepping ticks, so the same seed and the same
clock readings give identical output.

Scheduling is conservative: every job gets a reservation (nodes, GPU indices, start tick)
when it is submitted, and users only submit jobs whose planned wait is under 40 minutes,
so no job ever pends for 50 minutes unless an operator intervenes. GPU readings are pure
functions of the job holding the GPU and the tick (see gpus.py), so a tick only costs the
scheduling events in it.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator

from tui.model import JobState
from tui.sim import gpus as gpu_model
from tui.sim.gpus import GpuSample
from tui.sim.incidents import (
    OVERHEAT_PEAK_C,
    XID_CODE,
    Incident,
    IncidentKind,
    incident_script,
)
from tui.sim.jobs import (
    MAX_PLANNED_WAIT_TICKS,
    REQUEUE_DELAY_TICKS,
    TICK_S,
    Phase,
    SimJob,
    idle_notebook_job,
    random_job,
)

NEVER = 1 << 60
FIRST_JOB_ID = 1001
MAX_SUBMISSIONS_PER_TICK = 64
CPUS_PER_NODE = 128
MEMORY_PER_NODE_MB = 1024 * 1024
# What a job asks for per GPU, as a share of the node: all its CPUs, 3/4 of its memory.
MEMORY_SHARE_FOR_GPUS = 0.75
FINISHED_HISTORY = 500


class SimActionError(Exception):
    """An action Slurm would refuse; the message is Slurm's own error text."""


class SimCluster:
    """N nodes of 8 A100s with users, jobs, load and scripted incidents."""

    def __init__(
        self,
        nodes: int = 16,
        seed: int = 0,
        start: float | None = None,
        gpus_per_node: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if nodes < 1:
            raise ValueError("a simulated cluster needs at least one node")
        if not 1 <= gpus_per_node <= 16:
            raise ValueError("gpus_per_node must be between 1 and 16")
        self.seed = seed
        self.clock = clock
        self.start = float(clock() if start is None else start)
        self.gpus_per_node = gpus_per_node
        width = max(2, len(str(nodes)))
        self.node_names: tuple[str, ...] = tuple(f"gpu-{i:0{width}d}" for i in range(1, nodes + 1))
        self.node_index: dict[str, int] = {name: i for i, name in enumerate(self.node_names)}
        self.debug_nodes: tuple[int, ...] = tuple(range(max(1, min(4, nodes // 8))))
        self.incidents: tuple[Incident, ...] = incident_script(self.node_names)
        self.tick = 0
        # Bumped whenever anything visible may have changed (a tick or an action).
        self.version = 0
        self.finished: deque[SimJob] = deque(maxlen=FINISHED_HISTORY)
        self.finished_counts: Counter[JobState] = Counter()

        self._rng = random.Random(seed)
        self._load_phase = self._rng.uniform(0.0, 2 * math.pi)
        total = nodes * gpus_per_node
        # Per GPU (flat index node * gpus_per_node + gpu), plain lists for speed.
        self._free_at = [0] * total
        self._last_reserver = [0] * total
        self._holder = [0] * total
        self._heat_from = [gpu_model.idle_temperature(i) for i in range(total)]
        self._heat_changed = [-(10**6)] * total
        self._drained: dict[int, str] = {}
        self._jobs: dict[int, SimJob] = {}
        self._pending_heap: list[tuple[int, int]] = []
        self._running_heap: list[tuple[int, int]] = []
        self._busy_gpus = 0
        self._reserved_gpus = 0
        self._next_job_id = FIRST_JOB_ID
        self._unavailable: dict[int, list[tuple[int, int]]] = {}
        self._overheat: Incident | None = None
        self._overheat_gpu = -1
        self._xid_gpu = -1
        self._xid_tick = NEVER
        self._apply_incident_script()
        self._initial_fill()

    # ---- time ---------------------------------------------------------------------------

    def tick_at(self, when: float) -> int:
        return max(0, math.floor((when - self.start) / TICK_S))

    def time_of(self, tick: int) -> float:
        return self.start + tick * TICK_S

    def sync(self) -> int:
        """Advance to the clock's current tick (never backwards) and return it."""
        target = self.tick_at(self.clock())
        while self.tick < target:
            self._step()
        return self.tick

    @property
    def now(self) -> float:
        return self.time_of(self.tick)

    def offset_s(self) -> float:
        return self.tick * TICK_S

    # ---- read access ----------------------------------------------------------------------

    def jobs(self) -> Iterator[SimJob]:
        """Pending and running jobs, in job id order."""
        return iter(sorted(self._jobs.values(), key=lambda job: job.job_id))

    def job(self, job_id: int) -> SimJob | None:
        return self._jobs.get(job_id)

    def drain_reason(self, node: int) -> str | None:
        return self._drained.get(node)

    def is_responding(self, node: int, tick: int | None = None) -> bool:
        at = self.tick if tick is None else tick
        return not any(a <= at < b for a, b in self._unavailable.get(node, ()))

    def holder(self, node: int, gpu: int) -> SimJob | None:
        job_id = self._holder[node * self.gpus_per_node + gpu]
        return self._jobs.get(job_id) if job_id else None

    def holder_id(self, node: int, gpu: int) -> int:
        """The id of the job holding this GPU, 0 when it is free."""
        return self._holder[node * self.gpus_per_node + gpu]

    def gpus_allocated(self, node: int) -> int:
        base = node * self.gpus_per_node
        return sum(1 for job_id in self._holder[base : base + self.gpus_per_node] if job_id)

    def load_target(self, tick: int) -> float:
        """Fraction of the GPUs users try to keep busy: rises and falls over about 2 hours."""
        seconds = tick * TICK_S
        slow = math.sin(2 * math.pi * seconds / 7200.0 + self._load_phase)
        fast = math.sin(2 * math.pi * seconds / 1300.0 + 2 * self._load_phase)
        return 0.55 + 0.25 * slow + 0.05 * fast

    def gpu_samples(self, node: int) -> list[GpuSample]:
        """This node's GPU readings at the current tick, incidents included."""
        tick = self.tick
        samples = []
        base = node * self.gpus_per_node
        for flat in range(base, base + self.gpus_per_node):
            job_id = self._holder[flat]
            job = self._jobs.get(job_id) if job_id else None
            reading = gpu_model.sample(
                flat, job, tick, self.seed, self._heat_from[flat], self._heat_changed[flat]
            )
            if flat == self._overheat_gpu:
                reading = self._overheated(reading, tick, flat)
            if flat == self._xid_gpu and tick >= self._xid_tick:
                reading = reading._replace(xid=XID_CODE)
            samples.append(reading)
        return samples

    # ---- actions (Slurm semantics; errors carry Slurm's wording) --------------------------

    def drain(self, names: tuple[str, ...], reason: str) -> None:
        self.sync()
        nodes = self._node_positions(names)
        for node in nodes:
            self._drained[node] = reason
        displaced = [
            job
            for job in self._jobs.values()
            if job.phase is Phase.PENDING and set(job.nodes) & set(nodes)
        ]
        for job in sorted(displaced, key=lambda j: j.job_id):
            self._unreserve(job)
            self._plan(job, self.tick, max_wait=None)
        self.version += 1

    def resume(self, names: tuple[str, ...]) -> None:
        self.sync()
        nodes = self._node_positions(names)
        if not any(node in self._drained for node in nodes):
            raise SimActionError("Invalid node state specified")
        for node in nodes:
            self._drained.pop(node, None)
        stuck = [
            j for j in self._jobs.values() if j.phase is Phase.PENDING and j.planned_start >= NEVER
        ]
        for job in sorted(stuck, key=lambda j: j.job_id):
            if not job.held:
                self._unreserve(job)
                self._plan(job, self.tick, max_wait=None)
        self.version += 1

    def cancel(self, job_id: str) -> None:
        self.sync()
        job = self._find_job(job_id)
        if job.phase is Phase.PENDING:
            self._unreserve(job)
            self._retire(job, JobState.CANCELLED)
        else:
            self._finish(job, JobState.CANCELLED, self.tick)
        self.version += 1

    def requeue(self, job_id: str) -> None:
        self.sync()
        job = self._find_job(job_id)
        if job.phase is Phase.PENDING:
            raise SimActionError("Job is pending execution")
        self._release_gpus(job, self.tick)
        self._busy_gpus -= job.gpu_total
        job.phase = Phase.PENDING
        job.start_tick = None
        job.submit_tick = self.tick
        job.begin_tick = self.tick + REQUEUE_DELAY_TICKS
        self._plan(job, self.tick, max_wait=None)
        self.version += 1

    def hold(self, job_id: str) -> None:
        self.sync()
        job = self._find_job(job_id)
        if job.phase is not Phase.PENDING:
            raise SimActionError("Job is no longer pending execution")
        if not job.held:
            self._unreserve(job)
            job.held = True
            job.planned_start = NEVER
        self.version += 1

    def release(self, job_id: str) -> None:
        self.sync()
        job = self._find_job(job_id)
        if job.phase is not Phase.PENDING:
            raise SimActionError("Job is no longer pending execution")
        if job.held:
            job.held = False
            self._plan(job, self.tick, max_wait=None)
        self.version += 1

    def _node_positions(self, names: tuple[str, ...]) -> list[int]:
        positions = [self.node_index.get(name) for name in names]
        if any(position is None for position in positions):
            raise SimActionError("Invalid node name specified")
        return [p for p in positions if p is not None]

    def _find_job(self, job_id: str) -> SimJob:
        job = self._jobs.get(int(job_id)) if job_id.isdigit() else None
        if job is None:
            raise SimActionError("Invalid job id specified")
        return job

    # ---- stepping -------------------------------------------------------------------------

    def _step(self) -> None:
        tick = self.tick + 1
        self.tick = tick
        if tick == self._xid_tick:
            holder = self._jobs.get(self._holder[self._xid_gpu])
            if holder is not None:
                self._finish(holder, JobState.FAILED, tick)
        running = self._running_heap
        while running and running[0][0] <= tick:
            end, job_id = heapq.heappop(running)
            job = self._jobs.get(job_id)
            if job is not None and job.phase is Phase.RUNNING and job.end_tick == end:
                self._finish(job, job.outcome, tick)
        pending = self._pending_heap
        while pending and pending[0][0] <= tick:
            planned, job_id = heapq.heappop(pending)
            job = self._jobs.get(job_id)
            if job is None or job.phase is not Phase.PENDING or job.held:
                continue
            if job.planned_start != planned:
                continue
            if self._can_start(job, tick):
                self._start(job, tick, tick)
            else:
                self._unreserve(job)
                self._plan(job, tick, max_wait=None)
        self._submit(tick)
        self.version += 1

    def _submit(self, tick: int) -> None:
        schedulable = len(self.node_names) - len(self._drained)
        capacity = schedulable * self.gpus_per_node
        deficit = self.load_target(tick) * capacity - self._busy_gpus - self._reserved_gpus
        expected = max(0.0, deficit) / (5.0 * 12.0)
        attempts = math.floor(expected)
        if self._rng.random() < expected - attempts:
            attempts += 1
        if self._rng.random() < 0.04:
            attempts += 1  # someone submits regardless of load: queues form
        for _ in range(min(attempts, MAX_SUBMISSIONS_PER_TICK)):
            job = random_job(
                self._rng,
                self._next_job_id,
                tick,
                len(self.node_names),
                len(self.debug_nodes),
                self.gpus_per_node,
            )
            if self._plan(job, tick, max_wait=MAX_PLANNED_WAIT_TICKS):
                self._next_job_id += 1

    # ---- scheduling -----------------------------------------------------------------------

    def _candidates(self, job: SimJob) -> range | tuple[int, ...]:
        return self.debug_nodes if job.partition == "debug" else range(len(self.node_names))

    def _ready_tick(self, node: int, want: int, tick: int) -> int:
        """Earliest tick >= tick at which `want` GPUs of this node are free for good."""
        per = self.gpus_per_node
        base = node * per
        free_at = self._free_at[base : base + per]
        if want == 1:
            ready = min(free_at)
        elif want == per:
            ready = max(free_at)
        else:
            ready = sorted(free_at)[want - 1]
        ready = max(ready, tick)
        for start, end in self._unavailable.get(node, ()):
            if start <= ready < end:
                ready = end
        return ready

    def _plan(self, job: SimJob, tick: int, max_wait: int | None) -> bool:
        """Reserve nodes and GPUs for a job; False (nothing reserved) if it would wait too long.

        With max_wait None the job is queued anyway (operator actions), possibly never to run
        while no node can take it.
        """
        per = self.gpus_per_node
        want = job.gpus_per_node
        earliest = max(tick, job.begin_tick)
        mix = (job.job_id * 0x9E3779B1) & 0xFFFFFFFF
        options: list[tuple[int, int, int]] = []
        for node in self._candidates(job):
            if node in self._drained:
                continue
            ready = self._ready_tick(node, want, earliest)
            # Among nodes ready equally early, a per-job shuffle spreads the load.
            options.append((ready, ((node + 1) * mix) & 0xFFFF, node))
        if len(options) < job.node_count:
            # A user's submission that cannot be placed is never made: nothing is registered,
            # so its job id stays free for the next submission.
            if max_wait is not None:
                return False
            self._queue_without_plan(job)
            return True
        chosen = heapq.nsmallest(job.node_count, options)
        start = max(option[0] for option in chosen)
        if max_wait is not None and start - tick > max_wait:
            return False
        nodes = tuple(sorted(option[2] for option in chosen))
        indices = []
        previous = []
        end = start + job.run_ticks
        for node in nodes:
            base = node * per
            order = sorted(range(per), key=lambda gpu, b=base: self._free_at[b + gpu])
            picked = tuple(sorted(order[:want]))
            indices.append(picked)
            for gpu in picked:
                flat = base + gpu
                previous.append(self._free_at[flat])
                self._free_at[flat] = end
                self._last_reserver[flat] = job.job_id
        job.nodes = nodes
        job.gpu_indices = tuple(indices)
        job.previous_free_at = tuple(previous)
        job.planned_start = start
        job.phase = Phase.PENDING
        self._jobs[job.job_id] = job
        self._reserved_gpus += job.gpu_total
        if start <= tick:
            self._start(job, tick, tick)
        else:
            heapq.heappush(self._pending_heap, (start, job.job_id))
        return True

    def _queue_without_plan(self, job: SimJob) -> None:
        job.nodes = ()
        job.gpu_indices = ()
        job.previous_free_at = ()
        job.planned_start = NEVER
        job.phase = Phase.PENDING
        self._jobs[job.job_id] = job

    def _unreserve(self, job: SimJob) -> None:
        """Give back a pending job's reservation (exactly, where nothing was booked after it)."""
        if not job.nodes:
            return
        previous = iter(job.previous_free_at)
        for flat in self._flat_gpus(job):
            before = next(previous)
            if self._last_reserver[flat] == job.job_id:
                self._free_at[flat] = before
                self._last_reserver[flat] = 0
        self._reserved_gpus -= job.gpu_total
        job.nodes = ()
        job.gpu_indices = ()
        job.previous_free_at = ()
        job.planned_start = NEVER

    def _can_start(self, job: SimJob, tick: int) -> bool:
        if not job.nodes:
            return False
        for node in job.nodes:
            if node in self._drained or not self.is_responding(node, tick):
                return False
        return all(self._holder[flat] == 0 for flat in self._flat_gpus(job))

    def _start(self, job: SimJob, tick: int, start_tick: int) -> None:
        for flat in self._flat_gpus(job):
            self._set_holder(flat, job.job_id, tick)
        job.phase = Phase.RUNNING
        job.start_tick = start_tick
        job.end_tick = start_tick + job.run_ticks
        self._reserved_gpus -= job.gpu_total
        self._busy_gpus += job.gpu_total
        heapq.heappush(self._running_heap, (job.end_tick, job.job_id))

    def _finish(self, job: SimJob, state: JobState, tick: int) -> None:
        self._release_gpus(job, tick)
        self._busy_gpus -= job.gpu_total
        self._retire(job, state)

    def _retire(self, job: SimJob, state: JobState) -> None:
        job.phase = Phase.DONE
        job.final_state = state
        job.finished_tick = self.tick
        self._jobs.pop(job.job_id, None)
        self.finished.append(job)
        self.finished_counts[state] += 1

    def _release_gpus(self, job: SimJob, tick: int) -> None:
        for flat in self._flat_gpus(job):
            if self._holder[flat] == job.job_id:
                self._set_holder(flat, 0, tick)
            if self._last_reserver[flat] == job.job_id:
                self._free_at[flat] = tick
                self._last_reserver[flat] = 0

    def _set_holder(self, flat: int, job_id: int, tick: int) -> None:
        """Change who holds a GPU, remembering its temperature so it cools or warms smoothly."""
        current = self._jobs.get(self._holder[flat]) if self._holder[flat] else None
        self._heat_from[flat] = gpu_model.unrounded_temperature(
            flat, current, tick, self.seed, self._heat_from[flat], self._heat_changed[flat]
        )
        self._heat_changed[flat] = tick
        self._holder[flat] = job_id

    def _flat_gpus(self, job: SimJob) -> Iterator[int]:
        per = self.gpus_per_node
        for node, indices in zip(job.nodes, job.gpu_indices, strict=True):
            for gpu in indices:
                yield node * per + gpu

    # ---- incidents and the state at tick 0 ------------------------------------------------

    def _apply_incident_script(self) -> None:
        per = self.gpus_per_node
        for incident in self.incidents:
            node = self.node_index[incident.node]
            gpu = min(incident.gpu or 0, per - 1)
            match incident.kind:
                case IncidentKind.DRAINED:
                    self._drained[node] = incident.detail
                case IncidentKind.OVERHEAT:
                    self._overheat = incident
                    self._overheat_gpu = node * per + gpu
                case IncidentKind.XID:
                    self._xid_gpu = node * per + gpu
                    self._xid_tick = round(incident.start_s / TICK_S)
                case IncidentKind.NOT_RESPONDING:
                    end = NEVER if incident.end_s is None else round(incident.end_s / TICK_S)
                    window = (round(incident.start_s / TICK_S), end)
                    self._unavailable.setdefault(node, []).append(window)
                case IncidentKind.ALLOCATED_IDLE:
                    self._place_idle_job(node, gpu)

    def _place_idle_job(self, node: int, gpu: int) -> None:
        job = idle_notebook_job(self._next_job_id)
        self._next_job_id += 1
        flat = node * self.gpus_per_node + gpu
        job.nodes = (node,)
        job.gpu_indices = ((gpu,),)
        job.previous_free_at = (0,)
        job.planned_start = 0
        self._free_at[flat] = job.run_ticks
        self._last_reserver[flat] = job.job_id
        self._jobs[job.job_id] = job
        self._reserved_gpus += 1
        self._start(job, 0, 0)

    def _initial_fill(self) -> None:
        """Jobs already running when the simulation starts, up to the load target."""
        capacity = (len(self.node_names) - len(self._drained)) * self.gpus_per_node
        target = self.load_target(0) * capacity
        misses = 0
        while self._busy_gpus < target and misses < 30:
            job = random_job(
                self._rng,
                self._next_job_id,
                0,
                len(self.node_names),
                len(self.debug_nodes),
                self.gpus_per_node,
            )
            if not self._plan(job, 0, max_wait=0):
                misses += 1
                continue
            self._next_job_id += 1
            # Pretend it started a while ago: shift its run back in time.
            elapsed = self._rng.randrange(job.run_ticks)
            job.start_tick = -elapsed
            job.end_tick = job.run_ticks - elapsed
            job.submit_tick = job.start_tick - self._rng.randrange(1, 60)
            heapq.heappush(self._running_heap, (job.end_tick, job.job_id))
            for flat in self._flat_gpus(job):
                self._free_at[flat] = job.end_tick
                self._heat_changed[flat] = -(10**6)

    def _overheated(self, reading: GpuSample, tick: int, flat: int) -> GpuSample:
        incident = self._overheat
        if incident is None or not incident.active_at(tick * TICK_S):
            return reading
        offset = tick * TICK_S
        normal = reading.temperature_c
        crit_end = incident.critical_end_s if incident.critical_end_s is not None else math.inf
        if offset < incident.critical_start_s:
            span = incident.critical_start_s - incident.start_s
            fraction = (offset - incident.start_s) / span
            temperature = normal + (OVERHEAT_PEAK_C - 3 - normal) * fraction
        elif offset < crit_end:
            noise, _ = gpu_model.jitter_pair(flat, tick, self.seed + 1)
            temperature = OVERHEAT_PEAK_C + 1.5 * noise
            power = min(gpu_model.MAX_POWER_W, reading.power_w + 30.0)
            sm_clock = min(reading.sm_clock_mhz, gpu_model.THROTTLED_SM_CLOCK_MHZ)
            reading = reading._replace(power_w=round(power, 3), sm_clock_mhz=sm_clock)
        else:
            end = incident.end_s if incident.end_s is not None else crit_end + 60.0
            fraction = (offset - crit_end) / (end - crit_end)
            temperature = OVERHEAT_PEAK_C - 4 + (normal - OVERHEAT_PEAK_C + 4) * fraction
        rounded = round(temperature)
        return reading._replace(temperature_c=rounded, memory_temperature_c=rounded + 3)
