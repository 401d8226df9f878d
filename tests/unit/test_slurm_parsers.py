"""Both Slurm parsers (JSON and scontrol text) on real 22.05 output and 23.11 output.

The 22.05 files were captured from a real controller; the 23.11 ones follow Slurm
23.11's format strings (tests/fixtures/slurm/README.md says where each comes from).
Every behaviour is checked on both versions; what differs is in VERSIONS below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tui.model import Job, JobState, Node, NodeBaseState
from tui.sources import slurm_json, slurm_text
from tui.sources.base import SourceError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "slurm"


def read(name: str) -> str:
    return (FIXTURES / name).read_text()


def doc(name: str) -> dict:
    return slurm_json.load(read(name), name)


@dataclass(frozen=True)
class Version:
    name: str
    nodes_json: str  # what the source reads in JSON mode
    jobs_json: str
    nodes_text: str
    jobs_text: str
    drained: str
    drained_reason: str
    mixed: str
    mixed_facts: tuple[int, int, int, int, str]  # cpus alloc, mem alloc, gpus total/alloc, model
    multi_node_job: str
    multi_node_indices: dict[str, tuple[int, ...]]
    pending_gpu_job: str
    pending_gpus_requested: int
    held_job: str
    held_reason: str
    finished_job: str
    finished_state: JobState
    active_jobs: tuple[str, ...]
    node_names: tuple[str, ...]
    version: str


V2205 = Version(
    name="22.05",
    nodes_json="sinfo-22.05.json",
    jobs_json="squeue-22.05.json",
    nodes_text="scontrol-nodes-22.05.txt",
    jobs_text="scontrol-jobs-22.05.txt",
    drained="gpu-04",
    drained_reason="bad fan on gpu 3",
    mixed="gpu-01",
    mixed_facts=(5, 5000, 8, 8, "a100"),
    multi_node_job="2",
    multi_node_indices={"gpu-01": (2, 3, 4), "gpu-02": (0, 1, 2)},
    pending_gpu_job="8",  # sbatch -N3 --gres=gpu:8
    pending_gpus_requested=24,
    held_job="4",
    held_reason="JobHeldUser",
    finished_job="3",
    finished_state=JobState.FAILED,
    active_jobs=("1", "2", "4", "5_1", "5_2", "5_3", "8"),
    node_names=("gpu-01", "gpu-02", "gpu-03", "gpu-04"),
    version="22.05.8",
)
V2311 = Version(
    name="23.11",
    nodes_json="scontrol-nodes-23.11.json",
    jobs_json="squeue-23.11.json",
    nodes_text="scontrol-nodes-23.11.txt",
    jobs_text="scontrol-jobs-23.11.txt",
    drained="gpu-04",
    drained_reason="XID 79 on GPU 3, see dmesg; ticket=OPS-42",
    mixed="gpu-01",
    mixed_facts=(24, 98304, 8, 5, "nvidia_a100-sxm4-80gb"),
    multi_node_job="102",
    # "Nodes=gpu-[02-03] ... GRES=...(IDX:0-2)" covers two nodes with the same indices.
    multi_node_indices={"gpu-01": (2, 3, 4), "gpu-02": (0, 1, 2), "gpu-03": (0, 1, 2)},
    pending_gpu_job="103",  # sbatch -N4 --gres=gpu:8
    pending_gpus_requested=32,
    held_job="104",
    held_reason="JobHeldUser",
    finished_job="99",
    finished_state=JobState.COMPLETED,
    active_jobs=("101", "102", "103", "104", "107_4", "107_[5-9%2]", "108", "200+0", "200+1"),
    node_names=(
        "gpu-01",
        "gpu-02",
        "gpu-03",
        "gpu-04",
        "gpu-05",
        "gpu-06",
        "gpu-07",
        "gpu-08",
        "dyn-01",
        "old-01",
    ),
    version="23.11.10",
)
VERSIONS = [pytest.param(V2205, id="22.05"), pytest.param(V2311, id="23.11")]


def parsed(v: Version, mode: str, include_finished: bool = False) -> tuple[list[Node], list[Job]]:
    if mode == "json":
        nodes = slurm_json.parse_nodes(doc(v.nodes_json))
        jobs = slurm_json.parse_jobs(doc(v.jobs_json), include_finished)
    else:
        nodes = slurm_text.parse_nodes(read(v.nodes_text))
        jobs = slurm_text.parse_jobs(read(v.jobs_text), include_finished)
    return list(nodes), list(jobs)


@pytest.fixture(params=VERSIONS)
def v(request: pytest.FixtureRequest) -> Version:
    return request.param


@pytest.fixture(params=["json", "text"])
def state(request: pytest.FixtureRequest, v: Version) -> tuple[dict[str, Node], dict[str, Job]]:
    nodes, jobs = parsed(v, request.param)
    return {n.name: n for n in nodes}, {j.job_id: j for j in jobs}


# ---- the same facts from every version and mode ---------------------------------------------


def test_nodes(state, v: Version) -> None:
    nodes, _ = state
    assert tuple(nodes) == v.node_names
    mixed = nodes[v.mixed]
    assert mixed.state is NodeBaseState.MIXED and not mixed.flags
    assert mixed.partitions == ("gpu", "debug")
    assert (
        mixed.cpus_alloc,
        mixed.mem_alloc_mb,
        mixed.gpus_total,
        mixed.gpus_alloc,
        mixed.gpu_model,
    ) == v.mixed_facts
    drained = nodes[v.drained]
    assert drained.state is NodeBaseState.IDLE and drained.flags == {"DRAIN"}
    assert drained.reason == v.drained_reason
    assert drained.display_state == "drained"
    assert drained.partitions == ("gpu",)


def test_jobs(state, v: Version) -> None:
    _, jobs = state
    assert tuple(jobs) == v.active_jobs  # finished ones are left out
    multi = jobs[v.multi_node_job]
    assert multi.state is JobState.RUNNING and multi.reason == ""
    assert multi.nodes == tuple(v.multi_node_indices)
    assert multi.gpu_indices == v.multi_node_indices
    assert multi.gpu_count == multi.gpus_requested == sum(map(len, v.multi_node_indices.values()))
    held = jobs[v.held_job]
    assert held.held and held.state is JobState.PENDING and held.reason == v.held_reason
    assert held.nodes == () and held.start_time is None


def test_pending_jobs_carry_the_gpus_they_asked_for(state, v: Version) -> None:
    _, jobs = state
    pending = jobs[v.pending_gpu_job]
    assert pending.state is JobState.PENDING and pending.reason == "Resources"
    assert not pending.held and pending.nodes == () and pending.gpus_per_node == 8
    assert pending.gpus_requested == v.pending_gpus_requested
    assert pending.gpu_count == 0  # none allocated yet


@pytest.mark.parametrize("v", VERSIONS)
def test_json_and_text_agree(v: Version) -> None:
    by_json, by_text = parsed(v, "json", True), parsed(v, "text", True)
    assert sorted(by_json[0], key=lambda n: n.name) == sorted(by_text[0], key=lambda n: n.name)
    key = lambda j: j.job_id  # noqa: E731
    assert sorted(by_json[1], key=key) == sorted(by_text[1], key=key)


@pytest.mark.parametrize("v", VERSIONS)
@pytest.mark.parametrize("mode", ["json", "text"])
def test_finished_jobs_come_back_when_asked(v: Version, mode: str) -> None:
    _, jobs = parsed(v, mode, include_finished=True)
    assert {j.job_id: j.state for j in jobs}[v.finished_job] is v.finished_state


@pytest.mark.parametrize("v", VERSIONS)
def test_version_from_json_meta(v: Version) -> None:
    assert slurm_json.version(doc(v.jobs_json)) == v.version


def test_version_meta_spellings() -> None:
    meta_only = {"meta": {"Slurm": {"version": {"major": 22, "minor": 5, "micro": 8}}}}
    assert slurm_json.version(meta_only) == "22.05.8"
    meta_only = {"meta": {"slurm": {"version": {"major": "23", "minor": "11", "micro": "4"}}}}
    assert slurm_json.version(meta_only) == "23.11.4"


# ---- what only the 23.11 captures hold --------------------------------------------------------


@pytest.fixture(params=["json", "text"])
def state_2311(request: pytest.FixtureRequest) -> tuple[dict[str, Node], dict[str, Job]]:
    nodes, jobs = parsed(V2311, request.param)
    return {n.name: n for n in nodes}, {j.job_id: j for j in jobs}


def test_2311_node_states_in_slurms_flag_order(state_2311) -> None:
    nodes, _ = state_2311
    down = nodes["gpu-05"]
    assert down.is_unreachable and down.flags == {"NOT_RESPONDING"}
    assert down.reason == "Not responding"
    assert nodes["gpu-06"].flags == {"COMPLETING", "DRAIN"}  # State=MIXED+COMPLETING+DRAIN
    assert nodes["gpu-06"].display_state == "draining"
    dynamic = nodes["dyn-01"]  # State=IDLE+DYNAMIC_NORM ... InstanceId=... InstanceType=...
    assert dynamic.state is NodeBaseState.IDLE and dynamic.flags == {"DYNAMIC_NORM"}
    assert dynamic.reason == ""


def test_2311_reason_keeps_its_own_brackets(state_2311) -> None:
    nodes, _ = state_2311
    # Reason=ask [ops@corp] first [root@1767222000]: only the last stamp is Slurm's.
    assert nodes["gpu-07"].reason == "ask [ops@corp] first"
    assert nodes["gpu-08"].reason == "PSU swap"


def test_2311_untyped_gpus(state_2311) -> None:
    nodes, jobs = state_2311
    old = nodes["old-01"]  # Gres=gpu:4 GresUsed=gpu:(null):3(IDX:0-2)
    assert (old.gpus_total, old.gpus_alloc, old.gpu_model) == (4, 3, "")
    assert jobs["200+0"].gpu_indices == {"old-01": (0, 1, 2)}  # GRES=gpu:3(IDX:0-2)


def test_2311_het_job(state_2311) -> None:
    _, jobs = state_2311
    leader, member = jobs["200+0"], jobs["200+1"]
    assert leader.name == member.name == "het"
    assert leader.state is JobState.RUNNING and member.state is JobState.PENDING
    assert member.gpus_requested == 1  # TresPerNode=gres/gpu: plain --gres=gpu


def test_2311_gpus_per_job_and_arrays(state_2311) -> None:
    _, jobs = state_2311
    assert jobs["104"].gpus_requested == 32  # --gpus=32: TresPerJob=gres/gpu:32
    running, rest = jobs["107_4"], jobs["107_[5-9%2]"]
    assert running.state is JobState.COMPLETING and running.gpu_indices == {"gpu-06": (7,)}
    assert rest.state is JobState.PENDING and rest.reason == "JobArrayTaskLimit"
    assert rest.gpus_requested == 1
    assert jobs["102"].name == "ddp finetune v2" and jobs["102"].time_limit_min == 2880


def test_2311_sinfo_groups_keep_the_first_nodes_reason() -> None:
    """Why the source reads 23.11 nodes from `scontrol show nodes --json`, not `sinfo --json`."""
    grouped = {n.name: n for n in slurm_json.parse_nodes(doc("sinfo-23.11.json"))}
    listed = {n.name: n for n in slurm_json.parse_nodes(doc("scontrol-nodes-23.11.json"))}
    assert set(grouped) == set(listed)
    assert grouped["gpu-08"].reason == grouped["gpu-04"].reason  # sinfo's grouping
    assert listed["gpu-08"].reason == "PSU swap"
    assert grouped["gpu-03"].cpus_total == listed["gpu-03"].cpus_total == 128


# ---- each parser gap, with the line that showed it, on both versions ------------------------


def job_template(v: Version, job: str) -> str:
    return next(line for line in read(v.jobs_text).splitlines() if line.startswith(f"JobId={job} "))


def node_template(v: Version) -> str:
    return read(v.nodes_text).splitlines()[0]


def retyped(line: str, key: str, value: str | None) -> str:
    """The line with `key`'s one-word value replaced, or the pair removed when value is None."""
    start = line.find(f" {key}=")
    if start < 0:
        return line if value is None else f"{line} {key}={value}"
    end = line.find(" ", start + 1)
    end = len(line) if end < 0 else end
    return line[:start] + ("" if value is None else f" {key}={value}") + line[end:]


