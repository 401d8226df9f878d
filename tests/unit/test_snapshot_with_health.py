"""A snapshot with other source health: the rest as it was, the original untouched."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from tui.model import ClusterSnapshot, Gpu, Job, JobState, Node, NodeBaseState, SourceHealth

NOW = 1_800_000_000.0


def snapshot() -> ClusterSnapshot:
    job = Job(
        job_id="42",
        user="ada",
        state=JobState.RUNNING,
        nodes=("gpu-01",),
        gpu_indices=MappingProxyType({"gpu-01": (1,)}),
    )
    return ClusterSnapshot(
        taken_at=NOW,
        nodes=(Node("gpu-01", NodeBaseState.MIXED),),
        gpus=(Gpu("gpu-01", 1, utilization_pct=3.0), Gpu("gpu-01", 0, utilization_pct=90.0)),
        jobs=(job,),
        health={"slurm": SourceHealth("slurm", ok=True)},
    )


def test_with_health_changes_only_the_health() -> None:
    before = snapshot()
    failing = SourceHealth("collect", ok=False, last_error="collector gone")
    after = before.with_health(dict(before.health) | {"collect": failing})

    assert after.health["collect"] == failing and after.health["slurm"].ok
    assert set(before.health) == {"slurm"}
    assert after == replace(before, health=after.health)
    assert [g.index for g in after.gpus_of("gpu-01")] == [0, 1]
    assert after.gpus_of("gpu-01")[1].job_id == "42" and after.gpus_of("gpu-01")[1].user == "ada"
    assert after.node_by_name["gpu-01"].state is NodeBaseState.MIXED
    assert [j.job_id for j in after.jobs_on("gpu-01")] == ["42"]
