"""Schedules sources, merges their latest results into snapshots, publishes them.

Each source runs in its own task on its own interval; the next poll is armed only
after the previous one finished, so one source never runs twice at once. A failing
source keeps its last data (its health says how old) and the others carry on.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Generic, Protocol, TypeVar

from loguru import logger

from tui.actions import Action, ActionKind
from tui.model import (
    EMPTY_MAPPING,
    ClusterSnapshot,
    Job,
    JobState,
    Node,
    NodeFlag,
    SourceHealth,
    job_is_part_of,
)
from tui.sources.base import (
    GpuReading,
    GpuSource,
    NodeAndJobReader,
    SlurmState,
    WorkloadSource,
    backoff_delay,
)
from tui.text import one_line

T = TypeVar("T")
Subscriber = Callable[[ClusterSnapshot], Awaitable[None] | None]


async def deliver(snapshot: ClusterSnapshot, subscribers: list[Subscriber]) -> None:
    """Hand one snapshot to every subscriber in turn; one that fails is logged, not fatal."""
    for subscriber in list(subscribers):
        try:
            result = subscriber(snapshot)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:  # one bad subscriber must not stop the others
            logger.exception("snapshot subscriber {} failed", subscriber)


class Rereader(Protocol):
    """Collector or a viewer's RemoteCollector: re-reads an action's targets and publishes."""

    async def reread(self, action: Action) -> None: ...


HealthProbe = Callable[[], Awaitable[SourceHealth]]
HealthReport = Callable[[], SourceHealth]


class Poller(Generic[T]):
    """One source: timeout, exponential backoff with jitter, health bookkeeping."""

    def __init__(
        self,
        name: str,
        fetch: Callable[[], Awaitable[T]],
        *,
        interval_s: float,
        timeout_s: float,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._fetch = fetch
        self._clock = clock
        self._rng = rng or random.Random()
        self.value: T | None = None
        # time.monotonic() when the fetch that produced `value` started.
        self.value_started = -math.inf
        self.health = SourceHealth(name=name)

    async def poll(self) -> bool:
        """Run the source once; True when it produced fresh data."""
        started = self._clock()
        fetch_started = time.monotonic()
        monotonic_start = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                value = await self._fetch()
        except TimeoutError:
            self._failed(started, f"timed out after {self.timeout_s:g}s")
            return False
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a source must never take the collector down
            self._failed(started, one_line(error))
            return False
        self.value = value
        self.value_started = fetch_started
        latency = time.perf_counter() - monotonic_start
        partial = _partial_error(value)
        failing = (
            MappingProxyType(dict(value.errors)) if isinstance(value, GpuReading) else EMPTY_MAPPING
        )
        self.health = self.health.succeeded(
            started, latency, partial_error=partial, failing_targets=failing
        )
        return True

    def _failed(self, started: float, message: str) -> None:
        failures = self.health.consecutive_failures + 1
        if failures == 1 or failures % 10 == 0:
            logger.warning("source {} failed ({}x): {}", self.name, failures, message)
        self.health = self.health.failed(started, message)

    def next_delay(self) -> float:
        return backoff_delay(self.health.consecutive_failures, self.interval_s, self._rng)


def _partial_error(value: object) -> str | None:
    """A GPU reading where some targets failed: summarise them in one line."""
    if isinstance(value, GpuReading) and value.errors:
        first_target, first_error = next(iter(value.errors.items()))
        more = len(value.errors) - 1
        suffix = f" (+{more} more)" if more else ""
        return f"{first_target}: {first_error}{suffix}"
    return None


# A GPU source ends its cycle at its own deadline and returns the answers that arrived; the
# poller's timeout is that deadline plus this grace, a cap for a source that overruns it.
SOURCE_DEADLINE_GRACE_S = 2.0


# While Slurm is still carrying an action out, how long to wait before each further read.
SETTLE_READS_S = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class CollectorOptions:
    cluster_name: str = "cluster"
    demo: bool = False
    gpu_interval_s: float = 5.0
    gpu_timeout_s: float = 3.0
    slurm_interval_s: float = 10.0
    slurm_timeout_s: float = 10.0
    probe_interval_s: float = 15.0


class Collector:
    def __init__(
        self,
        *,
        workload: WorkloadSource | None,
        gpu: GpuSource | None,
        options: CollectorOptions | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.options = options or CollectorOptions()
        self.workload = workload
        self.gpu = gpu
        self._clock = clock
        rng = rng or random.Random()
        self._slurm: Poller[SlurmState] | None = None
        self._gpu: Poller[GpuReading] | None = None
        if workload is not None:
            self._slurm = Poller(
                workload.name,
                workload.fetch,
                interval_s=self.options.slurm_interval_s,
                timeout_s=self.options.slurm_timeout_s,
                clock=clock,
                rng=rng,
            )
        if gpu is not None:
            self._gpu = Poller(
                gpu.name,
                gpu.fetch,
                interval_s=self.options.gpu_interval_s,
                timeout_s=self.options.gpu_timeout_s,
                clock=clock,
                rng=rng,
            )
        self._probes: dict[str, HealthProbe] = {}
        self._probe_health: dict[str, SourceHealth] = {}
        self._reports: dict[str, HealthReport] = {}
        self._subscribers: list[Subscriber] = []
        self._publish_lock = asyncio.Lock()
        # Nodes and jobs re-read after an action, with when that read started: they stand
        # over the last poll's answer until a poll that started after them answers.
        self._node_reads: dict[str, tuple[float, Node]] = {}
        self._job_reads: dict[str, tuple[float, tuple[Job, ...]]] = {}
        self.latest: ClusterSnapshot = self._merge()

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def add_probe(self, name: str, probe: HealthProbe) -> None:
        """A health-only source (the agent endpoint): polled, shown, never merged as data."""
        self._probes[name] = probe
        self._probe_health[name] = SourceHealth(name=name)

    def add_health_report(self, name: str, report: HealthReport) -> None:
        """A part whose health is read at every publish (the history store)."""
        self._reports[name] = report

    def set_interval(self, source: str, seconds: float) -> None:
        for poller in (self._gpu, self._slurm):
            if poller is not None and poller.name == source:
                poller.interval_s = seconds

    def pollers(self) -> list[Poller[GpuReading] | Poller[SlurmState]]:
        return [p for p in (self._slurm, self._gpu) if p is not None]

    def _slurm_state(self) -> SlurmState | None:
        """The last poll's answer with any later re-reads of single nodes and jobs over it."""
        if self._slurm is None or self._slurm.value is None:
            return None
        state, since = self._slurm.value, self._slurm.value_started
        self._node_reads = {k: v for k, v in self._node_reads.items() if v[0] > since}
        self._job_reads = {k: v for k, v in self._job_reads.items() if v[0] > since}
        if not self._node_reads and not self._job_reads:
            return state
        nodes = tuple(
            self._node_reads[node.name][1] if node.name in self._node_reads else node
            for node in state.nodes
        )
        jobs = state.jobs
        if self._job_reads:
            jobs = tuple(
                job
                for job in jobs
                if not any(job_is_part_of(job.job_id, requested) for requested in self._job_reads)
            )
            jobs += tuple(job for _, read in self._job_reads.values() for job in read)
        return replace(state, nodes=nodes, jobs=jobs)

    def _merge(self) -> ClusterSnapshot:
        slurm = self._slurm_state()
        reading = self._gpu.value if self._gpu else None
        health = {p.name: p.health for p in self.pollers()} | self._probe_health
        health |= {name: report() for name, report in self._reports.items()}
        return ClusterSnapshot(
            taken_at=self._clock(),
            nodes=slurm.nodes if slurm else (),
            jobs=slurm.jobs if slurm else (),
            gpus=reading.gpus if reading else (),
            health=MappingProxyType(health),
            cluster_name=self.options.cluster_name,
            demo=self.options.demo,
            slurm_version=slurm.version if slurm else "",
            gpus_taken_at=self._gpu.health.last_success if self._gpu and reading else None,
            gpus_stale=bool(self._gpu and reading and not self._gpu.health.ok),
        )

    async def publish(self) -> ClusterSnapshot:
        async with self._publish_lock:
            snapshot = self._merge()
            self.latest = snapshot
            await deliver(snapshot, self._subscribers)
            return snapshot

    def _share_node_names(self) -> None:
        """GPU sources that scrape per node learn the nodes from Slurm's latest answer."""
        set_nodes = getattr(self.gpu, "set_nodes", None)
        if callable(set_nodes) and self._slurm is not None and self._slurm.value is not None:
            set_nodes(node.name for node in self._slurm.value.nodes)

    async def _poll(self, poller: Poller[GpuReading] | Poller[SlurmState]) -> None:
        if await poller.poll() and poller is self._slurm:
            self._share_node_names()

    async def collect_once(self) -> ClusterSnapshot:
        """One full cycle: Slurm first (it names the GPU targets), then GPUs, then probes."""
        if self._slurm:
            await self._poll(self._slurm)
        if self._gpu:
            await self._gpu.poll()
        await self._run_probes()
        return await self.publish()

    async def reread(self, action: Action) -> None:
        """Re-read what an action acted on and publish, so its result shows at once.

        Slurm may still be carrying it out: a resumed node that was down reads "not
        responding" until its slurmd answers slurmctld's ping, a cancelled job reads
        "completing" while its processes are killed (each under a second on a healthy
        node). Those are read again a few times, briefly, so the dashboard shows the end
        state without waiting for the next poll.
        """
        read = self.reread_nodes if action.kind.targets_nodes else self.reread_jobs
        await read(action.targets)
        for delay_s in SETTLE_READS_S:
            if not self._settling(action):
                return
            await asyncio.sleep(delay_s)
            await read(action.targets)

    def _settling(self, action: Action) -> bool:
        latest = self.latest
        if action.kind is ActionKind.RESUME:
            nodes = (latest.node_by_name.get(name) for name in action.targets)
            return any(n is not None and NodeFlag.NOT_RESPONDING in n.flags for n in nodes)
        if action.kind in (ActionKind.CANCEL, ActionKind.REQUEUE):
            return any(
                job.state is JobState.COMPLETING
                for job in latest.jobs
                if any(job_is_part_of(job.job_id, target) for target in action.targets)
            )
        return False

    async def reread_nodes(self, names: Sequence[str]) -> bool:
        """Read these nodes from Slurm now (only Slurm: a slow GPU source never delays it),
        put them in the latest snapshot and publish it. False when Slurm did not answer."""
        reader = self._reader()
        if reader is None:
            return await self._repoll_slurm()
        started = time.monotonic()
        nodes = await self._read("nodes", reader.read_nodes(names))
        if nodes is None:
            return False
        self._node_reads.update({node.name: (started, node) for node in nodes})
        await self.publish()
        return True

    async def reread_jobs(self, job_ids: Sequence[str]) -> bool:
        """Read these jobs from Slurm now and publish; one that is gone leaves the snapshot."""
        reader = self._reader()
        if reader is None:
            return await self._repoll_slurm()
        started = time.monotonic()
        jobs = await self._read("jobs", reader.read_jobs(job_ids))
        if jobs is None:
            return False
        for job_id in job_ids:
            answer = tuple(job for job in jobs if job_is_part_of(job.job_id, job_id))
            self._job_reads[job_id] = (started, answer)
        await self.publish()
        return True

    def _reader(self) -> NodeAndJobReader | None:
        if self._slurm is None or not isinstance(self.workload, NodeAndJobReader):
            return None
        return self.workload

    async def _read(self, what: str, read: Awaitable[T]) -> T | None:
        assert self._slurm is not None
        try:
            async with asyncio.timeout(self._slurm.timeout_s):
                return await read
        except TimeoutError:
            error = f"timed out after {self._slurm.timeout_s:g}s"
        except asyncio.CancelledError:
            raise
        except Exception as failure:  # the next regular poll shows it anyway
            error = one_line(failure)
        logger.warning("re-reading {} from {} failed: {}", what, self._slurm.name, error)
        return None

    async def _repoll_slurm(self) -> bool:
        """For a workload source that reads only everything at once (the simulator)."""
        if self._slurm is None:
            return False
        polled = await self._slurm.poll()
        await self.publish()
        return polled

    async def _run_probes(self) -> None:
        for name, probe in self._probes.items():
            previous = self._probe_health[name]
            try:
                result = await probe()
            except Exception as error:
                result = SourceHealth(
                    name, ok=False, last_attempt=self._clock(), last_error=one_line(error)
                )
            if not result.ok:
                # A probe answers for this attempt only: keep the last success, count failures.
                result = replace(
                    result,
                    last_success=previous.last_success,
                    consecutive_failures=previous.consecutive_failures + 1,
                )
            self._probe_health[name] = result

    async def _loop(
        self, poller: Poller[GpuReading] | Poller[SlurmState], *, already_polled: bool = False
    ) -> None:
        if already_polled:
            await self.publish()
            await asyncio.sleep(poller.next_delay())
        while True:
            await self._poll(poller)
            await self.publish()
            await asyncio.sleep(poller.next_delay())

    async def _probe_loop(self) -> None:
        while True:
            await self._run_probes()
            await self.publish()
            await asyncio.sleep(self.options.probe_interval_s)

    async def run(self) -> None:
        """Poll every source forever (until cancelled)."""
        if self._slurm:
            # Exporter targets come from Slurm's node list: have it before the first scrape.
            await self._poll(self._slurm)
        async with asyncio.TaskGroup() as group:
            for poller in self.pollers():
                group.create_task(
                    self._loop(poller, already_polled=poller is self._slurm),
                    name=f"poll-{poller.name}",
                )
            if self._probes:
                group.create_task(self._probe_loop(), name="probes")

    async def aclose(self) -> None:
        if self.gpu is not None:
            await self.gpu.aclose()