def tres_key(v: Version) -> str:
    return "TRES" if v is V2205 else "ReqTRES"


def per_node(v: Version, count: str) -> str:
    return f"gres:gpu{count}" if v is V2205 else f"gres/gpu{count}"


@pytest.mark.parametrize("v", VERSIONS)
def test_pending_job_counts_per_node_gpus_times_nodes(v: Version) -> None:
    line = retyped(job_template(v, v.pending_gpu_job), "NumNodes", "4-4")
    line = retyped(line, "TresPerNode", per_node(v, ":8"))
    line = retyped(line, tres_key(v), "cpu=4,mem=16G,node=4,billing=4")  # gres/gpu not tracked
    (job,) = slurm_text.parse_jobs(line)
    assert job.gpus_requested == 32
    tracked = retyped(line, tres_key(v), "cpu=4,mem=16G,node=4,billing=4,gres/gpu=32")
    assert slurm_text.parse_jobs(tracked)[0].gpus_requested == 32


@pytest.mark.parametrize("v", VERSIONS)
@pytest.mark.parametrize(
    ("key", "value", "tasks", "gpus"),
    [
        ("TresPerJob", "gres/gpu:32", "1", 32),  # --gpus=32
        ("TresPerTask", "gres/gpu:2", "4", 8),  # --gpus-per-task=2 -n4
    ],
)
def test_gpus_per_job_and_per_task_are_read(
    v: Version, key: str, value: str, tasks: str, gpus: int
) -> None:
    line = job_template(v, v.held_job)
    for request in ("TresPerJob", "TresPerNode", "TresPerTask"):
        line = retyped(line, request, None)
    line = retyped(line, tres_key(v), "cpu=4,mem=16G,node=1,billing=4")
    line = retyped(retyped(line, "NumTasks", tasks), key, value)
    (job,) = slurm_text.parse_jobs(line)
    assert job.gpus_requested == gpus


