"""`clusterdash snapshot --json` on Slurm 23.11 output: what the parsers read reaches the user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures" / "slurm"


def fake(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\nPATH=/usr/bin:/bin\n{body}\n")
    path.chmod(0o755)


def snapshot(tmp_path: Path, scontrol_nodes: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    jobs = FIXTURES / "scontrol-jobs-23.11.txt"
    fake(bin_dir, "scontrol", f'if [ "$2" = node ]; then {scontrol_nodes}; else cat {jobs}; fi')
    fake(bin_dir, "sinfo", 'echo "slurm 23.11.10"')
    config = tmp_path / "c.toml"
    config.write_text('[gpu]\ntargets = ["http://127.0.0.1:9/metrics"]\ntimeout = "1s"\n')
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "snapshot", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PATH=str(bin_dir)),
        check=False,
    )


def test_pending_jobs_show_the_gpus_they_asked_for(tmp_path: Path) -> None:
    result = snapshot(tmp_path, f"cat {FIXTURES / 'scontrol-nodes-23.11.txt'}")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["slurm_version"] == "23.11.10"
    jobs = {j["id"]: j for j in data["jobs"]}
    assert (jobs["103"]["gpus"], jobs["103"]["gpus_requested"]) == (0, 32)  # -N4 --gres=gpu:8
    assert jobs["104"]["gpus_requested"] == 32  # --gpus=32
    assert (jobs["102"]["gpus"], jobs["102"]["gpus_requested"]) == (9, 9)
    assert jobs["200+1"]["name"] == "het"
    nodes = {n["name"]: n for n in data["nodes"]}
    assert nodes["gpu-07"]["reason"] == "ask [ops@corp] first"
    assert nodes["old-01"]["gpus"] == {"total": 4, "allocated": 3, "model": ""}


def test_garbage_from_scontrol_is_a_failed_source_not_empty_nodes(tmp_path: Path) -> None:
    result = snapshot(tmp_path, "echo 'NodeName= garbage'")
    data = json.loads(result.stdout)
    slurm = data["sources"]["slurm"]
    assert slurm["ok"] is False
    assert slurm["last_error"].startswith("scontrol show node: cut-off or unknown record")
    assert "\n" not in slurm["last_error"]
    assert not any(n["name"] == "" for n in data["nodes"])
    assert "Traceback" not in result.stderr
