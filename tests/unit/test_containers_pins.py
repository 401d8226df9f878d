"""Every download the image build makes is pinned to a commit, so Go, git and the Hub can
resolve it and the build gets the same bytes each time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parents[2] / "containers" / "Dockerfile"
INSTRUCTIONS = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
ARGS = dict(re.findall(r"^ARG (\w+)=(\S+)", INSTRUCTIONS, re.MULTILINE))
COMMIT = re.compile(r"[0-9a-f]{40}")


def resolved(value: str) -> str:
    """A `${NAME}` reference replaced by the ARG's default; anything else as written."""
    match = re.fullmatch(r'"?\$\{(\w+)\}"?', value)
    if match is None:
        return value.strip('"')
    assert match[1] in ARGS, f"ARG {match[1]} has no default"
    return ARGS[match[1]]


def test_slurm_exporter_is_installed_at_a_commit() -> None:
    """vpenso's tags have no leading v: `@v0.20` names no version Go can find."""
    targets = re.findall(
        r"go install \"?github\.com/vpenso/prometheus-slurm-exporter@(\S+)", INSTRUCTIONS
    )
    assert len(targets) == 1
    version = resolved(targets[0])
    assert COMMIT.fullmatch(version), f"prometheus-slurm-exporter@{version} is not a commit"
    assert version == "895c7c6b8fec16dc45ea2f97e9e2c2202606c30c"  # tag 0.20


def test_slurm_source_is_checked_out_by_commit_and_verified() -> None:
    fetch = re.search(r"git fetch [^&]*https://github\.com/SchedMD/slurm\.git (\S+)", INSTRUCTIONS)
    assert fetch is not None, "Slurm is not fetched from SchedMD's repository"
    commit = resolved(fetch[1])
    assert COMMIT.fullmatch(commit), f"Slurm is fetched at {commit!r}, not a commit"
    assert commit == "d3e78848f72745ceb80e2a6bebdbcf3cfd7462b1"  # tag slurm-23-11-10-1
    assert 'test "$(git rev-parse HEAD)" = "${SLURM_COMMIT}"' in INSTRUCTIONS
    assert "download.schedmd.com" not in INSTRUCTIONS


def test_reasoning_parser_plugin_is_baked_in_at_a_revision() -> None:
    assert COMMIT.fullmatch(ARGS["NANO_V3_PARSER_REVISION"])
    assert re.search(r'revision=sys\.argv\[3\].*"\$\{NANO_V3_PARSER_REVISION\}"', INSTRUCTIONS)
    start_vllm = (DOCKERFILE.parent / "scripts" / "start-vllm.sh").read_text()
    assert "hf_hub_download" not in start_vllm  # nothing fetched from a moving branch at boot


@pytest.mark.parametrize("bad", ["v0.20", "0.20", "895c7c6", "main"])
def test_the_commit_form_check_refuses_tags_and_short_hashes(bad: str) -> None:
    assert COMMIT.fullmatch(resolved(bad)) is None
