"""After an action, the collector re-reads just its nodes or jobs and publishes at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tui.actions import Action, ActionKind, ActionResult
from tui.collector import Collector, CollectorOptions
from tui.model import ClusterSnapshot, Job, JobState, Node, NodeBaseState, NodeFlag
from tui.sources.base import GpuReading, SlurmState

IDLE = Node("gpu-01", NodeBaseState.IDLE, gpus_total=8)
OTHER = Node("gpu-02", NodeBaseState.IDLE, gpus_total=8)
DRAINED = Node(
    "gpu-01", NodeBaseState.IDLE, frozenset({NodeFlag.DRAIN}), reason="fan", gpus_total=8
)
RUNNING = Job("42", state=JobState.RUNNING, nodes=("gpu-01",))
ARRAY = (Job("50_1", state=JobState.RUNNING), Job("50_[2-4]", state=JobState.PENDING))
PENDING = Job("7", state=JobState.PENDING)


class Workload:
    """Answers whole fetches with `state` (held at `gate` while set), single reads with `now`."""

    name = "slurm"

    def __init__(self, state: SlurmState) -> None:
        self.state = state
        self.now = state
        self.gate: asyncio.Event | None = None
        self.fetch_started = asyncio.Event()

    async def fetch(self) -> SlurmState:
        answer = self.now
        self.fetch_started.set()
        if self.gate is not None:
            await self.gate.wait()
        return answer

    async def read_nodes(self, names: Sequence[str]) -> tuple[Node, ...]:
        return tuple(n for n in self.now.nodes if n.name in names)

    async def read_jobs(self, job_ids: Sequence[str]) -> tuple[Job, ...]:
        return tuple(j for j in self.now.jobs if j.job_id.split("_")[0] in job_ids)

    async def run_action(self, action: Action) -> ActionResult:
        return ActionResult(action, True, "ok")


class NeverAnswers:
    """A GPU source that hangs, as an exporter that accepts and never replies."""

    name = "gpu"

    async def fetch(self) -> GpuReading:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        pass


def collector(workload: Workload) -> tuple[Collector, list[ClusterSnapshot]]:
    options = CollectorOptions(slurm_interval_s=3600, gpu_timeout_s=3600)
    made = Collector(workload=workload, gpu=NeverAnswers(), options=options)
    published: list[ClusterSnapshot] = []
    made.subscribe(published.append)
    return made, published


async def test_a_drained_node_is_published_without_waiting_for_the_gpus() -> None:
    workload = Workload(SlurmState(nodes=(IDLE, OTHER), jobs=(RUNNING,)))
    made, published = collector(workload)
    first = asyncio.Event()
    made.subscribe(lambda _: first.set())
    running = asyncio.create_task(made.run())
    try:
        await first.wait()
        workload.now = SlurmState(nodes=(DRAINED, OTHER), jobs=(RUNNING,))
        await made.reread(Action(ActionKind.DRAIN, ("gpu-01",), reason="fan"))
        node = published[-1].node_by_name["gpu-01"]
        assert node.display_state == "drained" and node.reason == "fan"
        assert published[-1].node_by_name["gpu-02"] == OTHER
        assert published[-1].jobs == (RUNNING,)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_poll_that_started_before_the_reread_does_not_undo_it() -> None:
    workload = Workload(SlurmState(nodes=(IDLE,), jobs=()))
    made, _ = collector(workload)
    await made._poll(made.pollers()[0])
    # A regular poll begins (and reads the old state), then the action and its re-read.
    workload.gate = asyncio.Event()
    workload.fetch_started.clear()
    slow_poll = asyncio.create_task(made._poll(made.pollers()[0]))
    await workload.fetch_started.wait()
    workload.now = SlurmState(nodes=(DRAINED,), jobs=())
    await made.reread_nodes(["gpu-01"])
    workload.gate.set()
    await slow_poll
    assert (await made.publish()).node_by_name["gpu-01"].display_state == "drained"
    # A poll that starts later is newer than the re-read: it is what shows from then on.
    workload.gate = None
    workload.now = SlurmState(nodes=(IDLE,), jobs=())
    await made._poll(made.pollers()[0])
    assert (await made.publish()).node_by_name["gpu-01"].display_state == "idle"


async def test_a_cancelled_job_leaves_and_array_tasks_are_replaced_whole() -> None:
    workload = Workload(SlurmState(nodes=(IDLE,), jobs=(RUNNING, *ARRAY, PENDING)))
    made, _ = collector(workload)
    await made._poll(made.pollers()[0])
    moved_on = Job("50_2", state=JobState.RUNNING)
    workload.now = SlurmState(nodes=(IDLE,), jobs=(ARRAY[0], moved_on, PENDING))
    await made.reread(Action(ActionKind.CANCEL, ("42", "50")))
    ids = [job.job_id for job in made.latest.jobs]
    assert sorted(ids) == ["50_1", "50_2", "7"]


async def test_a_source_that_only_fetches_everything_is_polled_instead() -> None:
    class FetchOnly:
        """Like the simulator: whole fetches only."""

        name = "slurm"

        def __init__(self) -> None:
            self.now = SlurmState(nodes=(IDLE,), jobs=())

        async def fetch(self) -> SlurmState:
            return self.now

        async def run_action(self, action: Action) -> ActionResult:
            return ActionResult(action, True, "ok")

    workload = FetchOnly()
    made = Collector(workload=workload, gpu=NeverAnswers())
    await made._poll(made.pollers()[0])
    workload.now = SlurmState(nodes=(DRAINED,), jobs=())
    await made.reread(Action(ActionKind.DRAIN, ("gpu-01",), reason="fan"))
    assert made.latest.node_by_name["gpu-01"].display_state == "drained"
