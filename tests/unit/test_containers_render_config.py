"""slurm.conf / gres.conf generation from the pod's environment."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from containers.slurm.render_config import ConfigError, render, settings_from_env

SCRIPT = Path(__file__).resolve().parents[2] / "containers" / "slurm" / "render_config.py"
HEAD = {"SLURM_HEAD_HOST": "head-0"}


def options(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key: value for key, value in pairs if not key.startswith("#")}


def test_defaults_make_a_configless_gpu_cluster_with_dynamic_nodes(tmp_path: Path) -> None:
    render(tmp_path, HEAD)
    conf = options((tmp_path / "slurm.conf").read_text())

    assert conf["SlurmctldHost"] == "head-0"
    assert conf["SlurmctldParameters"] == "enable_configless"
    assert conf["SlurmctldPort"] == "6817"
    assert conf["GresTypes"] == "gpu"
    assert conf["MaxNodeCount"] == "64"
    assert conf["PartitionName"].startswith("gpu Nodes=gpunodes Default=YES")
    assert "AuthInfo" not in conf
    assert (tmp_path / "gres.conf").read_text().splitlines()[-1] == "AutoDetect=nvml"


def test_environment_overrides_reach_the_files(tmp_path: Path) -> None:
    render(
        tmp_path,
        HEAD
        | {
            "SLURM_HEAD_ADDR": "10.0.0.5",
            "SLURMCTLD_PORT": "7817",
            "SLURM_CLUSTER_NAME": "Prod",
            "MUNGE_SOCKET": "/run/munge/munge.socket.2",
            "SLURM_GPU_FILES": "/dev/nvidia[0-7]",
        },
    )
    conf = options((tmp_path / "slurm.conf").read_text())

    assert conf["SlurmctldHost"] == "head-0(10.0.0.5)"
    assert conf["SlurmctldPort"] == "7817"
    assert conf["ClusterName"] == "prod"
    assert conf["AuthInfo"] == "socket=/run/munge/munge.socket.2"
    assert "Name=gpu File=/dev/nvidia[0-7]" in (tmp_path / "gres.conf").read_text()


def test_rendering_twice_leaves_the_files_untouched(tmp_path: Path) -> None:
    first = render(tmp_path, HEAD)
    stamps = [path.stat().st_mtime_ns for path in first]
    second = render(tmp_path, HEAD)
    assert [path.stat().st_mtime_ns for path in second] == stamps


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "SLURM_HEAD_HOST is required"),
        ({"SLURM_HEAD_HOST": "head;rm -rf /"}, "SLURM_HEAD_HOST="),
        (HEAD | {"SLURMCTLD_PORT": "http"}, "SLURMCTLD_PORT='http' is not a whole number"),
        (HEAD | {"SLURMD_PORT": "80"}, "SLURMD_PORT=80 is outside 1024..65535"),
        (HEAD | {"SLURM_STATE_DIR": "relative/dir"}, "SLURM_STATE_DIR="),
        (HEAD | {"SLURM_COMPAT": "21.08"}, "SLURM_COMPAT='21.08' must be one of"),
        (HEAD | {"SLURM_HEAD_ADDR": "a b"}, "SLURM_HEAD_ADDR="),
    ],
)
def test_bad_variables_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        settings_from_env(env)


def test_command_line_reports_bad_input_in_one_line_and_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "etc")],
        env={"SLURMCTLD_PORT": "x"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == "render_config: SLURM_HEAD_HOST is required (a host or cluster name)\n"
    assert not (tmp_path / "etc").exists()


def test_command_line_writes_and_lists_the_files(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)],
        env=HEAD,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == [str(tmp_path / "slurm.conf"), str(tmp_path / "gres.conf")]