@pytest.mark.parametrize("v", VERSIONS)
def test_plain_gres_gpu_means_one(v: Version) -> None:
    line = retyped(job_template(v, v.pending_gpu_job), "TresPerNode", per_node(v, ""))
    line = retyped(retyped(line, "NumNodes", "1"), tres_key(v), "cpu=1,mem=4G,node=1,billing=1")
    (job,) = slurm_text.parse_jobs(line)
    assert (job.gpus_per_node, job.gpus_requested) == (1, 1)


@pytest.mark.parametrize("v", VERSIONS)
def test_typed_and_untyped_alloc_tres_count_once(v: Version) -> None:
    key = "TRES" if v is V2205 else "AllocTRES"
    line = retyped(job_template(v, v.multi_node_job), "TresPerNode", None)
    line = retyped(line, key, "cpu=32,mem=256G,node=2,billing=32,gres/gpu=16,gres/gpu:h100=16")
    line = retyped(line, "NodeList", "gpu-[01-02]")
    (job,) = slurm_text.parse_jobs(line)
    assert job.gpus_per_node == 8


@pytest.mark.parametrize("v", VERSIONS)
def test_untyped_gpus_in_use_are_counted(v: Version) -> None:
    line = retyped(node_template(v), "Gres", "gpu:4")
    line = retyped(line, "GresUsed", "gpu:(null):3(IDX:0-2)")
    (node,) = slurm_text.parse_nodes(line)
    assert (node.gpus_total, node.gpus_alloc, node.gpu_model) == (4, 3, "")


