"""Reading a few named nodes or jobs (after an action) gives what a whole fetch gives for them,
in both Slurm shapes (22.05, 23.11) and both fetch modes; stand-in commands print fixtures."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.unit.test_slurm_source import FIXTURES, cat_fixture, fake, source
from tui.sources import slurm_text

VERSIONS = ("22.05", "23.11")


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    return tmp_path / "bin"


def scontrol(bin_dir: Path, version: str) -> Path:
    """Answers `scontrol show node -o -d NAMES` and `scontrol show job -d -o ID` as Slurm
    does: only what was named (an array's or heterogeneous job's parts under its id)."""
    nodes = shlex.quote(str(FIXTURES / f"scontrol-nodes-{version}.txt"))
    jobs = shlex.quote(str(FIXTURES / f"scontrol-jobs-{version}.txt"))
    asked = bin_dir.parent / "asked"
    fake(
        bin_dir,
        "scontrol",
        f'echo "$*" >> {shlex.quote(str(asked))}\n'
        'if [ "$2" = node ]; then\n'
        f'  echo "$5" | tr , "\\n" | while read n; do grep "^NodeName=$n " {nodes}; done\n'
        "else\n"
        f'  grep -E "^JobId=$5 |ArrayJobId=$5 |HetJobId=$5 " {jobs} ||'
        ' { echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1; }\n'
        "fi",
    )
    return asked


@pytest.mark.parametrize("version", VERSIONS)
async def test_named_nodes_are_read_alone_and_parsed_as_a_fetch_would(
    bin_dir: Path, version: str
) -> None:
    asked = scontrol(bin_dir, version)
    nodes = await source(bin_dir).read_nodes(["gpu-04", "gpu-02"])
    whole = slurm_text.parse_nodes((FIXTURES / f"scontrol-nodes-{version}.txt").read_text())
    assert nodes == tuple(n for n in whole if n.name in ("gpu-02", "gpu-04"))
    assert asked.read_text().split() == ["show", "node", "-o", "-d", "gpu-02,gpu-04"]


@pytest.mark.parametrize(
    ("version", "asked_for", "answer"),
    [
        ("22.05", ["5", "2", "3", "42"], {"5_1", "5_2", "5_3", "2"}),
        ("23.11", ["107", "200", "99", "555"], {"107_4", "107_[5-9%2]", "200+0", "200+1"}),
    ],
)
async def test_named_jobs_come_with_their_parts_and_finished_or_unknown_ones_are_gone(
    bin_dir: Path, version: str, asked_for: list[str], answer: set[str]
) -> None:
    scontrol(bin_dir, version)
    jobs = await source(bin_dir).read_jobs(asked_for)
    assert {job.job_id for job in jobs} == answer


async def test_json_mode_keeps_the_named_ones_of_the_whole_list(bin_dir: Path) -> None:
    cat_fixture(bin_dir, "sinfo", "sinfo-23.11.json")  # grouped: nodes come from scontrol
    cat_fixture(bin_dir, "scontrol", "scontrol-nodes-23.11.json")
    cat_fixture(bin_dir, "squeue", "squeue-23.11.json")
    slurm = source(bin_dir, mode="json")
    whole = await slurm.fetch()
    nodes = await slurm.read_nodes(["gpu-03"])
    assert nodes == tuple(n for n in whole.nodes if n.name == "gpu-03") and len(nodes) == 1
    jobs = await slurm.read_jobs(["101", "107"])
    assert {j.job_id for j in jobs} == {
        j.job_id for j in whole.jobs if j.job_id == "101" or j.job_id.startswith("107_")
    }
