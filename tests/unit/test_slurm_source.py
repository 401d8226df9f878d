"""SlurmSource against stand-in Slurm commands: timeouts, missing binaries, errors, actions.

The stand-ins are small shell scripts on a private PATH; the real daemons are exercised in
tests/integration/test_slurm_real.py.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import pytest

from tui.actions import Action, ActionKind
from tui.sources.base import SourceError
from tui.sources.slurm import SlurmSource

FIXTURES = Path(__file__).parent.parent / "fixtures" / "slurm"


def fake(bin_dir: Path, name: str, body: str) -> Path:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\nPATH=/usr/bin:/bin\n{body}\n")
    path.chmod(0o755)
    return path


def cat_fixture(bin_dir: Path, name: str, fixture: str) -> None:
    fake(bin_dir, name, f"cat {shlex.quote(str(FIXTURES / fixture))}")


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    return tmp_path / "bin"


def source(bin_dir: Path, **kwargs) -> SlurmSource:
    return SlurmSource(env={"PATH": str(bin_dir)}, **kwargs)


async def test_json_fetch_reads_both_commands_and_the_version(bin_dir: Path) -> None:
    cat_fixture(bin_dir, "sinfo", "sinfo-22.05.json")
    cat_fixture(bin_dir, "squeue", "squeue-22.05.json")
    state = await source(bin_dir, mode="json").fetch()
    assert len(state.nodes) == 4 and len(state.jobs) == 7 and state.version == "22.05.8"


async def test_text_fetch_passes_epoch_time_format(bin_dir: Path) -> None:
    jobs = FIXTURES / "scontrol-jobs-22.05.txt"
    nodes = FIXTURES / "scontrol-nodes-22.05.txt"
    fake(
        bin_dir,
        "scontrol",
        f'[ "$SLURM_TIME_FORMAT" = "%s" ] || {{ echo "no epoch format" >&2; exit 1; }}\n'
        f'if [ "$2" = node ]; then cat {nodes}; else cat {jobs}; fi',
    )
    fake(bin_dir, "sinfo", 'echo "slurm-wlm 22.05.8"')
    state = await source(bin_dir).fetch()
    assert state.version == "22.05.8"
    assert {n.name for n in state.nodes} == {"gpu-01", "gpu-02", "gpu-03", "gpu-04"}
    assert {j.job_id for j in state.jobs} >= {"1", "2", "5_1"}


async def test_a_missing_version_does_not_blind_the_fetch(bin_dir: Path) -> None:
    jobs = FIXTURES / "scontrol-jobs-22.05.txt"
    nodes = FIXTURES / "scontrol-nodes-22.05.txt"
    fake(bin_dir, "scontrol", f'if [ "$2" = node ]; then cat {nodes}; else cat {jobs}; fi')
    state = await source(bin_dir).fetch()
    assert state.version == "" and len(state.nodes) == 4


async def test_a_hung_command_is_killed_and_reported(bin_dir: Path) -> None:
    cat_fixture(bin_dir, "sinfo", "sinfo-22.05.json")
    fake(bin_dir, "squeue", "sleep 30")
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"^squeue timed out after 0\.5s$"):
        await source(bin_dir, mode="json", timeout_s=0.5).fetch()
    assert time.monotonic() - started < 5


async def test_a_missing_binary_is_one_clear_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match=r"^sinfo not found on PATH$"):
        await SlurmSource(env={"PATH": str(empty)}, mode="json").fetch()
    with pytest.raises(SourceError, match=r"^sinfo not found in "):
        await SlurmSource(bin_dir=empty, mode="json").fetch()


async def test_a_failing_command_reports_slurms_first_stderr_line(bin_dir: Path) -> None:
    message = "slurm_load_node error: Unable to contact slurm controller (connect failure)"
    fake(bin_dir, "scontrol", f'echo "{message}" >&2; echo "second line" >&2; exit 1')
    fake(bin_dir, "sinfo", 'echo "slurm-wlm 22.05.8"')
    with pytest.raises(SourceError) as caught:
        await source(bin_dir).fetch()
    assert str(caught.value) == f"scontrol: {message}"


async def test_garbage_json_is_a_source_error(bin_dir: Path) -> None:
    fake(bin_dir, "sinfo", "echo not json")
    cat_fixture(bin_dir, "squeue", "squeue-22.05.json")
    with pytest.raises(SourceError, match="sinfo --json: output is not JSON"):
        await source(bin_dir, mode="json").fetch()


async def test_json_mode_reads_2311_nodes_one_by_one(bin_dir: Path, tmp_path: Path) -> None:
    """23.11's sinfo --json gives a group its first node's reason: scontrol lists each node."""
    calls = tmp_path / "calls.log"
    fake(bin_dir, "sinfo", f'echo "sinfo $*" >> {calls}; cat {FIXTURES / "sinfo-23.11.json"}')
    fake(
        bin_dir,
        "scontrol",
        f'echo "scontrol $*" >> {calls}\n'
        f'[ "$*" = "show nodes --json" ] && cat {FIXTURES / "scontrol-nodes-23.11.json"}',
    )
    cat_fixture(bin_dir, "squeue", "squeue-23.11.json")
    slurm = source(bin_dir, mode="json")
    for _ in range(2):
        state = await slurm.fetch()
        nodes = {n.name: n for n in state.nodes}
        assert nodes["gpu-08"].reason == "PSU swap" and nodes["gpu-07"].reason != "PSU swap"
        assert {j.job_id: j.gpus_requested for j in state.jobs}["103"] == 32
    assert calls.read_text().splitlines() == [
        "sinfo --json",
        "scontrol show nodes --json",
        "scontrol show nodes --json",
    ]


@pytest.mark.parametrize(
    ("output", "error"),
    [
        ("garbage", r"^scontrol show node: unexpected output: 'garbage'$"),
        ("NodeName= Arch=x86_64", r"^scontrol show node: cut-off or unknown record"),
    ],
)
async def test_garbage_text_fails_the_fetch(bin_dir: Path, output: str, error: str) -> None:
    jobs = FIXTURES / "scontrol-jobs-23.11.txt"
    fake(bin_dir, "scontrol", f'if [ "$2" = node ]; then echo "{output}"; else cat {jobs}; fi')
    fake(bin_dir, "sinfo", 'echo "slurm 23.11.10"')
    with pytest.raises(SourceError, match=error):
        await source(bin_dir).fetch()


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="'text' or 'json'"):
        SlurmSource(mode="xml")  # type: ignore[arg-type]


async def test_actions_run_exact_argv(bin_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "argv.log"
    for name in ("scontrol", "scancel"):
        fake(bin_dir, name, f'echo "{name} $*" >> {log}')
    slurm = source(bin_dir)
    drain = Action(ActionKind.DRAIN, ("gpu-01", "gpu-02"), reason="fan noise")
    result = await slurm.run_action(drain)
    assert result.ok and "drain nodes gpu-01, gpu-02" in result.message
    assert (await slurm.run_action(Action(ActionKind.CANCEL, ("42", "43_1")))).ok
    assert (await slurm.run_action(Action(ActionKind.REQUEUE, ("42",)))).ok
    assert log.read_text().splitlines() == [
        "scontrol update NodeName=gpu-01,gpu-02 State=DRAIN Reason=fan noise",
        "scancel --verbose 42 43_1",
        "scontrol requeue 42",
    ]


async def test_invalid_targets_fail_without_running_anything(bin_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    fake(bin_dir, "scontrol", f"touch {marker}")
    fake(bin_dir, "scancel", f"touch {marker}")
    slurm = source(bin_dir)
    bad_node = await slurm.run_action(Action(ActionKind.DRAIN, ("gpu-[01-02]",), reason="x"))
    assert not bad_node.ok and "invalid node name 'gpu-[01-02]'" in bad_node.message
    bad_job = await slurm.run_action(Action(ActionKind.CANCEL, ("42; rm -rf /",)))
    assert not bad_job.ok and "invalid job id" in bad_job.message
    no_reason = await slurm.run_action(Action(ActionKind.DRAIN, ("gpu-01",)))
    assert not no_reason.ok and "reason is required" in no_reason.message
    assert not marker.exists()


async def test_slurm_errors_come_back_verbatim(bin_dir: Path) -> None:
    fake(bin_dir, "scontrol", 'echo "slurm_update error: Invalid node name specified" >&2; exit 1')
    result = await source(bin_dir).run_action(Action(ActionKind.RESUME, ("gpu-99",)))
    assert not result.ok and result.message == "slurm_update error: Invalid node name specified"


async def test_error_lines_fail_an_action_even_with_status_zero(bin_dir: Path) -> None:
    error = "scancel: error: Kill job error on job id 99: Invalid job id specified"
    fake(bin_dir, "scancel", f'echo "scancel: Terminating job 99" >&2; echo "{error}" >&2')
    result = await source(bin_dir).run_action(Action(ActionKind.CANCEL, ("99",)))
    assert not result.ok and result.message == error


async def test_an_action_with_slurm_missing_fails_cleanly(tmp_path: Path) -> None:
    result = await SlurmSource(env={"PATH": str(tmp_path)}).run_action(
        Action(ActionKind.RESUME, ("gpu-01",))
    )
    assert not result.ok and result.message == "scontrol not found on PATH"
