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

from tests.ui.conftest import wait_until
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
        await wait_until(
            pilot,
            lambda: "via collect" in str(app.screen.query_one(StatusBar).render()),
            "the status bar names the collector",
        )
        assert "DEMO" in str(app.screen.query_one(StatusBar).render())


async def test_a_rule_switched_off_in_an_attached_dashboard_stops_the_collectors_alert(
    tmp_path: Path,
) -> None:
    import tomllib

    from tests.collect_process import Collect
    from tests.ui.test_alerts_rules import highlight, open_rules
    from tui.collect_client import request

    collector_rules = tmp_path / "collector-rules.toml"
    env = dict(
        os.environ,
        CLUSTERDASH_STORE_PATH=str(tmp_path / "h.sqlite3"),
        CLUSTERDASH_ALERTS_RULES_FILE=str(collector_rules),
        CLUSTERDASH_GPU_INTERVAL="1s",
        CLUSTERDASH_SLURM_INTERVAL="1s",
    )
    collect = Collect(env, "--demo", "--nodes", "6").start()

    async def collector_alerts() -> set[tuple[str, str]]:
        reply = await request(collect.socket, {"op": "alerts"})
        return {(a["rule"], a["target"]) for a in reply["active"]}

    try:
        # The dashboard keeps its own rules file: the collector's must follow the edit anyway.
        settings = load_settings(
            environ={
                "CLUSTERDASH_STORE_PATH": str(tmp_path / "h.sqlite3"),
                "CLUSTERDASH_ALERTS_RULES_FILE": str(tmp_path / "viewer-rules.toml"),
            }
        )
        app = ClusterDashApp(settings, "demo", state_path=tmp_path / "ui.json")
        async with app.run_test(size=(160, 40)) as pilot:
            deadline = time.monotonic() + 60
            while ("node_drained", "gpu-03") not in await collector_alerts():
                assert time.monotonic() < deadline, "the collector's drained-node alert"
                await pilot.pause(0.1)
            screen = await open_rules(app, pilot)
            highlight(screen, "node_drained")
            await pilot.press("space")
            deadline = time.monotonic() + 30
            while ("node_drained", "gpu-03") in await collector_alerts():
                assert time.monotonic() < deadline, "the collector's engine took the new rules"
                await pilot.pause(0.1)
            seen = app.snapshot.taken_at
            while app.snapshot.taken_at < seen + 2:  # more cycles: it must not fire again
                assert time.monotonic() < deadline, "the collector keeps collecting"
                await pilot.pause(0.1)
            assert ("node_drained", "gpu-03") not in await collector_alerts()
    finally:
        collect.stop()
    assert tomllib.loads(collector_rules.read_text())["builtin"] == {"node_drained": False}
