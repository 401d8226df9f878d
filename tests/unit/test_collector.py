"""Collector: scheduling, merging, staleness, isolation of failing sources."""

from __future__ import annotations

import asyncio
import random

import pytest

from tui.actions import Action, ActionResult
from tui.collector import Collector, CollectorOptions, Poller
from tui.model import ClusterSnapshot, Gpu, Job, JobState, Node, NodeBaseState
from tui.sources.base import GpuReading, SlurmState, SourceError


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedWorkload:
    name = "slurm"

    def __init__(self, states: list[SlurmState | Exception]) -> None:
        self.states = states
        self.calls = 0

    async def fetch(self) -> SlurmState:
        item = self.states[min(self.calls, len(self.states) - 1)]
        self.calls += 1
        if isinstance(item, Exception):
            raise item
        return item

    async def run_action(self, action: Action) -> ActionResult:
        return ActionResult(action, True, "ok")


class ScriptedGpus:
    name = "gpu"

    def __init__(self, readings: list[GpuReading | Exception], delay_s: float = 0.0) -> None:
        self.readings = readings
        self.delay_s = delay_s
        self.calls = 0
        self.running = 0
        self.max_running = 0

    async def fetch(self) -> GpuReading:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(self.delay_s)
            item = self.readings[min(self.calls, len(self.readings) - 1)]
            self.calls += 1
            if isinstance(item, Exception):
                raise item
            return item
        finally:
            self.running -= 1

    async def aclose(self) -> None:
        pass


NODE = Node("gpu-01", NodeBaseState.MIXED, gpus_total=8, gpus_alloc=2)
JOB = Job(
    "42",
    user="alice",
    state=JobState.RUNNING,
    nodes=("gpu-01",),
    gpu_indices={"gpu-01": (0, 1)},
)
GPUS = tuple(Gpu("gpu-01", i, utilization_pct=50.0) for i in range(8))


async def test_collect_once_merges_sources_and_attaches_gpu_owners() -> None:
    collector = Collector(
        workload=ScriptedWorkload([SlurmState((NODE,), (JOB,), "22.05.8")]),
        gpu=ScriptedGpus([GpuReading(GPUS)]),
        options=CollectorOptions(cluster_name="prod"),
        clock=FakeClock(),
    )
    snapshot = await collector.collect_once()
    assert snapshot.cluster_name == "prod"
    assert snapshot.slurm_version == "22.05.8"
    owners = {g.index: (g.job_id, g.user) for g in snapshot.gpus_of("gpu-01")}
    assert owners[0] == ("42", "alice") and owners[1] == ("42", "alice")
    assert owners[2] == (None, None)
    assert snapshot.health["slurm"].ok and snapshot.health["gpu"].ok


async def test_failing_source_keeps_last_data_and_reports_one_line_error() -> None:
    clock = FakeClock()
    gpus = ScriptedGpus([GpuReading(GPUS), SourceError("all 1 exporters failed; gpu-01: refused")])
    collector = Collector(workload=None, gpu=gpus, clock=clock)
    first = await collector.collect_once()
    clock.now += 5
    second = await collector.collect_once()
    assert len(second.gpus) == 8, "last good data is kept"
    health = second.health["gpu"]
    assert not health.ok
    assert health.consecutive_failures == 1
    assert health.last_error == "all 1 exporters failed; gpu-01: refused"
    assert health.age_s(clock.now) == 5.0
    assert first.health["gpu"].ok


async def test_timeout_is_reported_and_other_source_carries_on() -> None:
    collector = Collector(
        workload=ScriptedWorkload([SlurmState((NODE,), ())]),
        gpu=ScriptedGpus([GpuReading(GPUS)], delay_s=5),
        options=CollectorOptions(gpu_timeout_s=0.05),
    )
    snapshot = await collector.collect_once()
    assert snapshot.nodes == (NODE,)
    assert snapshot.health["gpu"].last_error == "timed out after 0.05s"


async def test_partial_gpu_failure_is_summarised() -> None:
    reading = GpuReading(GPUS, errors={"gpu-02": "connection refused", "gpu-03": "HTTP 500"})
    collector = Collector(workload=None, gpu=ScriptedGpus([reading]))
    snapshot = await collector.collect_once()
    assert snapshot.health["gpu"].ok
    assert snapshot.health["gpu"].last_error == "gpu-02: connection refused (+1 more)"


async def test_run_never_overlaps_polls_and_publishes_to_subscribers() -> None:
    gpus = ScriptedGpus([GpuReading(GPUS)], delay_s=0.02)
    collector = Collector(
        workload=ScriptedWorkload([SlurmState((NODE,), ())]),
        gpu=gpus,
        options=CollectorOptions(gpu_interval_s=0.001, slurm_interval_s=0.001),
    )
    seen: list[ClusterSnapshot] = []
    enough = asyncio.Event()

    async def subscriber(snapshot: ClusterSnapshot) -> None:
        seen.append(snapshot)
        if gpus.calls >= 3 and len(seen) >= 3:
            enough.set()

    def broken(snapshot: ClusterSnapshot) -> None:
        raise RuntimeError("boom")

    collector.subscribe(broken)
    collector.subscribe(subscriber)
    task = asyncio.create_task(collector.run())
    async with asyncio.timeout(30):
        await enough.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gpus.calls >= 3
    assert gpus.max_running == 1
    assert len(seen) >= 3, "a failing subscriber does not stop the others"


async def test_backoff_grows_with_failures_and_is_capped() -> None:
    async def fail() -> None:
        raise SourceError("down")

    poller: Poller[None] = Poller("x", fail, interval_s=5, timeout_s=1, rng=random.Random(1))
    delays = []
    for _ in range(8):
        await poller.poll()
        delays.append(poller.next_delay())
    assert delays[0] <= 5
    assert delays[3] > delays[0]
    assert all(d <= 30 for d in delays)
    assert poller.health.consecutive_failures == 8


async def test_probe_health_appears_in_snapshot() -> None:
    from tui.model import SourceHealth

    async def probe() -> SourceHealth:
        return SourceHealth("agent", ok=False, last_error="connection refused")

    collector = Collector(workload=None, gpu=None)
    collector.add_probe("agent", probe)
    await collector.collect_once()
    snapshot = await collector.collect_once()
    assert snapshot.health["agent"].last_error == "connection refused"
    assert snapshot.health["agent"].consecutive_failures == 2, "failures accumulate"


async def test_probe_failure_keeps_the_last_success() -> None:
    from tui.model import SourceHealth

    answers = [SourceHealth("agent", ok=True, last_success=100.0), RuntimeError("boom")]

    async def probe() -> SourceHealth:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    collector = Collector(workload=None, gpu=None, clock=FakeClock(130.0))
    collector.add_probe("agent", probe)
    await collector.collect_once()
    health = (await collector.collect_once()).health["agent"]
    assert (health.ok, health.last_success, health.last_error) == (False, 100.0, "boom")
    assert health.age_s(130.0) == 30.0
