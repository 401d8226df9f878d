"""The dashboard attaches to a running `clusterdash collect` and says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.app.app import ClusterDashApp
from tui.app.widgets.status_bar import StatusBar
from tui.collect_client import RemoteCollector
from tui.config import load_settings


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    env = dict(os.environ, CLUSTERDASH_STORE_PATH=str(tmp_path / "h.sqlite3"))
    process = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "collect", "--demo", "--nodes", "6"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    sock = Path(os.environ["XDG_RUNTIME_DIR"]) / "clusterdash" / "collect.sock"
    deadline = time.monotonic() + 60
    while not sock.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sock.exists(), "collect serves its socket"
    yield process
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


async def test_dashboard_shows_the_collectors_data_via_collect(
    collector: subprocess.Popen[str], tmp_path: Path
) -> None:
    settings = load_settings(environ={"CLUSTERDASH_STORE_PATH": str(tmp_path / "h.sqlite3")})
    app = ClusterDashApp(settings, "demo", state_path=tmp_path / "ui.json")
    async with app.run_test(size=(160, 40)) as pilot:
        deadline = time.monotonic() + 30
        while len(app.snapshot.nodes) != 6 and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert app.services is not None
        assert isinstance(app.services.collector, RemoteCollector)
        assert len(app.snapshot.nodes) == 6
        await pilot.pause(0.3)
        status = str(app.screen.query_one(StatusBar).render())
        assert "via collect" in status and "DEMO" in status