@pytest.mark.parametrize("v", VERSIONS)
def test_het_job_name_and_id(v: Version) -> None:
    line = job_template(v, v.multi_node_job)
    line = line.replace(
        line[: line.index(" UserId=")],
        "JobId=201 HetJobId=200 HetJobOffset=1 JobName=het HetJobIdSet=200-201",
    )
    (job,) = slurm_text.parse_jobs(line)
    assert (job.job_id, job.name) == ("200+1", "het")


@pytest.mark.parametrize("v", VERSIONS)
def test_reason_with_brackets_of_its_own(v: Version) -> None:
    line = retyped(node_template(v), "State", "IDLE+DRAIN")
    line += " Reason=ask [ops@corp] first [root@1767222000]"
    (node,) = slurm_text.parse_nodes(line)
    assert node.reason == "ask [ops@corp] first"
    assert slurm_text.parse_nodes(line + " ReservationName=maint")[0].reason == node.reason


def test_json_pending_job_gpus_and_het_ids() -> None:
    item = {
        "job_id": 201,
        "het_job_id": {"set": True, "infinite": False, "number": 200},
        "het_job_offset": {"set": True, "infinite": False, "number": 1},
        "job_state": ["PENDING"],
        "node_count": {"set": True, "infinite": False, "number": 4},
        "tres_req_str": "cpu=4,mem=16G,node=4,billing=4",
        "tres_per_node": "gres/gpu:8",
    }
    (job,) = slurm_json.parse_jobs({"jobs": [item]})
    assert (job.job_id, job.gpus_requested, job.gpus_per_node) == ("200+1", 32, 8)


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


