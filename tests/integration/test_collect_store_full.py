"""`clusterdash collect` whose database's filesystem fills mid-run, then frees up.

A size-limited tmpfs refuses writes for root too (a read-only chmod does not: root ignores
it, and an open database keeps its write access), so the disk really is full here.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collect_process import Collect, wait_until
from tests.conftest import need

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    need(os.geteuid() == 0, "mounting a small tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    need(mounted.returncode == 0, f"cannot mount tmpfs: {mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem is full."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError:
            pass
    return filler


def store_health(env: dict[str, str]) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "snapshot", "--demo", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)["sources"]["store"]


def sample_count(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT count(*) FROM gpu_samples").fetchone()[0])


def test_full_disk_is_reported_survived_and_buffered_samples_are_written_after(
    small_filesystem: Path, tmp_path: Path
) -> None:
    configured = small_filesystem / "history.sqlite3"
    database = small_filesystem / "history-demo.sqlite3"  # the simulated cluster's own file
    env = dict(
        os.environ,
        CLUSTERDASH_STORE_PATH=str(configured),
        CLUSTERDASH_GPU_INTERVAL="1s",
        CLUSTERDASH_SLURM_INTERVAL="1s",
        XDG_RUNTIME_DIR=str(tmp_path / "run"),
    )
    collect = Collect(env, "--demo", "--nodes", "4").start()
    try:
        wait_until(lambda: store_health(env)["ok"] is True, 60, "a healthy store")
        wait_until(lambda: sample_count(database) > 0, 60, "the first samples")
        filler = fill(small_filesystem)
        wait_until(lambda: store_health(env)["ok"] is False, 60, "the store reported failing")
        failing = store_health(env)
        assert failing["last_error"], failing
        before = sample_count(database)
        filler.unlink()
        wait_until(lambda: store_health(env)["ok"] is True, 60, "the store recovering")
        wait_until(lambda: sample_count(database) > before, 60, "the buffered samples")
        assert collect.process is not None and collect.process.poll() is None, "still running"
    finally:
        log = collect.stop()
    # Logged once per change of state, never a traceback per publish.
    assert log.count("Traceback") <= 1, log[-4000:]
    assert log.count("store") < 40, log[-4000:]
