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
