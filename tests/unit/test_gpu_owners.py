"""A GPU held by a running job shows that job and its user, every reading kept as read."""

from __future__ import annotations

from dataclasses import fields, replace
from types import MappingProxyType

from tui.model import ClusterSnapshot, Gpu, Job, JobState, MigInstance


def test_a_gpu_gets_its_job_and_user_and_keeps_every_other_field() -> None:
    # Every field a value of its own, so a field copied into another's place shows.
    values = {f.name: f"value-{f.name}" for f in fields(Gpu) if f.name not in ("index", "mig")}
    gpu = Gpu(**values, index=3, mig=(MigInstance("1", "3g.40gb", 50.0, 10.0),))
    job = Job(
        "42",
        user="alice",
        state=JobState.RUNNING,
        nodes=(gpu.node,),
        gpu_indices=MappingProxyType({gpu.node: (3,)}),
    )
    snapshot = ClusterSnapshot(taken_at=0.0, gpus=(gpu,), jobs=(job,))
    assert snapshot.gpus == (replace(gpu, job_id="42", user="alice"),)


def test_a_gpu_no_running_job_holds_keeps_what_its_exporter_said() -> None:
    gpu = Gpu("gpu-01", 0, job_id="7", utilization_pct=30.0)
    pending = Job("9", user="bob", state=JobState.PENDING)
    snapshot = ClusterSnapshot(taken_at=0.0, gpus=(gpu,), jobs=(pending,))
    assert snapshot.gpus == (gpu,)
