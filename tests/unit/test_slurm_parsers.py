"""Both Slurm parsers (JSON and scontrol text) on real 22.05 output and 23.11-shaped fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.model import JobState, NodeBaseState
from tui.sources import slurm_json, slurm_text
from tui.sources.base import SourceError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "slurm"


def read(name: str) -> str:
    return (FIXTURES / name).read_text()


def doc(name: str) -> dict:
    return slurm_json.load(read(name), name)


# ---- real 22.05 output (captured from the test cluster: 4 nodes, gpu-04 drained) --------


@pytest.fixture(params=["json", "text"])
def state_2205(request: pytest.FixtureRequest):
    if request.param == "json":
        nodes = slurm_json.parse_nodes(doc("sinfo-22.05.json"))
        jobs = slurm_json.parse_jobs(doc("squeue-22.05.json"))
    else:
        nodes = slurm_text.parse_nodes(read("scontrol-nodes-22.05.txt"))
        jobs = slurm_text.parse_jobs(read("scontrol-jobs-22.05.txt"))
    return {n.name: n for n in nodes}, {j.job_id: j for j in jobs}


def test_2205_nodes(state_2205) -> None:
    nodes, _ = state_2205
    assert sorted(nodes) == ["gpu-01", "gpu-02", "gpu-03", "gpu-04"]
    one = nodes["gpu-01"]
    assert one.state is NodeBaseState.MIXED and not one.flags
    assert one.partitions == ("gpu", "debug")
    assert (one.cpus_total, one.cpus_alloc) == (16, 5)
    assert (one.mem_total_mb, one.mem_alloc_mb) == (64000, 5000)
    assert (one.gpus_total, one.gpus_alloc, one.gpu_model) == (8, 8, "a100")
    assert nodes["gpu-02"].gpus_alloc == 3
    drained = nodes["gpu-04"]
    assert drained.state is NodeBaseState.IDLE and drained.flags == {"DRAIN"}
    assert drained.reason == "bad fan on gpu 3"
    assert drained.display_state == "drained"
    assert drained.partitions == ("gpu",)


def test_2205_jobs(state_2205) -> None:
    _, jobs = state_2205
    assert sorted(jobs) == ["1", "2", "4", "5_1", "5_2", "5_3", "8"]  # 3 FAILED is left out
    train = jobs["1"]
    assert (train.name, train.user, train.account, train.partition) == (
        "train-llm",
        "root",
        "research",
        "gpu",
    )
    assert train.state is JobState.RUNNING and train.reason == ""
    assert train.gpu_indices == {"gpu-01": (0, 1)}
    assert train.gpus_per_node == 2 and train.time_limit_min is None
    assert train.submit_time == 1795948309 and train.start_time == 1795948309
    big = jobs["2"]
    assert big.nodes == ("gpu-01", "gpu-02")
    assert big.gpu_indices == {"gpu-01": (2, 3, 4), "gpu-02": (0, 1, 2)}
    assert big.time_limit_min == 90 and big.gpu_count == 6
    held = jobs["4"]
    assert held.held and held.state is JobState.PENDING and held.reason == "JobHeldUser"
    assert held.nodes == () and held.start_time is None
    pending = jobs["8"]
    assert pending.reason == "Resources" and not pending.held and pending.gpus_per_node == 8
    assert jobs["5_2"].gpu_indices == {"gpu-01": (6,)} and jobs["5_2"].partition == "debug"


def test_2205_json_and_text_agree() -> None:
    by_json = (
        slurm_json.parse_nodes(doc("sinfo-22.05.json")),
        slurm_json.parse_jobs(doc("squeue-22.05.json")),
    )
    by_text = (
        slurm_text.parse_nodes(read("scontrol-nodes-22.05.txt")),
        slurm_text.parse_jobs(read("scontrol-jobs-22.05.txt")),
    )
    assert sorted(by_json[0], key=lambda n: n.name) == sorted(by_text[0], key=lambda n: n.name)
    key = lambda j: j.job_id  # noqa: E731
    assert sorted(by_json[1], key=key) == sorted(by_text[1], key=key)


def test_finished_jobs_come_back_when_asked() -> None:
    jobs = slurm_text.parse_jobs(read("scontrol-jobs-22.05.txt"), include_finished=True)
    assert {j.job_id: j.state for j in jobs}["3"] is JobState.FAILED
    jobs = slurm_json.parse_jobs(doc("squeue-22.05.json"), include_finished=True)
    assert {j.job_id: j.state for j in jobs}["3"] is JobState.FAILED


def test_version_from_2205_meta() -> None:
    assert slurm_json.version(doc("sinfo-22.05.json")) == "22.05.8"
    meta_only = {"meta": {"Slurm": {"version": {"major": 22, "minor": 5, "micro": 8}}}}
    assert slurm_json.version(meta_only) == "22.05.8"


# ---- 23.11 shapes (data_parser v0.0.40) ---------------------------------------------------


@pytest.fixture(params=["sinfo-23.11.json", "scontrol-nodes-23.11.json"])
def nodes_2311(request: pytest.FixtureRequest):
    return {n.name: n for n in slurm_json.parse_nodes(doc(request.param))}


def test_2311_node_flag_arrays(nodes_2311) -> None:
    drained = nodes_2311["gpu-04"]
    assert drained.state is NodeBaseState.IDLE and drained.flags == {"DRAIN"}
    assert drained.reason == "XID 79 on GPU 3"
    down = nodes_2311["gpu-05"]
    assert down.is_unreachable and down.flags == {"NOT_RESPONDING"}
    assert nodes_2311["gpu-06"].display_state == "draining"
    one = nodes_2311["gpu-01"]
    assert one.partitions == ("gpu", "debug")
    assert (one.cpus_total, one.cpus_alloc, one.mem_total_mb, one.mem_alloc_mb) == (
        128,
        24,
        2000000,
        98304,
    )
    assert (one.gpus_total, one.gpus_alloc, one.gpu_model) == (8, 5, "a100")


def test_2311_sinfo_groups_split_into_nodes() -> None:
    nodes = {n.name: n for n in slurm_json.parse_nodes(doc("sinfo-23.11.json"))}
    assert {"gpu-07", "gpu-08"} <= set(nodes)
    assert nodes["gpu-07"].cpus_total == 128 and nodes["gpu-07"].state is NodeBaseState.IDLE


def test_2311_jobs() -> None:
    jobs = {j.job_id: j for j in slurm_json.parse_jobs(doc("squeue-23.11.json"))}
    assert sorted(jobs) == ["101", "102", "103", "104", "105_1", "105_[2-4]"]
    ddp = jobs["102"]
    assert ddp.nodes == ("gpu-01", "gpu-02")
    assert ddp.gpu_indices == {"gpu-01": (2, 3, 4), "gpu-02": (0, 1, 2)}
    assert (ddp.user, ddp.account, ddp.gpus_per_node, ddp.time_limit_min) == ("bob", "ml", 3, 2880)
    assert ddp.submit_time == 1767225600 - 3600 and ddp.start_time == 1767225600 - 3500
    pending = jobs["103"]
    assert pending.reason == "Resources" and pending.start_time is None and pending.nodes == ()
    assert pending.name == "eval sweep"
    assert jobs["104"].held and not pending.held
    assert jobs["105_1"].state is JobState.COMPLETING
    assert jobs["105_1"].gpu_indices == {"gpu-06": (7,)}
    assert jobs["105_[2-4]"].state is JobState.PENDING


def test_2311_version_meta() -> None:
    assert slurm_json.version(doc("squeue-23.11.json")) == "23.11.4"
    meta_only = {"meta": {"slurm": {"version": {"major": "23", "minor": "11", "micro": "4"}}}}
    assert slurm_json.version(meta_only) == "23.11.4"


def test_2311_text_nodes() -> None:
    nodes = {n.name: n for n in slurm_text.parse_nodes(read("scontrol-nodes-23.11.txt"))}
    drained = nodes["gpu-04"]
    # The reason holds a comma, a semicolon and a "Key=value"; it ends at [user@time].
    assert drained.reason == "XID 79 on GPU 3, see dmesg; ticket=OPS-42"
    assert drained.flags == {"DRAIN"}
    assert nodes["gpu-05"].reason == "Not responding" and nodes["gpu-05"].is_unreachable
    assert nodes["gpu-06"].flags == {"DRAIN", "COMPLETING"}
    assert nodes["gpu-06"].display_state == "draining"
    assert (nodes["gpu-01"].gpus_alloc, nodes["gpu-01"].cpus_alloc) == (5, 24)


def test_2311_text_jobs() -> None:
    jobs = {j.job_id: j for j in slurm_text.parse_jobs(read("scontrol-jobs-23.11.txt"))}
    ddp = jobs["102"]
    assert ddp.name == "ddp finetune v2" and ddp.user == "bob"
    # "Nodes=gpu-[02-03] ... GRES=...(IDX:0-2)" covers two nodes with the same indices.
    assert ddp.gpu_indices == {"gpu-01": (2, 3, 4), "gpu-02": (0, 1, 2), "gpu-03": (0, 1, 2)}
    assert ddp.time_limit_min == 2880 and ddp.gpus_per_node == 3
    sweep = jobs["107_[5-9%2]"]
    assert sweep.reason == "JobArrayTaskLimit" and sweep.start_time is None
    held = jobs["108"]
    assert held.held and held.reason == "JobHeldAdmin" and held.time_limit_min is None


# ---- bad input ------------------------------------------------------------------------------


def test_not_json_is_one_clear_line() -> None:
    with pytest.raises(SourceError, match=r"^squeue --json: output is not JSON"):
        slurm_json.load("slurm_load_jobs error: Unable to contact", "squeue --json")


def test_slurm_errors_inside_json_raise() -> None:
    text = json.dumps({"errors": [{"error": "Unable to contact slurm controller"}], "jobs": []})
    with pytest.raises(SourceError, match="Unable to contact slurm controller"):
        slurm_json.load(text, "squeue --json")


def test_json_without_nodes_is_an_error() -> None:
    with pytest.raises(SourceError, match="no 'nodes' or 'sinfo'"):
        slurm_json.parse_nodes({"meta": {}})
    with pytest.raises(SourceError, match="no 'jobs'"):
        slurm_json.parse_jobs({"meta": {}})


def test_text_parsers_skip_noise() -> None:
    assert slurm_text.parse_jobs("No jobs in the system\n") == ()
    assert slurm_text.parse_nodes("\n\n") == ()


def test_unusual_fields_do_not_break_a_job_line() -> None:
    line = (
        "JobId=9 JobName=a=b c UserId=zoe(5) Account=(null) JobState=RUNNING Reason=None "
        "TimeLimit=bogus NodeList=n1 SubmitTime=Unknown StartTime=None"
    )
    (job,) = slurm_text.parse_jobs(line)
    assert (job.name, job.user, job.nodes) == ("a=b c", "zoe", ("n1",))
    assert job.submit_time is None and job.account == ""


def test_an_odd_record_is_skipped_not_fatal() -> None:
    text = "JobId=1 JobName=x UserId=a(1) JobState=RUNNING NodeList=gpu-[01\n" + read(
        "scontrol-jobs-22.05.txt"
    )
    jobs = slurm_text.parse_jobs(text)
    assert "2" in {j.job_id for j in jobs} and "1" in {j.job_id for j in jobs}
    bad = {"jobs": [{"job_id": 5, "job_state": "RUNNING", "nodes": "gpu-[01"}]}
    assert slurm_json.parse_jobs(bad) == ()
