"""Node lists and array ids written the way Slurm writes them (expected values from
`scontrol show hostlistsorted` and squeue)."""

from __future__ import annotations

import json

import pytest

from tui.hostlist import compress_hostlist, compress_indices, parse_index_set
from tui.job_arrays import group_arrays, split_array_id
from tui.model import ClusterSnapshot, Job, JobState
from tui.snapshot_output import snapshot_json


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["gpu-01", "gpu-02", "gpu-03", "gpu-04", "gpu-07"], "gpu-[01-04,07]"),
        (["gpu-07", "gpu-01", "gpu-02"], "gpu-[01-02,07]"),
        (["gpu-09", "gpu-10", "gpu-11"], "gpu-[09-11]"),
        (["gpu-99", "gpu-100", "gpu-101"], "gpu-[99-101]"),
        (["n1", "n01", "n001", "n2"], "n[1-2,01,001]"),
        (["gpu-028", "gpu-107", "gpu-87"], "gpu-[87,028,107]"),
        (["gpu-01"], "gpu-01"),
        (["login", "gpu-02", "gpu-01"], "gpu-[01-02],login"),
        (["node-a1b2", "node-a1b3"], "node-a1b[2-3]"),
        (["gpu-01", "gpu-01"], "gpu-01"),
        ([], ""),
    ],
)
def test_hostlists_compress_as_scontrol_does(names: list[str], expected: str) -> None:
    assert compress_hostlist(names) == expected


def test_index_sets_parse_and_compress() -> None:
    assert parse_index_set("[4-6,9%2]") == (4, 5, 6, 9)
    assert parse_index_set("7") == (7,)
    assert parse_index_set("[5-3]") is None
    assert parse_index_set("x") is None
    assert compress_indices([9, 1, 2, 3, 7]) == "1-3,7,9"


def job(job_id: str, state: JobState = JobState.RUNNING) -> Job:
    return Job(job_id=job_id, state=state)


def test_array_ids_split_into_array_and_tasks() -> None:
    assert split_array_id("1234_7") == ("1234", (7,))
    assert split_array_id("1234_[4-6%2]") == ("1234", (4, 5, 6))
    assert split_array_id("1234") is None
    assert split_array_id("1234_x") is None


def test_an_array_is_one_group_where_it_first_appears() -> None:
    jobs = [
        job("41"),
        job("1234_1"),
        job("42"),
        job("1234_2"),
        job("1234_3"),
        job("1234_[4-20%4]", JobState.PENDING),
        job("77_5"),
    ]
    groups = group_arrays(jobs)
    assert [g.job_id for g in groups] == ["41", "1234_[1-20]", "42", "77_5"]
    array = groups[1]
    assert array.is_array and array.array_job_id == "1234"
    assert array.task_count == 20
    assert [j.job_id for j in array.jobs] == ["1234_1", "1234_2", "1234_3", "1234_[4-20%4]"]
    assert groups[0].task_count == 1 and not groups[0].is_array
    assert groups[3].is_array and groups[3].task_count == 1


def test_snapshot_json_names_each_jobs_compressed_nodes_and_array() -> None:
    nodes = ("gpu-07", "gpu-01", "gpu-02", "gpu-03", "gpu-04")
    snapshot = ClusterSnapshot(
        taken_at=1_800_000_000.0,
        jobs=(Job(job_id="42", nodes=nodes), Job(job_id="1234_[4-20]", state=JobState.PENDING)),
    )
    jobs = {job["id"]: job for job in json.loads(snapshot_json(snapshot, 1.89))["jobs"]}
    assert jobs["42"]["nodelist"] == "gpu-[01-04,07]"
    assert jobs["42"]["array_job_id"] is None
    assert jobs["1234_[4-20]"]["nodelist"] == ""
    assert jobs["1234_[4-20]"]["array_job_id"] == "1234"
