"""SimSlurmSource: the Slurm face of the simulator, and the actions an operator takes."""

from __future__ import annotations

from tui.actions import Action, ActionKind
from tui.model import Job, JobState, Node
from tui.sim import IncidentKind, SimCluster, SimSlurmSource
from tui.sim.incidents import DRAIN_REASON
from tui.sources.base import SlurmState, WorkloadSource

START = 1_700_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def make(seed: int = 0) -> tuple[SimSlurmSource, FakeClock]:
    clock = FakeClock()
    return SimSlurmSource(SimCluster(nodes=16, seed=seed, start=START, clock=clock)), clock


def nodes(state: SlurmState) -> dict[str, Node]:
    return {n.name: n for n in state.nodes}


def jobs(state: SlurmState) -> dict[str, Job]:
    return {j.job_id: j for j in state.jobs}


def running(state: SlurmState) -> list[Job]:
    return [j for j in state.jobs if j.state is JobState.RUNNING]


def pending_job(source: SimSlurmSource, clock: FakeClock) -> Job:
    """Wait (simulated) until some job is pending, and return it."""
    for _ in range(2000):
        waiting = [j for j in source.state().jobs if j.state is JobState.PENDING]
        if waiting:
            return waiting[0]
        clock.now += 5
    raise AssertionError("no job ever pended")


async def test_it_is_a_workload_source_named_slurm() -> None:
    source, _ = make()
    workload: WorkloadSource = source  # type-checked against the protocol
    assert workload.name == "slurm"
    state = await workload.fetch()
    assert state.version == "23.11.10-sim"
    assert running(state)


async def test_drain_with_reason_stops_new_jobs_on_the_node() -> None:
    source, clock = make()
    state = source.state()
    busy = next(n for n in state.nodes if 0 < n.gpus_alloc < 8 and not n.flags)
    before = {j.job_id for j in running(state) if busy.name in j.nodes}
    result = await source.run_action(Action(ActionKind.DRAIN, (busy.name,), "fan failure"))
    assert result.ok, result.message
    node = nodes(source.state())[busy.name]
    assert node.is_drain and node.reason == "fan failure"
    assert node.display_state == "draining"
    for _ in range(90):  # an hour and a half: jobs end, none arrive
        clock.now += 60
        now_on_node = {j.job_id for j in running(source.state()) if busy.name in j.nodes}
        assert now_on_node <= before
    node = nodes(source.state())[busy.name]
    assert node.display_state == "drained" and node.gpus_alloc == 0


async def test_resume_brings_a_drained_node_back_into_service() -> None:
    source, clock = make()
    drained = next(i.node for i in source.sim.incidents if i.kind is IncidentKind.DRAINED)
    assert nodes(source.state())[drained].reason == DRAIN_REASON
    result = await source.run_action(Action(ActionKind.RESUME, (drained,)))
    assert result.ok, result.message
    node = nodes(source.state())[drained]
    assert not node.is_drain and node.reason == ""
    for _ in range(180):
        clock.now += 60
        if nodes(source.state())[drained].gpus_alloc:
            break
    assert nodes(source.state())[drained].gpus_alloc > 0
    again = await source.run_action(Action(ActionKind.RESUME, (drained,)))
    assert not again.ok and "Invalid node state specified" in again.message


async def test_unknown_node_is_refused_in_slurms_words() -> None:
    source, _ = make()
    before = source.state()
    result = await source.run_action(Action(ActionKind.DRAIN, ("gpu-99",), "test"))
    assert not result.ok
    assert result.message == "slurm_update error: Invalid node name specified"
    assert source.state() == before
    result = await source.run_action(Action(ActionKind.RESUME, ("nope",)))
    assert not result.ok and "Invalid node name specified" in result.message


async def test_invalid_actions_are_refused_before_reaching_slurm() -> None:
    source, _ = make()
    result = await source.run_action(Action(ActionKind.DRAIN, ("gpu-01",), ""))
    assert not result.ok and "reason is required" in result.message
    result = await source.run_action(Action(ActionKind.CANCEL, ("1; rm -rf /",)))
    assert not result.ok and "invalid job id" in result.message


