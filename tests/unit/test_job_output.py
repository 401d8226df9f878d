"""Following a job's output file: the tail first, then appended lines, bounded memory."""

from __future__ import annotations

from pathlib import Path

from tui.job_output import TAIL_BYTES, OutputFollower, expand_output_path
from tui.model import Job


def test_slurm_filename_patterns_are_filled_in() -> None:
    job = Job("42", name="train", user="alice", nodes=("gpu-01", "gpu-02"))
    assert expand_output_path("/home/%u/%x-%j.out", job) == "/home/alice/train-42.out"
    assert expand_output_path("/o/%N.%6j.log", job) == "/o/gpu-01.000042.log"
    assert expand_output_path("/o/100%%-%A", job) == "/o/100%-42"
    task = Job("1234_7", name="sweep", user="bob")
    assert expand_output_path("/o/%A_%a.out", task) == "/o/1234_7.out"
    # A task's own numeric job id is not known from `1234_7`: the pattern stays.
    assert expand_output_path("/o/slurm-%j.out", task) == "/o/slurm-%j.out"


def test_the_tail_then_only_what_was_appended(tmp_path: Path) -> None:
    out = tmp_path / "slurm-42.out"
    out.write_text("".join(f"line {n}\n" for n in range(100_000)))
    follower = OutputFollower(str(out))
    first = follower.poll()
    assert first[-1] == "line 99999"
    assert sum(len(line) + 1 for line in first) <= TAIL_BYTES  # not the whole file
    assert first[0].startswith("line ") and first[0] != "line 0"
    assert follower.poll() == []
    with out.open("a") as handle:
        handle.write("step 1\nstep 2 half")
    assert follower.poll() == ["step 1"]
    with out.open("a") as handle:
        handle.write(" done\nepoch 3%\repoch 100%\n")
    assert follower.poll() == ["step 2 half done", "epoch 100%"]


def test_a_rewritten_file_is_read_from_its_start(tmp_path: Path) -> None:
    out = tmp_path / "job.out"
    out.write_text("old run\n" * 10)
    follower = OutputFollower(str(out))
    assert len(follower.poll()) == 10
    out.write_text("requeued\n")
    assert follower.poll() == ["requeued"]


def test_an_unreadable_file_says_why_in_one_line(tmp_path: Path) -> None:
    follower = OutputFollower(str(tmp_path / "elsewhere" / "slurm-42.out"))
    assert follower.poll() == []
    assert follower.error == "No such file or directory"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "slurm-42.out").write_text("hello\n")
    assert follower.poll() == ["hello"] and follower.error is None
