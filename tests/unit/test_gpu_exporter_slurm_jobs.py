"""Which job holds which GPU, parsed from real-format squeue / scontrol output."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from containers.gpu_exporter.slurm_jobs import SlurmJobMap, expand_hostlist, gpus_of_job

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "containers"
MULTI = (FIXTURES / "scontrol_show_job_d_multi.txt").read_text()
ARRAY = (FIXTURES / "scontrol_show_job_d_array.txt").read_text()
UNTYPED = (FIXTURES / "scontrol_show_job_d_untyped.txt").read_text()


class ScriptedSlurm:
    """Answers argv calls with canned real-format output and records them."""

    def __init__(self, squeue: str = "2\n5_1\n43\n") -> None:
        self.squeue = squeue
        self.calls: list[list[str]] = []
        self.fail = False

    def __call__(self, argv: Sequence[str]) -> str:
        self.calls.append(list(argv))
        if self.fail:
            raise RuntimeError("squeue exited 1: slurm_load_jobs error: Unable to contact slurm")
        if argv[0] == "squeue":
            return self.squeue
        return {"2": MULTI, "5_1": ARRAY, "43": UNTYPED}[argv[-1]]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("expression", "hosts"),
    [
        ("gpu-01", ["gpu-01"]),
        ("gpu-[01-03,07]", ["gpu-01", "gpu-02", "gpu-03", "gpu-07"]),
        ("head,gpu-[9-10]", ["head", "gpu-9", "gpu-10"]),
        ("rack[1-2]-n", ["rack1-n", "rack2-n"]),
    ],
)
def test_hostlists_expand_like_slurm(expression: str, hosts: list[str]) -> None:
    assert expand_hostlist(expression) == hosts


def test_gpu_indices_are_read_for_this_host_only() -> None:
    assert gpus_of_job(MULTI, "gpu-01") == [2, 3, 4]
    assert gpus_of_job(MULTI, "gpu-02") == [0, 1, 2]
    assert gpus_of_job(MULTI, "gpu-03") == []
    assert gpus_of_job(ARRAY, "gpu-01") == [5]
    assert gpus_of_job(UNTYPED, "gpu-01") == [6, 7]
    assert gpus_of_job(UNTYPED, "gpu-03") == [0, 1]


def test_map_covers_every_running_job_on_the_host_with_argv_calls() -> None:
    slurm = ScriptedSlurm()
    jobs = SlurmJobMap("gpu-01", runner=slurm).jobs_by_gpu()

    assert jobs == {2: "2", 3: "2", 4: "2", 5: "5_1", 6: "43", 7: "43"}
    assert slurm.calls[0] == ["squeue", "-h", "-t", "RUNNING", "-w", "gpu-01", "-o", "%i"]
    assert ["scontrol", "show", "job", "-d", "43"] in slurm.calls


def test_map_is_cached_for_a_few_seconds() -> None:
    slurm, clock = ScriptedSlurm(), Clock()
    jobs = SlurmJobMap("gpu-01", runner=slurm, cache_seconds=5, clock=clock)

    jobs.jobs_by_gpu()
    clock.now += 4
    jobs.jobs_by_gpu()
    assert len(slurm.calls) == 4
    clock.now += 2
    jobs.jobs_by_gpu()
    assert len(slurm.calls) == 8


def test_unreachable_slurm_means_no_job_labels_not_a_crash() -> None:
    slurm = ScriptedSlurm()
    slurm.fail = True
    assert SlurmJobMap("gpu-01", runner=slurm).jobs_by_gpu() == {}


def test_odd_job_ids_are_never_passed_to_scontrol() -> None:
    slurm = ScriptedSlurm(squeue="43\n--all\n")
    assert SlurmJobMap("gpu-01", runner=slurm).jobs_by_gpu() == {6: "43", 7: "43"}
    assert all(call[-1] != "--all" for call in slurm.calls)
