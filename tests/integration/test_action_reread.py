"""An action's result shows at once: the dashboard re-reads the node or job from a real Slurm
right after it, even while a GPU exporter hangs and the next regular poll is an hour away."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.collect_process import Collect
from tests.integration.slurm_cluster import SlurmCluster
from tests.ui.conftest import dialog_ready
from tui.alerts.builtin import BUILTIN_RULES
from tui.alerts.engine import AlertEngine, AlertState, Transition
from tui.app.app import ClusterDashApp
from tui.app.screens.jobs import JobsScreen
from tui.app.screens.main import NodesPane
from tui.collect_client import RemoteCollector
from tui.collector import Collector, CollectorOptions
from tui.config import Settings, load_settings
from tui.mode import Mode
from tui.sources.exporters import ExporterGpuSource
from tui.sources.slurm import SlurmSource

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

HOUR_S = 3600.0


@dataclass
class Services:
    settings: Settings
    collector: Collector
    workload: SlurmSource
    store: Any = None
    history: Any = None
    alerts: Any = None
    cluster_name: str = "itest"
    demo: bool = False

    async def run_background(self) -> None:
        await self.collector.run()

    async def aclose(self) -> None:
        await self.collector.aclose()


@contextmanager
def hanging_exporter() -> Iterator[str]:
    """An exporter on 127.0.0.1 that takes the connection and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/metrics"


def live_app(
    slurm: SlurmCluster,
    tmp_path: Path,
    holder: dict[str, Services],
    *,
    exporter: str | None,
    slurm_interval_s: float,
) -> ClusterDashApp:
    async def factory(settings: Settings, mode: str) -> Services:
        gpu = None
        if exporter is not None:
            targets = [(name, exporter) for name in ("gpu-01", "gpu-02", "gpu-03", "gpu-04")]
            gpu = ExporterGpuSource(targets, timeout_s=HOUR_S)
        options = CollectorOptions(
            cluster_name="itest",
            slurm_interval_s=slurm_interval_s,
            gpu_interval_s=HOUR_S,
            gpu_timeout_s=HOUR_S,
        )
        collector = Collector(workload=SlurmSource(env=slurm.env), gpu=gpu, options=options)
        services = Services(settings, collector, SlurmSource(env=slurm.env))
        holder["services"] = services
        return services

    return ClusterDashApp(
        Settings(), "slurm", services_factory=factory, live=True, state_path=tmp_path / "ui.json"
    )


async def until(pilot: Any, condition: Callable[[], bool], what: str, limit: int = 1200) -> None:
    """Wait on a condition (the limit only turns a hang into a failure that names it)."""
    for _ in range(limit):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never happened: {what}")


def node_state(services: Services, node: str) -> str:
    found = services.collector.latest.node_by_name.get(node)
    return found.display_state if found is not None else "?"


def action_done(app: ClusterDashApp) -> bool:
    return not any(w.is_running for w in app.workers if w.group == "actions")


def job_state(services: Services, job_id: str) -> str:
    found = services.collector.latest.job_by_id.get(job_id)
    return found.state.value if found is not None else "gone"


def table_state(app: ClusterDashApp, node: str) -> str:
    return str(app.screen.query_one(NodesPane).rows_by_name[node].cells[1])


async def test_drain_and_resume_show_at_once_while_an_exporter_hangs(
    slurm: SlurmCluster, tmp_path: Path
) -> None:
    holder: dict[str, Services] = {}
    with hanging_exporter() as exporter:
        app = live_app(slurm, tmp_path, holder, exporter=exporter, slurm_interval_s=HOUR_S)
        async with app.run_test(size=(160, 40)) as pilot:
            await until(pilot, lambda: "gpu-03" in app.snapshot.node_by_name, "first poll")
            services = holder["services"]
            slurm_poller, gpu_poller = services.collector.pollers()
            first_poll = slurm_poller.health.last_attempt
            assert app.screen.query_one(NodesPane).select_node("gpu-03")
            await pilot.press("d")
            await dialog_ready(pilot)
            await pilot.press(*"fan failure", "enter")
            await until(pilot, lambda: node_state(services, "gpu-03") == "drained", "drained")
            await until(pilot, lambda: table_state(app, "gpu-03") == "drained", "table shows it")
            assert services.collector.latest.node_by_name["gpu-03"].reason == "fan failure"
            # It came from the re-read: no regular Slurm poll since the first, no GPU answer.
            assert slurm_poller.health.last_attempt == first_poll
            assert gpu_poller.health.last_success is None
            await pilot.press("r")
            await dialog_ready(pilot)
            await pilot.press("y")
            await until(pilot, lambda: node_state(services, "gpu-03") == "idle", "idle again")
            await until(pilot, lambda: table_state(app, "gpu-03") == "idle", "table shows idle")
            assert slurm_poller.health.last_attempt == first_poll
            await until(pilot, lambda: action_done(app), "the action finished")


