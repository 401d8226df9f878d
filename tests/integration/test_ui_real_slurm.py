"""The app's drain, resume and cancel flows against a real Slurm cluster (fixture `slurm`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.integration.slurm_cluster import SlurmCluster
from tests.ui.conftest import dialog_ready, notifications
from tui.app.app import ClusterDashApp
from tui.app.screens.confirm import ConfirmActionScreen
from tui.app.screens.jobs import JobsScreen
from tui.app.screens.main import NodesPane
from tui.collector import Collector, CollectorOptions
from tui.config import Settings
from tui.sources.slurm import SlurmSource
from tui.store import Store

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@dataclass
class SlurmServices:
    settings: Settings
    collector: Collector
    workload: SlurmSource
    store: Store
    history: Any = None
    cluster_name: str = "itest"
    demo: bool = False

    async def run_background(self) -> None:
        await self.collector.run()

    async def aclose(self) -> None:
        await self.store.close()


def real_app(slurm: SlurmCluster, tmp_path: Path, holder: dict[str, Any]) -> ClusterDashApp:
    async def factory(settings: Settings, mode: str) -> SlurmServices:
        source = SlurmSource(env=slurm.env)
        collector = Collector(
            workload=source, gpu=None, options=CollectorOptions(cluster_name="itest")
        )
        store = await Store.open(tmp_path / "history.sqlite3")
        holder["services"] = SlurmServices(settings, collector, source, store)
        return holder["services"]

    return ClusterDashApp(
        replace(Settings()),
        "slurm",
        services_factory=factory,
        live=False,
        state_path=tmp_path / "ui.json",
    )


async def settle(app: ClusterDashApp, pilot: Any) -> None:
    await pilot.pause()
    for _ in range(200):
        if not any(w.is_running for w in app.workers):
            break
        await pilot.pause(0.05)
    await pilot.pause()


async def test_drain_then_resume_from_the_keyboard(slurm: SlurmCluster, tmp_path: Path) -> None:
    holder: dict[str, Any] = {}
    app = real_app(slurm, tmp_path, holder)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        assert app.screen.query_one(NodesPane).select_node("gpu-03")
        await pilot.press("d")
        await dialog_ready(pilot)
        await pilot.press(*"fan failure", "enter")
        await settle(app, pilot)
        assert slurm.node_states()["gpu-03"] == "drained"
        assert slurm.node_reason("gpu-03") == "fan failure"
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert str(app.screen.query_one(NodesPane).rows_by_name["gpu-03"].cells[1]) == "drained"
        await pilot.press("r")
        assert isinstance(app.screen, ConfirmActionScreen)
        await dialog_ready(pilot)
        await pilot.press("y")
        await settle(app, pilot)
        assert slurm.node_states()["gpu-03"] == "idle"
        audit = await holder["services"].store.list_audit()
        assert sorted((a.action, a.ok) for a in audit) == [("drain", True), ("resume", True)]


async def test_slurm_refusal_is_shown_verbatim(slurm: SlurmCluster, tmp_path: Path) -> None:
    holder: dict[str, Any] = {}
    app = real_app(slurm, tmp_path, holder)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        assert app.screen.query_one(NodesPane).select_node("gpu-01")
        await pilot.press("r")  # resuming a node that is not drained: Slurm says no
        await dialog_ready(pilot)
        await pilot.press("y")
        await settle(app, pilot)
        audit = await holder["services"].store.list_audit()
        assert [(a.action, a.ok) for a in audit] == [("resume", False)]
        assert audit[0].message and audit[0].message in notifications(app)


async def test_cancel_a_running_job(slurm: SlurmCluster, tmp_path: Path) -> None:
    job = slurm.submit("-J", "ui-cancel", "--gres=gpu:1", "--wrap", "sleep 300")
    slurm.wait_for(lambda: slurm.job_state(job) == "RUNNING", 30)
    holder: dict[str, Any] = {}
    app = real_app(slurm, tmp_path, holder)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("j")
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        assert job in screen._order
        screen.query_one("#jobs-table").move_cursor(row=screen._order.index(job))
        await pilot.press("C")
        await dialog_ready(pilot)
        await pilot.press("y")
        await settle(app, pilot)
        slurm.wait_for(lambda: slurm.job_state(job) in ("CANCELLED", ""), 30)
        audit = await holder["services"].store.list_audit()
        assert [(a.action, list(a.targets), a.ok) for a in audit] == [("cancel", [job], True)]
