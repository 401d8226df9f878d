"""Whatever operators do, the simulator's books stay straight: no GPU held twice, counts agree."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.actions import Action, ActionKind
from tui.model import JobState
from tui.sim import SimCluster, SimSlurmSource
from tui.sim.jobs import Phase

START = 1_700_000_000.0

steps = st.lists(
    st.tuples(
        st.sampled_from(list(ActionKind)),
        st.integers(min_value=0, max_value=10_000),  # picks a node or job
        st.integers(min_value=0, max_value=900),  # seconds to wait afterwards
    ),
    min_size=1,
    max_size=25,
)


def check_books(sim: SimCluster, source: SimSlurmSource) -> None:
    state = source.state()
    held: dict[tuple[str, int], str] = {}
    for job in state.jobs:
        if job.state is JobState.RUNNING:
            for node, indices in job.gpu_indices.items():
                for index in indices:
                    assert (node, index) not in held
                    held[(node, index)] = job.job_id
    for position, name in enumerate(sim.node_names):
        for gpu in range(sim.gpus_per_node):
            job_id = sim.holder_id(position, gpu)
            assert held.get((name, gpu)) == (str(job_id) if job_id else None)
    for node in state.nodes:
        assert node.gpus_alloc == sum(1 for (name, _) in held if name == node.name)
    assert sim._busy_gpus == len(held)
    reserved = sum(j.gpu_total for j in sim.jobs() if j.phase is Phase.PENDING and j.nodes)
    assert sim._reserved_gpus == reserved


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps=steps, seed=st.integers(min_value=0, max_value=3))
async def test_actions_in_any_order_keep_the_books_straight(
    steps: list[tuple[ActionKind, int, int]], seed: int
) -> None:
    clock = [START]
    sim = SimCluster(nodes=12, seed=seed, start=START, clock=lambda: clock[0])
    source = SimSlurmSource(sim)
    for kind, pick, wait_s in steps:
        state = source.state()
        if kind.targets_nodes:
            target = state.nodes[pick % len(state.nodes)].name
        elif state.jobs:
            target = state.jobs[pick % len(state.jobs)].job_id
        else:
            continue
        await source.run_action(Action(kind, (target,), reason="maintenance"))
        check_books(sim, source)
        clock[0] += wait_s
        check_books(sim, source)
    # The cluster keeps working afterwards: within an hour something runs.
    for name in sim.node_names:
        await source.run_action(Action(ActionKind.RESUME, (name,)))
    clock[0] += 3600
    assert any(j.state is JobState.RUNNING for j in source.state().jobs)
    check_books(sim, source)


async def test_resume_after_drain_and_cancel_keeps_the_books_straight() -> None:
    """The example that once started a job on a GPU another job held."""
    steps = [
        (ActionKind.DRAIN, 0, 0),
        (ActionKind.RESUME, 1046, 55),
        (ActionKind.CANCEL, 1, 900),
        (ActionKind.DRAIN, 1, 900),
    ]
    await test_actions_in_any_order_keep_the_books_straight.hypothesis.inner_test(
        steps=steps, seed=0
    )


async def test_a_submission_nothing_can_take_leaves_no_job_behind() -> None:
    clock = [START]
    sim = SimCluster(nodes=4, seed=0, start=START, clock=lambda: clock[0])
    source = SimSlurmSource(sim)
    await source.run_action(Action(ActionKind.DRAIN, tuple(sim.node_names), reason="maintenance"))
    queued = {job.job_id for job in source.state().jobs if job.state is JobState.PENDING}
    clock[0] += 1800
    pending = {job.job_id for job in source.state().jobs if job.state is JobState.PENDING}
    # Users only submit what can start within 40 minutes: with every node drained, nothing.
    assert pending == queued
