"""The fast scontrol text readers give exactly what the general (reference) readers give."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

from hypothesis import given
from hypothesis import strategies as st

from tests import slurm_scale
from tui.model import Job, JobState
from tui.sources import slurm_text
from tui.sources.base import SourceError
from tui.sources.slurm_fields import collect_yielding

FIXTURES = Path(__file__).parent.parent / "fixtures" / "slurm"
VERSIONS = ("22.05", "23.11")


def test_fast_and_reference_agree_on_a_large_cluster() -> None:
    nodes_text = slurm_scale.nodes_text(1000)
    jobs_text = slurm_scale.jobs_text(5000, 1000)
    nodes = slurm_text.parse_nodes(nodes_text)
    jobs = slurm_text.parse_jobs(jobs_text, include_finished=True)
    assert len(nodes) == 1000 and len(jobs) == 5000
    assert nodes == slurm_text.parse_nodes(nodes_text, fast=False)
    assert jobs == slurm_text.parse_jobs(jobs_text, include_finished=True, fast=False)
    # The text is varied enough to mean something: drained and multi-node cases are there.
    assert {node.state for node in nodes} >= {"MIXED", "IDLE", "DOWN"}
    assert any(node.reason for node in nodes)
    assert any(len(job.gpu_indices) == 3 for job in jobs)


def _fixture_lines(kind: str) -> list[str]:
    return [
        line
        for version in VERSIONS
        for line in (FIXTURES / f"scontrol-{kind}-{version}.txt").read_text().splitlines()
        if line.strip()
    ]


# Lines the fast reader must not get wrong: other whitespace, non-ASCII text, a value that
# holds a key the model reads, keys glued to values.
ODD_EDITS = (
    (" Account=", "\tAccount="),
    (" Account=", "\x1fAccount="),
    (" Account=", "\u3000Account="),
    ("Command=/home/", "Command=/home/élan Partition=evil /"),
    ("StdIn=/dev/null", "StdIn=/dev/null NodeList=gpu-[90-99] GRES=gpu:8(IDX:0-7)"),
    ("WorkDir=/home/", "WorkDir=Nodes=gpu-01 /home/"),
    (" TimeLimit=", "  TimeLimit="),
)


def test_fast_and_reference_agree_on_odd_job_lines() -> None:
    fast, reference = slurm_text.JobReader(), slurm_text.JobReader(fast=False)
    for line in _fixture_lines("jobs"):
        for old, new in ODD_EDITS:
            odd = line.replace(old, new)
            assert fast.job(odd) == reference.job(odd), (old, new, odd)


def test_fast_and_reference_agree_on_odd_node_lines() -> None:
    fast, reference = slurm_text.NodeReader(), slurm_text.NodeReader(fast=False)
    edits = ((" Partitions=", "\tPartitions="), ("OS=Linux", "OS=Línux State=DOWN"))
    for line in _fixture_lines("nodes"):
        for old, new in edits:
            odd = line.replace(old, new)
            assert fast.node(odd) == reference.node(odd), (old, new, odd)


KEYS = [*slurm_text.JOB_FIELDS, "Command", "WorkDir", "X", "AllocNode:Sid", "CPUs/Task"]
TOKENS = st.one_of(
    st.sampled_from(KEYS).map(lambda key: f"{key}="),
    st.text(alphabet="abAZ09=-_[](),:/ ", max_size=8),
)


@given(st.lists(st.tuples(st.sampled_from(KEYS), st.lists(TOKENS, max_size=4)), max_size=12))
def test_fast_pairs_are_the_reference_pairs_of_those_keys(
    pairs: list[tuple[str, list[str]]],
) -> None:
    line = " ".join(f"{key}={''.join(tokens)}" for key, tokens in pairs)
    wanted = [(k, v) for k, v in slurm_text.pairs(line) if k in slurm_text.JOB_FIELDS]
    assert slurm_text._job_pairs(line) == wanted


def test_lines_are_split_the_same_a_piece_at_a_time() -> None:
    text = "a\r\nb\n\nc\rd\x0be\n" * 50 + "tail"
    assert list(slurm_text._lines(text, piece=7)) == text.splitlines()


async def test_yielding_parse_lets_other_work_in_and_gives_the_same_jobs() -> None:
    jobs_text = slurm_scale.jobs_text(2000, 200)
    ticks = 0
    parsing = True

    async def other_work() -> None:
        nonlocal ticks
        while parsing:
            ticks += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_work())
    try:
        jobs = await slurm_text.parse_jobs_yielding(jobs_text)
    finally:
        parsing = False
        await other
    assert jobs == slurm_text.parse_jobs(jobs_text)
    assert ticks > 1  # the loop ran other work while the jobs were parsed


async def test_collect_yielding_gives_the_loop_back_after_each_slice() -> None:
    def items() -> Iterator[int]:  # 1 ms of work each: a 4 ms slice ends every 16 items
        for item in range(64):
            time.sleep(0.001)
            yield item

    turns = 0
    parsing = True

    async def other_work() -> None:
        nonlocal turns
        while parsing:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_work())
    await asyncio.sleep(0)
    try:
        collected = await collect_yielding(items(), slice_s=0.004)
    finally:
        parsing = False
        await other
    assert collected == list(range(64))
    assert turns >= 4


def test_each_job_value_lands_in_its_own_field() -> None:
    """Every value of a 23.11 job line arrives under its own name (distinct values each)."""
    line = (
        "JobId=4242 JobName=train run UserId=alice(1000) GroupId=ml(1000) Priority=77 "
        "Account=acct-a QOS=normal JobState=RUNNING Reason=None TimeLimit=01:30:00 "
        "SubmitTime=1767222000 StartTime=1767222060 Partition=part-p NodeList=gpu-[01-02] "
        "NumNodes=2 NumTasks=4 ReqTRES=cpu=8,gres/gpu=6 AllocTRES=cpu=8,gres/gpu=6 "
        "JOB_GRES=gpu:6 Nodes=gpu-01 GRES=gpu:a100:3(IDX:0-2) Nodes=gpu-02 "
        "GRES=gpu:a100:3(IDX:5-7) StdErr=/home/alice/err.txt StdOut=/home/alice/out.txt "
        "Power= TresPerNode=gres/gpu:3"
    )
    job = slurm_text.parse_job_line(line)
    assert job == Job(
        job_id="4242",
        name="train run",
        user="alice",
        account="acct-a",
        partition="part-p",
        state=JobState.RUNNING,
        reason="",
        nodes=("gpu-01", "gpu-02"),
        gpu_indices=MappingProxyType({"gpu-01": (0, 1, 2), "gpu-02": (5, 6, 7)}),
        gpus_per_node=3,
        gpus_requested=6,
        submit_time=1767222000.0,
        start_time=1767222060.0,
        time_limit_min=90,
        held=False,
        priority=77,
        stdout="/home/alice/out.txt",
        stderr="/home/alice/err.txt",
    )


# Whole outputs: the fast reader reads plain text (ASCII, spaces, newlines) in place and
# anything else line by line; both must give what the reference gives, errors included.
TEXT_EDITS = (
    *ODD_EDITS,
    ("\n", "\r\n"),
    ("\n", "\n\n"),
    ("JobId=101 ", "JobId=101 x "),
    ("StdIn=/dev/null", "StdIn=/dev/null JobId=999"),
    (" Power=", "  Power="),
)


def _outcome(text: str, fast: bool) -> tuple[Job, ...] | str:
    try:
        return slurm_text.parse_jobs(text, include_finished=True, fast=fast)
    except SourceError as error:
        return str(error)


def test_fast_and_reference_agree_on_whole_outputs() -> None:
    for version in VERSIONS:
        text = (FIXTURES / f"scontrol-jobs-{version}.txt").read_text()
        for old, new in (("", ""), *TEXT_EDITS):
            odd = text.replace(old, new) if old else text
            for cut in (odd, odd.rstrip("\n"), odd + "No jobs in the system\n"):
                assert _outcome(cut, True) == _outcome(cut, False), (version, old, new)


def test_fast_and_reference_fail_alike_on_unexpected_output() -> None:
    text = (FIXTURES / "scontrol-jobs-23.11.txt").read_text()
    for odd in (text + "slurm_load_jobs error: Socket timed out\n", "garbage\n" + text):
        fast, reference = _outcome(odd, True), _outcome(odd, False)
        assert isinstance(fast, str) and fast == reference
