"""Jobs cross the collector socket whole: a viewer sees what the collector parsed."""

from __future__ import annotations

import json
from pathlib import Path

from tui import snapshot_wire
from tui.model import ClusterSnapshot
from tui.sources import slurm_text

FIXTURES = Path(__file__).parent.parent / "fixtures" / "slurm"


def test_slurm_2311_jobs_survive_the_wire() -> None:
    text = (FIXTURES / "scontrol-jobs-23.11.txt").read_text()
    jobs = slurm_text.parse_jobs(text, include_finished=True)
    snapshot = ClusterSnapshot(taken_at=1767225600.0, jobs=jobs)
    received = snapshot_wire.decode(json.loads(json.dumps(snapshot_wire.encode(snapshot))))
    assert received.jobs == jobs
    assert {j.job_id: j.gpus_requested for j in received.jobs}["103"] == 32


def test_gpu_health_staleness_and_mig_slices_survive_the_wire() -> None:
    from types import MappingProxyType

    from tui.model import Gpu, MigInstance, SourceHealth

    gpu = Gpu(node="a100-mig", index=0, mig=(MigInstance("1", "3g.20gb", 80.0, 10000.0),))
    health = SourceHealth(
        "gpu", ok=True, failing_targets=MappingProxyType({"gpu-07": "timeout after 3s"})
    )
    snapshot = ClusterSnapshot(
        taken_at=1767225605.0,
        gpus=(gpu,),
        health=MappingProxyType({"gpu": health}),
        gpus_taken_at=1767225600.0,
        gpus_stale=True,
    )
    received = snapshot_wire.decode(json.loads(json.dumps(snapshot_wire.encode(snapshot))))
    assert received.gpus == (gpu,)
    assert dict(received.health["gpu"].failing_targets) == {"gpu-07": "timeout after 3s"}
    assert (received.gpus_taken_at, received.gpus_stale) == (1767225600.0, True)