async def test_a_cancelled_job_stops_running_at_once_while_an_exporter_hangs(
    slurm: SlurmCluster, tmp_path: Path
) -> None:
    job = slurm.submit("-J", "reread-cancel", "--gres=gpu:1", "--wrap", "sleep 300")
    slurm.wait_for(lambda: slurm.job_state(job) == "RUNNING", 30)
    holder: dict[str, Services] = {}
    with hanging_exporter() as exporter:
        app = live_app(slurm, tmp_path, holder, exporter=exporter, slurm_interval_s=HOUR_S)
        async with app.run_test(size=(160, 40)) as pilot:
            await until(pilot, lambda: job in app.snapshot.job_by_id, "the job listed")
            services = holder["services"]
            first_poll = services.collector.pollers()[0].health.last_attempt
            await pilot.press("j")
            screen = app.screen
            assert isinstance(screen, JobsScreen)
            await until(pilot, lambda: job in screen._order, "the job in the table")
            screen.query_one("#jobs-table").move_cursor(row=screen._order.index(job))
            await pilot.press("C")
            await dialog_ready(pilot)
            await pilot.press("y")
            # Gone, or at least no longer running (Slurm may still be killing it).
            await until(pilot, lambda: job_state(services, job) in ("gone", "COMPLETING"), "ended")
            assert services.collector.pollers()[0].health.last_attempt == first_poll
            await until(pilot, lambda: action_done(app), "the action finished")


async def test_resuming_a_down_node_raises_no_node_down_alert(
    slurm: SlurmCluster, tmp_path: Path
) -> None:
    holder: dict[str, Services] = {}
    app = live_app(slurm, tmp_path, holder, exporter=None, slurm_interval_s=0.2)
    engine = AlertEngine(BUILTIN_RULES)
    transitions: list[Transition] = []
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: "gpu-02" in app.snapshot.node_by_name, "first poll")
        services = holder["services"]
        services.collector.subscribe(lambda snapshot: transitions.extend(engine.evaluate(snapshot)))
        slurm.run(["scontrol", "update", "NodeName=gpu-02", "State=DOWN", "Reason=pod restart"])
        await until(pilot, lambda: node_state(services, "gpu-02") == "down", "down")
        # The rule does hold for the node (pending), it only must not fire for a blip.
        assert any(t.alert.rule == "node_down" for t in transitions)
        assert app.screen.query_one(NodesPane).select_node("gpu-02")
        await pilot.press("r")
        await dialog_ready(pilot)
        await pilot.press("y")
        await until(pilot, lambda: node_state(services, "gpu-02") == "idle", "idle again")
        await until(
            pilot,
            lambda: not any(a.rule == "node_down" for a in engine.active),
            "the pending alert dropped",
        )
        await until(pilot, lambda: action_done(app), "the action finished")
    fired = [t.alert for t in transitions if t.alert.state is AlertState.FIRING]
    assert fired == []


@pytest.mark.parametrize("mode", ["text", "json"])
async def test_named_nodes_and_jobs_read_from_real_slurm(slurm: SlurmCluster, mode: str) -> None:
    source = SlurmSource(env=slurm.env, mode=mode)
    job = slurm.submit("-J", "named", "--gres=gpu:2", "--wrap", "sleep 300")
    slurm.wait_for(lambda: slurm.job_state(job) == "RUNNING", 30)
    slurm.run(["scontrol", "update", "NodeName=gpu-04", "State=DRAIN", "Reason=psu"])
    nodes = await source.read_nodes(["gpu-04"])
    assert [(n.name, n.display_state, n.reason) for n in nodes] == [("gpu-04", "drained", "psu")]
    (running,) = await source.read_jobs([job])
    assert running.state.value == "RUNNING" and running.gpu_count == 2
    slurm.run(["scancel", job])
    slurm.wait_for(lambda: slurm.job_state(job) == "", 30, what="the job gone from squeue")
    assert await source.read_jobs([job]) == ()


async def test_a_viewers_action_shows_at_once_through_the_collector(
    slurm: SlurmCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard attached to `clusterdash collect`: its drain runs here, the collector
    re-reads the node (its GPU exporter hanging, its next poll an hour away) and streams it."""
    with hanging_exporter() as exporter:
        env = dict(
            slurm.env,
            XDG_RUNTIME_DIR=str(tmp_path / "run"),
            CLUSTERDASH_STORE_PATH=str(tmp_path / "history.sqlite3"),
            CLUSTERDASH_SLURM_INTERVAL="1h",
            CLUSTERDASH_GPU_INTERVAL="1h",
            CLUSTERDASH_GPU_TIMEOUT="1h",
            CLUSTERDASH_GPU_URL_TEMPLATE=exporter + "?node={node}",
        )
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        collect = Collect(env).start()
        try:
            settings = load_settings(environ=env)
            app = ClusterDashApp(settings, Mode.REAL, state_path=tmp_path / "ui.json")
            async with app.run_test(size=(160, 40)) as pilot:
                await until(pilot, lambda: "gpu-02" in app.snapshot.node_by_name, "first data")
                assert isinstance(app.services.collector, RemoteCollector), "attached"
                first_poll = app.snapshot.health["slurm"].last_attempt
                assert app.screen.query_one(NodesPane).select_node("gpu-02")
                await pilot.press("d")
                await dialog_ready(pilot)
                await pilot.press(*"bad dimm", "enter")
                await until(pilot, lambda: viewer_state(app, "gpu-02") == "drained", "drained")
                assert app.snapshot.node_by_name["gpu-02"].reason == "bad dimm"
                assert app.snapshot.health["slurm"].last_attempt == first_poll
                await until(pilot, lambda: action_done(app), "the action finished")
        finally:
            collect.stop()


def viewer_state(app: ClusterDashApp, node: str) -> str:
    found = app.snapshot.node_by_name.get(node)
    return found.display_state if found is not None else "?"
