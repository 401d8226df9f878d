"""SlurmSource against a real private Slurm cluster (munged, slurmctld, 4 slurmd, fake GPUs).

Slurm's own view is read independently here (squeue/sinfo/scontrol with simple formats)
and compared with what SlurmSource reports or did.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import psutil
import pytest

from tests.conftest import need, need_binaries
from tests.integration.slurm_cluster import SlurmCluster
from tui.actions import Action, ActionKind
from tui.model import JobState, NodeBaseState
from tui.sources.base import SourceError
from tui.sources.slurm import SlurmSource

pytestmark = pytest.mark.integration

_DETAIL_RE = re.compile(r"Nodes=(\S+) .*?GRES=gpu:[^(]*\(IDX:([^)]*)\)")


def gpu_indices_by_scontrol(cluster: SlurmCluster, job_id: str) -> dict[str, tuple[int, ...]]:
    """Independent read of a job's GPU indices from `scontrol show job -d` (one node each)."""
    text = cluster.run(["scontrol", "show", "job", "-d", job_id]).stdout
    result: dict[str, tuple[int, ...]] = {}
    for node, spec in _DETAIL_RE.findall(text):
        indices: list[int] = []
        for part in spec.split(","):
            low, _, high = part.partition("-")
            indices.extend(range(int(low), int(high or low) + 1))
        result[node] = tuple(indices)
    return result


def running(cluster: SlurmCluster, *job_ids: str) -> None:
    cluster.wait_for(
        lambda: all(cluster.job_state(j) == "RUNNING" for j in job_ids), 30, what="jobs running"
    )


@pytest.mark.parametrize("mode", ["text", "json"])
async def test_fetch_sees_nodes_jobs_and_gpu_indices(slurm: SlurmCluster, mode: str) -> None:
    one = slurm.submit("-J", "two-gpus", "--gres=gpu:2", "--wrap", "sleep 300")
    wide = slurm.submit(
        "-J", "two-nodes", "-N", "2", "--gres=gpu:3", "-t", "90", "--wrap", "sleep 300"
    )
    held = slurm.submit("-J", "held", "-H", "--gres=gpu:1", "--wrap", "sleep 300")
    running(slurm, one, wide)
    # Needs all 8 GPUs on all 4 nodes: stays pending while the others run.
    blocked = slurm.submit("-J", "blocked", "-N", "4", "--gres=gpu:8", "--wrap", "sleep 300")
    slurm.wait_for(lambda: slurm.job_reason(blocked) in ("Resources", "Priority"), 20)

    state = await SlurmSource(env=slurm.env, mode=mode).fetch()

    assert state.version == slurm.run(["sinfo", "--version"]).stdout.split()[-1]
    nodes = {n.name: n for n in state.nodes}
    assert sorted(nodes) == list(slurm.node_names)
    for node in nodes.values():
        assert (node.gpus_total, node.gpu_model, node.cpus_total) == (8, "a100", 16)
        assert set(node.partitions) <= {"gpu", "debug"} and "gpu" in node.partitions
    assert nodes["gpu-01"].partitions == ("gpu", "debug")
    jobs = {j.job_id: j for j in state.jobs}
    assert set(jobs) == {one, wide, held, blocked}
    for job_id in (one, wide):
        assert jobs[job_id].state is JobState.RUNNING
        assert dict(jobs[job_id].gpu_indices) == gpu_indices_by_scontrol(slurm, job_id)
        assert set(jobs[job_id].nodes) == set(jobs[job_id].gpu_indices)
    assert jobs[one].gpu_count == 2 and jobs[one].name == "two-gpus"
    assert len(jobs[wide].nodes) == 2 and jobs[wide].gpu_count == 6
    assert jobs[wide].time_limit_min == 90 and jobs[wide].gpus_per_node == 3
    assert jobs[held].held and jobs[held].state is JobState.PENDING
    assert jobs[blocked].state is JobState.PENDING and not jobs[blocked].held
    assert jobs[blocked].reason in ("Resources", "Priority") and jobs[blocked].gpus_per_node == 8
    assert jobs[blocked].gpus_requested == 32 and jobs[blocked].gpu_count == 0
    assert (jobs[one].gpus_requested, jobs[wide].gpus_requested) == (2, 6)
    # No GPU is held twice; each node's allocated count is the sum of its jobs' indices.
    held_by: dict[tuple[str, int], str] = {}
    for job in (jobs[one], jobs[wide]):
        for node, indices in job.gpu_indices.items():
            for index in indices:
                assert (node, index) not in held_by
                held_by[(node, index)] = job.job_id
    for name, node in nodes.items():
        assert node.gpus_alloc == sum(1 for (n, _) in held_by if n == name)
        assert node.state in (NodeBaseState.IDLE, NodeBaseState.MIXED)


async def test_drain_and_resume(slurm: SlurmCluster) -> None:
    source = SlurmSource(env=slurm.env)
    drain = Action(ActionKind.DRAIN, ("gpu-03",), reason="fan failure on gpu 2")
    result = await source.run_action(drain)
    assert result.ok, result.message
    assert slurm.node_states()["gpu-03"] == "drained"
    assert slurm.node_reason("gpu-03") == "fan failure on gpu 2"
    node = {n.name: n for n in (await source.fetch()).nodes}["gpu-03"]
    assert node.is_drain and node.reason == "fan failure on gpu 2"
    assert node.display_state == "drained"

    result = await source.run_action(Action(ActionKind.RESUME, ("gpu-03",)))
    assert result.ok, result.message
    assert slurm.node_states()["gpu-03"] == "idle"
    node = {n.name: n for n in (await source.fetch()).nodes}["gpu-03"]
    assert not node.is_drain and node.reason == ""


