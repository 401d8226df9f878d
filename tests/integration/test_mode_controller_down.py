"""A real Slurm whose controller is stopped is shown as the real cluster, failing.

Never the simulated cluster: `snapshot --json` says `"demo": false` with Slurm failing, and
`collect` writes no simulated row into the real history database.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need, need_binaries
from tests.integration.conftest import SLURM_BINARIES
from tests.integration.slurm_cluster import SlurmCluster


@pytest.fixture(scope="module")
def controller_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A private cluster's munged and slurmctld, started, then the controller stopped."""
    binaries = need_binaries(*SLURM_BINARIES)
    need(os.geteuid() == 0, "a private Slurm cluster needs root")
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm-down"), binaries, node_count=2)
    try:
        cluster._write_files()
        cluster._start_munged()
        cluster._start_daemon(
            "slurmctld",
            [binaries["slurmctld"], "-D", "-i", "-f", str(cluster.conf_path)],
        )
        cluster.wait_for(cluster._controller_answers, 30, what="slurmctld to answer")
        cluster._terminate(cluster._processes["slurmctld"])
        assert not cluster._controller_answers()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def runtime_dir() -> Iterator[str]:
    """A runtime folder of its own: never attach to, or collide with, a collector already
    running on this machine (a short path: a Unix socket's name has about 100 bytes)."""
    with tempfile.TemporaryDirectory(prefix="cd-run-") as folder:
        yield folder


def _env(cluster: SlurmCluster, store: Path, runtime: str) -> dict[str, str]:
    return dict(
        cluster.env,
        XDG_RUNTIME_DIR=runtime,
        CLUSTERDASH_STORE_PATH=str(store),
        CLUSTERDASH_SLURM_TIMEOUT="3s",
        CLUSTERDASH_SLURM_INTERVAL="1s",
        CLUSTERDASH_GPU_INTERVAL="1s",
    )


def test_snapshot_shows_the_real_cluster_with_slurm_failing(
    controller_down: SlurmCluster, tmp_path: Path, runtime_dir: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "snapshot", "--json"],
        env=_env(controller_down, tmp_path / "h.sqlite3", runtime_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    data = json.loads(result.stdout)
    assert data["demo"] is False
    assert data["nodes"] == [] and data["gpus"] == []
    slurm = data["sources"]["slurm"]
    assert slurm["ok"] is False and slurm["last_error"]
    assert "simulated" not in result.stderr
    assert "Traceback" not in result.stderr


def test_collect_writes_no_simulated_rows(
    controller_down: SlurmCluster, tmp_path: Path, runtime_dir: str
) -> None:
    store = tmp_path / "h.sqlite3"
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "collect"],
        env=_env(controller_down, store, runtime_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    failed = threading.Event()

    def read_log() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            seen.append(line)
            if "source slurm failed" in line:
                failed.set()

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    try:
        assert failed.wait(timeout=60), "".join(seen)
    finally:
        process.terminate()
        process.wait(timeout=20)
        reader.join(timeout=10)
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        assert db.execute("SELECT count(*) FROM gpu_samples").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM nodes").fetchone()[0] == 0
        (cluster,) = db.execute("SELECT value FROM store_meta WHERE key = 'cluster'").fetchone()
    assert cluster == controller_down.cluster_name
    assert not any("demo mode" in line or "simulated" in line for line in seen)
