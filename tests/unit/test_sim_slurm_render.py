"""The simulator's Slurm 23.11 text parses back into the cluster the simulator holds."""

from __future__ import annotations

from tui.model import JobState
from tui.sim import SimCluster, SimSlurmSource
from tui.sim.slurm_render import compress_hostlist, scontrol_jobs, scontrol_nodes
from tui.sources import slurm_text

T0 = 1_800_000_000.0


def test_hostlists_are_compressed_as_slurm_prints_them() -> None:
    names = ["gpu-0001", "gpu-0002", "gpu-0003", "gpu-0007", "gpu-0010"]
    assert compress_hostlist(names) == "gpu-[0001-0003,0007,0010]"
    assert compress_hostlist(["gpu-01"]) == "gpu-01"
    assert slurm_text.expand_hostlist(compress_hostlist(names)) == tuple(names)


def test_scontrol_text_round_trips_nodes_and_jobs() -> None:
    sim = SimCluster(nodes=64, seed=3, start=T0, clock=lambda: T0 + 600)
    state = SimSlurmSource(sim).state()
    nodes = slurm_text.parse_nodes(scontrol_nodes(state))
    jobs = slurm_text.parse_jobs(scontrol_jobs(state, now=T0 + 600))
    assert nodes == state.nodes
    assert {j.job_id for j in jobs} == {j.job_id for j in state.jobs}
    by_id = {j.job_id: j for j in jobs}
    running = [j for j in state.jobs if j.state is JobState.RUNNING]
    assert running, "the simulated cluster runs jobs"
    for job in state.jobs:
        parsed = by_id[job.job_id]
        assert (parsed.user, parsed.account, parsed.partition, parsed.state) == (
            job.user,
            job.account,
            job.partition,
            job.state,
        )
        assert parsed.nodes == job.nodes
        assert dict(parsed.gpu_indices) == dict(job.gpu_indices)
        assert parsed.start_time == job.start_time
        assert parsed.gpus_requested == job.gpus_requested
