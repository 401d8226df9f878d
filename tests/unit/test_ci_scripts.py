"""The script `make test` and CI share for the integration tests' Debian packages."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import need_binaries

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / ".ci" / "system-packages"


@pytest.mark.parametrize("script", ["run", "system-packages"])
def test_ci_scripts_are_shellcheck_clean(script: str) -> None:
    shellcheck = need_binaries("shellcheck")["shellcheck"]
    result = subprocess.run(
        [shellcheck, "-x", "--severity=style", script],
        cwd=REPO / ".ci",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_report_names_the_group_of_a_missing_package_and_how_to_enable_it(tmp_path: Path) -> None:
    need_binaries("dpkg-query")
    text = SCRIPT.read_text(encoding="utf-8")
    assert "    systemd:systemd\n" in text
    patched = text.replace(
        "    systemd:systemd\n", "    systemd:systemd\n    fake:clusterdash-no-such-package\n"
    )
    copy = tmp_path / ".ci" / "system-packages"
    copy.parent.mkdir()
    copy.write_text(patched, encoding="utf-8")
    copy.chmod(0o755)
    result = subprocess.run(
        [str(copy), "report"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Integration tests skipped: ")
    assert "fake" in lines[0] and "enable them with: " in lines[0]


def test_unknown_action_is_a_usage_error() -> None:
    result = subprocess.run(
        [str(SCRIPT), "upgrade"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stderr.startswith("usage: ")
