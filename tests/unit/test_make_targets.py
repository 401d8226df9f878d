"""`make bench` runs every benchmark-marked test; `make test` runs none of them."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOAK = "tests/ui/test_no_crash.py"


def pytest_args_of(target: str) -> list[str]:
    """The pytest arguments the make target's recipe passes (a dry run: nothing is executed)."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    recipe = subprocess.run(
        ["make", "-n", "-s", target, "STAMP=Makefile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(part for part in recipe.splitlines() if "/pytest" in part)
    command = line[line.index("/pytest") :].split(";")[0].split(">")[0]
    words = shlex.split(command.replace("$(PYTEST_ARGS)", ""))[1:]
    return [word for word in words if word not in ("-s", "-q")]


def collected(args: list[str]) -> str:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout


@pytest.mark.timeout(300)
def test_make_bench_runs_the_long_random_key_soak() -> None:
    args = pytest_args_of("bench")
    paths = [arg for arg in args if not arg.startswith("-") and (ROOT / arg).exists()]
    assert paths, args
    options = [arg for arg in args if arg not in paths]
    # Collect only the soak file, through the same selection the recipe's paths allow.
    assert any(SOAK.startswith(path.rstrip("/")) for path in paths), paths
    listing = collected([*options, SOAK])
    assert "test_random_keys_long_soak[1]" in listing
    assert "test_random_keys_short_soak" not in listing


@pytest.mark.timeout(300)
def test_make_test_runs_only_the_short_soak() -> None:
    listing = collected([*pytest_args_of("test"), SOAK])
    assert "test_random_keys_short_soak" in listing
    assert "test_random_keys_long_soak" not in listing
