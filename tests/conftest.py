"""Shared test set-up: isolation from the developer's own config, and the integration gate."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REQUIRE_INTEGRATION = os.environ.get("CLUSTERDASH_REQUIRE_INTEGRATION") == "1"


def need(condition: bool, reason: str) -> None:
    """Skip with a one-line reason, or fail when integration tests are required (CI)."""
    if condition:
        return
    if REQUIRE_INTEGRATION:
        pytest.fail(f"integration prerequisite missing: {reason}", pytrace=False)
    pytest.skip(reason)


def need_binaries(*names: str) -> dict[str, str]:
    """Paths of the given executables (searching sbin too), or skip/fail naming the missing one."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin"])
    found: dict[str, str] = {}
    for name in names:
        path = shutil.which(name, path=search)
        need(path is not None, f"{name} not installed")
        found[name] = str(path)
    return found


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's config, state or data, or their CLUSTERDASH_* env."""
    for key in list(os.environ):
        if key.startswith("CLUSTERDASH_") and key != "CLUSTERDASH_REQUIRE_INTEGRATION":
            monkeypatch.delenv(key)
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_RUNTIME_DIR", "run"),
    ):
        monkeypatch.setenv(var, str(tmp_path / "xdg" / sub))
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.delenv("SLURM_CONF", raising=False)