def test_json_node_without_a_name_is_an_error() -> None:
    with pytest.raises(SourceError, match="bad node name ''"):
        slurm_json.parse_nodes({"nodes": [{"name": "", "state": ["IDLE"]}]})


def test_text_parsers_accept_empty_answers() -> None:
    assert slurm_text.parse_jobs("No jobs in the system\n") == ()
    assert slurm_text.parse_nodes("\n\n") == ()


@pytest.mark.parametrize("v", VERSIONS)
@pytest.mark.parametrize(
    ("output", "error"),
    [
        ("garbage\n", r"^scontrol show node: unexpected output: 'garbage'$"),
        ("NodeName= State=IDLE\n", r"^scontrol show node: cut-off or unknown record"),
        ("<html>502 Bad Gateway</html>\n", "unexpected output"),
    ],
)
def test_garbage_node_output_is_one_line_error(v: Version, output: str, error: str) -> None:
    with pytest.raises(SourceError, match=error):
        slurm_text.parse_nodes(read(v.nodes_text) + output)


@pytest.mark.parametrize("v", VERSIONS)
def test_cut_off_output_is_an_error_not_a_nameless_node(v: Version) -> None:
    with pytest.raises(SourceError, match=r"^scontrol show node: cut-off or unknown record"):
        slurm_text.parse_nodes(cut_off(read(v.nodes_text)))
    with pytest.raises(SourceError, match=r"bad node name ''"):
        slurm_text.parse_nodes(retyped(node_template(v), "NodeName", ""))
    jobs = read(v.jobs_text)
    with pytest.raises(SourceError, match=r"^scontrol show job: cut-off or unknown record"):
        slurm_text.parse_jobs(cut_off(jobs))
    with pytest.raises(SourceError, match=r"^scontrol show job: unexpected output"):
        slurm_text.parse_jobs("slurm_load_jobs error: Invalid user\n" + jobs)


def cut_off(text: str) -> str:
    """The output with its last record cut in the middle, as a killed command leaves it."""
    lines = text.splitlines()
    return "\n".join([*lines[:-1], lines[-1][: len(lines[-1]) // 2]])


@pytest.mark.parametrize("v", VERSIONS)
def test_unusual_fields_do_not_break_a_job_line(v: Version) -> None:
    line = job_template(v, v.multi_node_job)
    line = line.replace(line[: line.index(" UserId=")], "JobId=9 JobName=a=b c")
    line = retyped(retyped(line, "TimeLimit", "bogus"), "SubmitTime", "Unknown")
    line = retyped(retyped(line, "Account", "(null)"), "StartTime", "None")
    (job,) = slurm_text.parse_jobs(line)
    assert (job.name, job.job_id) == ("a=b c", "9")
    assert job.submit_time is None and job.start_time is None and job.account == ""
    assert job.time_limit_min is None


@pytest.mark.parametrize("v", VERSIONS)
def test_an_odd_record_is_skipped_not_fatal(v: Version) -> None:
    text = read(v.jobs_text)
    odd = retyped(job_template(v, v.multi_node_job), "NodeList", "gpu-[01")
    jobs = slurm_text.parse_jobs(odd + "\n" + text)
    assert len(jobs) == len(v.active_jobs)
    bad = {"jobs": [{"job_id": 5, "job_state": "RUNNING", "nodes": "gpu-[01"}]}
    assert slurm_json.parse_jobs(bad) == ()


def test_priority_and_output_paths_read_the_same_from_json_and_text(v: Version) -> None:
    _, json_jobs = parsed(v, "json")
    _, text_jobs = parsed(v, "text")
    by_mode = [{j.job_id: j for j in jobs} for jobs in (json_jobs, text_jobs)]
    assert {k: j.priority for k, j in by_mode[0].items()} == {
        k: j.priority for k, j in by_mode[1].items()
    }
    for jobs in by_mode:
        assert all(job.priority is not None for job in jobs.values())
        # stderr goes to the stdout file unless asked otherwise (22.05's JSON leaves it empty)
        assert all(job.stdout and job.stderr == job.stdout for job in jobs.values())


def test_2311_output_paths_and_priority(state_2311) -> None:
    _, jobs = state_2311
    job = jobs["101"]
    assert (job.priority, job.stdout, job.stderr) == (
        1000,
        "/home/alice/slurm-101.out",
        "/home/alice/slurm-101.out",
    )