async def test_draining_node_with_a_job(slurm: SlurmCluster) -> None:
    job = slurm.submit("-w", "gpu-02", "--gres=gpu:1", "--wrap", "sleep 300")
    running(slurm, job)
    source = SlurmSource(env=slurm.env, mode="json")
    assert (await source.run_action(Action(ActionKind.DRAIN, ("gpu-02",), reason="rma"))).ok
    assert slurm.node_states()["gpu-02"] == "draining"
    node = {n.name: n for n in (await source.fetch()).nodes}["gpu-02"]
    assert node.display_state == "draining" and node.gpus_alloc == 1


async def test_cancel_requeue_hold_release(slurm: SlurmCluster) -> None:
    source = SlurmSource(env=slurm.env)
    job = slurm.submit("--gres=gpu:1", "--wrap", "sleep 300")
    running(slurm, job)

    assert (await source.run_action(Action(ActionKind.REQUEUE, (job,)))).ok
    slurm.wait_for(lambda: slurm.job_state(job) == "PENDING", 20, what="requeued job pending")

    assert (await source.run_action(Action(ActionKind.HOLD, (job,)))).ok
    slurm.wait_for(lambda: slurm.job_reason(job).startswith("JobHeld"), 10, what="job held")
    fetched = {j.job_id: j for j in (await source.fetch()).jobs}[job]
    assert fetched.held

    assert (await source.run_action(Action(ActionKind.RELEASE, (job,)))).ok
    slurm.wait_for(lambda: not slurm.job_reason(job).startswith("JobHeld"), 10, what="released")

    assert (await source.run_action(Action(ActionKind.CANCEL, (job,)))).ok
    slurm.wait_for(lambda: slurm.job_state(job) in ("", "CANCELLED"), 20, what="job cancelled")
    assert job not in {j.job_id for j in (await source.fetch()).jobs}


async def test_slurm_refusals_come_back_verbatim(slurm: SlurmCluster) -> None:
    source = SlurmSource(env=slurm.env)
    result = await source.run_action(Action(ActionKind.DRAIN, ("gpu-99",), reason="typo"))
    assert not result.ok
    assert "Invalid node name specified" in result.message
    result = await source.run_action(Action(ActionKind.CANCEL, ("999999",)))
    assert not result.ok and "Invalid job id specified" in result.message
    result = await source.run_action(Action(ActionKind.DRAIN, ("gpu-01; reboot",), reason="x"))
    assert not result.ok and "invalid node name" in result.message
    assert slurm.node_states()["gpu-01"] == "idle"


async def test_a_hung_squeue_times_out(slurm: SlurmCluster, tmp_path: Path) -> None:
    fake_dir = tmp_path / "bin"
    fake_dir.mkdir()
    squeue = fake_dir / "squeue"
    squeue.write_text("#!/bin/sh\nexec sleep 60\n")
    squeue.chmod(0o755)
    env = {**slurm.env, "PATH": f"{fake_dir}:{slurm.env['PATH']}"}
    with pytest.raises(SourceError, match=r"^squeue timed out after 1s$"):
        await SlurmSource(env=env, mode="json", timeout_s=1).fetch()


async def test_sinfo_missing_is_a_clear_error(slurm: SlurmCluster, tmp_path: Path) -> None:
    env = {**slurm.env, "PATH": str(tmp_path)}
    with pytest.raises(SourceError, match=r"^sinfo not found on PATH$"):
        await SlurmSource(env=env, mode="json").fetch()


async def test_a_stopped_controller_is_reported_in_one_line(slurm: SlurmCluster) -> None:
    env = {**slurm.env, "SLURM_CONF": str(Path(slurm.conf_path).with_name("missing.conf"))}
    with pytest.raises(SourceError) as caught:
        await SlurmSource(env=env, timeout_s=5).fetch()
    assert "\n" not in str(caught.value) and str(caught.value).startswith(("scontrol", "sinfo"))


def test_the_cluster_stops_everything_even_when_a_test_fails(tmp_path: Path) -> None:
    binaries = need_binaries("slurmctld", "slurmd", "munged", "sinfo", "sbatch")
    need(os.geteuid() == 0, "a private Slurm cluster needs root")
    cluster = SlurmCluster(tmp_path, binaries, node_count=1)
    with pytest.raises(RuntimeError, match="the test failed"), cluster:
        assert cluster.node_states() == {"gpu-01": "idle"}
        job = cluster.submit("--gres=gpu:1", "--wrap", "sleep 300")
        running(cluster, job)
        pids = cluster.daemon_pids()
        assert set(pids) == {"munged", "slurmctld", "slurmd-gpu-01"}
        # slurmstepd and the job's shell appear shortly after squeue says RUNNING.
        cluster.wait_for(lambda: len(cluster.processes_left()) > len(pids), 10, what="job steps")
        raise RuntimeError("the test failed")
    assert cluster.processes_left() == []
    assert not any(psutil.pid_exists(pid) for pid in pids.values())
