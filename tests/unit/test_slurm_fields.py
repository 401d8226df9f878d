"""Slurm's value languages: hostlists, GRES strings, time limits, states, job ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui.model import JobState, NodeBaseState
from tui.sources.slurm_fields import (
    expand_hostlist,
    gpu_count,
    gpu_indices,
    gpu_model,
    gpus_from_tres_counts,
    gpus_per_request,
    gpus_requested,
    job_id,
    job_state,
    node_state,
    parse_gres,
    parse_time_limit,
)


@pytest.mark.parametrize(
    ("hostlist", "expected"),
    [
        ("gpu-[01-03,05]", ("gpu-01", "gpu-02", "gpu-03", "gpu-05")),
        ("gpu-01", ("gpu-01",)),
        ("gpu-01,cpu-[1-2]", ("gpu-01", "cpu-1", "cpu-2")),
        ("node[8-10]", ("node8", "node9", "node10")),
        ("rack[1-2]-n[1-2]", ("rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2")),
        ("a[098-101]", ("a098", "a099", "a100", "a101")),
        ("(null)", ()),
        ("", ()),
        (None, ()),
        (["gpu-[01-02]", "gpu-04"], ("gpu-01", "gpu-02", "gpu-04")),
    ],
)
def test_hostlists_expand_like_scontrol_show_hostnames(hostlist, expected) -> None:
    assert expand_hostlist(hostlist) == expected


def test_a_broken_hostlist_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unbalanced"):
        expand_hostlist("gpu-[01-03")


@given(st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=30, unique=True))
def test_hostlist_ranges_round_trip(numbers: list[int]) -> None:
    spec = ",".join(f"{n:03d}" for n in sorted(numbers))
    assert expand_hostlist(f"n[{spec}]") == tuple(f"n{n:03d}" for n in sorted(numbers))


@pytest.mark.parametrize(
    ("gres", "total", "model"),
    [
        ("gpu:a100:8(S:0-1)", 8, "a100"),
        ("gpu:a100:8", 8, "a100"),
        ("gpu:4", 4, ""),
        ("gpu:h100:4(S:0),gpu:a100:2(S:1)", 6, "h100"),
        ("gpu:nvidia_a100-sxm4-80gb:8(S:0-1),nic:2", 8, "nvidia_a100-sxm4-80gb"),
        ("(null)", 0, ""),
        ("", 0, ""),
        (None, 0, ""),
    ],
)
def test_node_gres_gives_gpu_total_and_model(gres, total, model) -> None:
    assert gpu_count(gres) == total
    assert gpu_model(gres) == model


@pytest.mark.parametrize(
    ("used", "count", "indices"),
    [
        ("gpu:a100:2(IDX:0-1)", 2, (0, 1)),
        ("gpu:a100:3(IDX:0,2-3)", 3, (0, 2, 3)),
        ("gpu:a100:0(IDX:N/A)", 0, ()),
        ("gpu:a100:1(IDX:7),gpu:h100:2(IDX:0-1)", 3, (0, 1, 7)),
        # gres.conf without Type=: 23.11 prints the type as "(null)".
        ("gpu:(null):3(IDX:0-2)", 3, (0, 1, 2)),
        ("gpu:(null):0(IDX:N/A)", 0, ()),
    ],
)
def test_used_gres_gives_allocated_gpus_and_indices(used, count, indices) -> None:
    assert gpu_count(used) == count
    assert gpu_indices(used) == indices


def test_an_untyped_gpu_has_no_model() -> None:
    assert gpu_model("gpu:(null):3(IDX:0-2)") == ""


def test_gres_entries_keep_name_type_count() -> None:
    (entry,) = parse_gres("gpu:a100:2(IDX:0-1)")
    assert (entry.name, entry.type, entry.count, entry.indices) == ("gpu", "a100", 2, (0, 1))


@pytest.mark.parametrize(
    ("request_", "gpus"),
    [
        ("gres:gpu:2", 2),  # 22.05
        ("gres/gpu:3", 3),  # 23.11
        ("gres/gpu:a100:4", 4),
        ("gres/gpu", 1),  # plain --gres=gpu
        ("gres/gpu:h100", 1),
        ("gres/gpu:a100:2,gres/gpu:h100:2", 4),
        ("cpu:4,gres/gpu:2", 2),
        ("gres/shard:4", 0),
        ("(null)", 0),
        ("", 0),
        (None, 0),
    ],
)
def test_gpus_in_a_tres_per_request_of_both_versions(request_, gpus) -> None:
    assert gpus_per_request(request_) == gpus


@pytest.mark.parametrize(
    ("tres", "gpus"),
    [
        ("cpu=4,mem=16G,node=4,billing=4,gres/gpu=32", 32),
        # Typed GPUs tracked as well: the same 16 GPUs are listed twice.
        ("cpu=32,mem=256G,node=2,billing=32,gres/gpu=16,gres/gpu:h100=16", 16),
        ("cpu=8,gres/gpu:a100=2,gres/gpu:h100=2", 4),
        ("cpu=1,mem=1000M,node=1,billing=1", 0),
        ("(null)", 0),
    ],
)
def test_gpus_in_a_tres_count_list(tres, gpus) -> None:
    assert gpus_from_tres_counts(tres) == gpus


def test_requested_gpus_prefer_req_tres_then_add_up_the_requests() -> None:
    assert (
        gpus_requested(
            req_tres="cpu=4,node=4,gres/gpu=32",
            per_job=None,
            per_node="gres/gpu:8",
            per_task=None,
            nodes=4,
            tasks=4,
        )
        == 32
    )
    untracked = {"req_tres": "cpu=4,node=4", "per_job": None, "per_task": None, "tasks": 4}
    assert gpus_requested(**untracked, per_node="gres/gpu:8", nodes=4) == 32
    assert gpus_requested(**{**untracked, "per_job": "gres/gpu:32"}, per_node=None, nodes=4) == 32
    assert gpus_requested(**{**untracked, "per_task": "gres/gpu:2"}, per_node=None, nodes=2) == 8
    assert gpus_requested(**untracked, per_node=None, nodes=4) == 0


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("UNLIMITED", None),
        ("INFINITE", None),
        ("N/A", None),
        ("01:30:00", 90),
        ("1-00:00:00", 1440),
        ("2-01:00:00", 2940),
        ("30:00", 30),
        ("00:00:30", 1),
    ],
)
def test_time_limits_become_minutes(text, minutes) -> None:
    assert parse_time_limit(text) == minutes


@pytest.mark.parametrize(
    ("words", "base", "flags"),
    [
        (["idle"], NodeBaseState.IDLE, set()),
        (["idle", "DRAIN"], NodeBaseState.IDLE, {"DRAIN"}),
        (["IDLE", "DRAIN"], NodeBaseState.IDLE, {"DRAIN"}),
        (["MIXED", "DRAIN", "COMPLETING"], NodeBaseState.MIXED, {"DRAIN", "COMPLETING"}),
        (["DOWN", "NOT_RESPONDING"], NodeBaseState.DOWN, {"NOT_RESPONDING"}),
        (["down*"], NodeBaseState.DOWN, set()),
        (["IDLE", "MAINT", "POWERED_DOWN"], NodeBaseState.IDLE, {"MAINTENANCE", "POWERED_DOWN"}),
        (["weird"], NodeBaseState.UNKNOWN, {"WEIRD"}),
    ],
)
def test_node_states_of_both_versions(words, base, flags) -> None:
    assert node_state(words) == (base, frozenset(flags))


def test_job_state_shows_completing_over_running() -> None:
    assert job_state(["RUNNING", "COMPLETING"]) is JobState.COMPLETING
    assert job_state(["PENDING"]) is JobState.PENDING
    assert job_state(["bogus"]) is JobState.UNKNOWN


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((42, 0, None), "42"),
        ((6, 5, 1), "5_1"),
        ((106, 105, "2-4"), "105_[2-4]"),
        ((7, 7, "[1-3]"), "7_[1-3]"),
    ],
)
def test_job_ids_read_like_squeue(args, expected) -> None:
    assert job_id(*args) == expected