async def test_cancel_running_job_frees_its_gpus() -> None:
    source, _ = make()
    state = source.state()
    job = max(running(state), key=lambda j: j.gpu_count)
    node_name = job.nodes[0]
    allocated = nodes(state)[node_name].gpus_alloc
    result = await source.run_action(Action(ActionKind.CANCEL, (job.job_id,)))
    assert result.ok, result.message
    after = source.state()
    assert job.job_id not in jobs(after)
    assert nodes(after)[node_name].gpus_alloc == allocated - len(job.gpu_indices[node_name])
    position = source.sim.node_index[node_name]
    for index in job.gpu_indices[node_name]:
        assert source.sim.holder(position, index) is None
    again = await source.run_action(Action(ActionKind.CANCEL, (job.job_id,)))
    assert not again.ok
    assert "Invalid job id specified" in again.message
    assert again.message.startswith("scancel: error:")


async def test_cancel_pending_job_removes_it() -> None:
    source, clock = make()
    job = pending_job(source, clock)
    result = await source.run_action(Action(ActionKind.CANCEL, (job.job_id,)))
    assert result.ok
    assert job.job_id not in jobs(source.state())


async def test_requeue_puts_a_running_job_back_in_the_queue() -> None:
    source, clock = make()
    job = running(source.state())[0]
    result = await source.run_action(Action(ActionKind.REQUEUE, (job.job_id,)))
    assert result.ok, result.message
    requeued = jobs(source.state())[job.job_id]
    assert requeued.state is JobState.PENDING and requeued.reason == "BeginTime"
    assert not requeued.nodes and not requeued.gpu_indices
    position = source.sim.node_index[job.nodes[0]]
    for index in job.gpu_indices[job.nodes[0]]:
        assert source.sim.holder(position, index) is None
    clock.now += 60
    restarted = jobs(source.state())[job.job_id]
    assert restarted.state is JobState.RUNNING or restarted.reason in ("Resources", "Priority")
    pending = pending_job(source, clock)
    refused = await source.run_action(Action(ActionKind.REQUEUE, (pending.job_id,)))
    assert not refused.ok and "Job is pending execution" in refused.message


async def test_hold_keeps_a_pending_job_waiting_until_released() -> None:
    source, clock = make()
    job = pending_job(source, clock)
    result = await source.run_action(Action(ActionKind.HOLD, (job.job_id,)))
    assert result.ok, result.message
    held = jobs(source.state())[job.job_id]
    assert held.state is JobState.PENDING and held.held and held.reason == "JobHeldUser"
    clock.now += 3 * 3600
    held = jobs(source.state())[job.job_id]
    assert held.state is JobState.PENDING and held.reason == "JobHeldUser"
    result = await source.run_action(Action(ActionKind.RELEASE, (job.job_id,)))
    assert result.ok, result.message
    released = jobs(source.state())[job.job_id]
    assert not released.held
    assert released.state is JobState.RUNNING or released.reason in ("Resources", "Priority")
    clock.now += 3600
    assert job.job_id not in jobs(source.state()) or (
        jobs(source.state())[job.job_id].state is JobState.RUNNING
    )


async def test_hold_or_release_of_a_running_job_is_refused() -> None:
    source, _ = make()
    job = running(source.state())[0]
    for kind in (ActionKind.HOLD, ActionKind.RELEASE):
        result = await source.run_action(Action(kind, (job.job_id,)))
        assert not result.ok
        assert result.message == f"Job is no longer pending execution for job {job.job_id}"
    result = await source.run_action(Action(ActionKind.HOLD, ("424242",)))
    assert not result.ok and result.message == "Invalid job id specified for job 424242"


async def test_several_targets_report_each_failure() -> None:
    source, _ = make()
    job = running(source.state())[0]
    result = await source.run_action(Action(ActionKind.CANCEL, (job.job_id, "99999")))
    assert not result.ok
    assert "99999" in result.message and job.job_id not in result.message
    assert job.job_id not in jobs(source.state())
