"""Pilot tests: every binding and action flow on the main screen, against the fake cluster."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from tests.ui.conftest import dialog_ready, make_app, notifications, palette_shows, wait_until
from tui.actions import Action, ActionKind
from tui.app.persistence import load_ui_state
from tui.app.screens.confirm import ConfirmActionScreen
from tui.app.screens.help import HelpScreen
from tui.app.screens.jobs import JobsScreen
from tui.app.screens.main import MainScreen, NodesPane
from tui.app.screens.node_detail import NodeDetailScreen
from tui.app.screens.silences import SilenceDialog
from tui.app.widgets.gpu_list import GpuList
from tui.app.widgets.status_bar import StatusBar
from tui.model import NodeFlag

SIZE = (200, 50)
pytestmark = pytest.mark.timeout(60)


async def test_main_screen_shows_cluster_nodes_and_badges(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        nodes = app.screen.query_one(NodesPane)
        assert nodes.row_count == 12
        assert nodes.visible_nodes()[:2] == ["gpu-01", "gpu-02"]
        status = str(app.screen.query_one(StatusBar).render())
        assert "testcluster" in status and "DEMO" in status and "Slurm" in status
        assert "READONLY" not in status
        gpus = str(app.screen.query_one(GpuList).render())
        assert "GPU7" in gpus
        assert "gpu-01" in str(app.screen.query_one("#gpus-pane").border_title)


async def test_drain_asks_reason_shows_command_and_audits(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmActionScreen)
        await dialog_ready(pilot)
        # No reason yet: enter refuses and says why.
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmActionScreen)
        assert "reason is required" in str(app.screen.query_one("#confirm-error").render())
        await pilot.press(*"bad gpu")
        commands = str(app.screen.query_one("#confirm-commands").render())
        assert "scontrol update NodeName=gpu-01 State=DRAIN 'Reason=bad gpu'" in commands
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        services = holder["services"]
        assert [a.kind for a in services.workload.actions] == [ActionKind.DRAIN]
        assert services.workload.actions[0].targets == ("gpu-01",)
        assert any("drain node gpu-01" in m for m in notifications(app))
        audit = await services.store.list_audit()
        assert len(audit) == 1
        entry = audit[0]
        assert (entry.action, entry.origin, entry.ok, entry.reason) == (
            "drain",
            "keyboard",
            True,
            "bad gpu",
        )
        assert list(entry.targets) == ["gpu-01"]


async def test_cancelling_the_dialog_runs_nothing(tmp_path: Path, holder: dict[str, Any]) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("down", "r")
        assert isinstance(app.screen, ConfirmActionScreen)
        assert "State=RESUME" in str(app.screen.query_one("#confirm-commands").render())
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        assert isinstance(app.screen, MainScreen)
        assert holder["services"].workload.actions == []
        assert await holder["services"].store.list_audit() == []
        assert "cancelled" in notifications(app)


async def test_slurm_error_is_notified_and_audited(tmp_path: Path, holder: dict[str, Any]) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        slurm_error = "slurm_update error: Invalid node state specified"
        holder["services"].workload.fail_with = slurm_error
        await pilot.press("r")
        await dialog_ready(pilot)
        await pilot.click("#confirm")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert slurm_error in notifications(app)
        audit = await holder["services"].store.list_audit()
        assert [(a.action, a.ok, a.message) for a in audit] == [("resume", False, slurm_error)]


async def test_a_palette_action_takes_the_keys_path_to_the_runner(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("space", "space")  # gpu-01 and gpu-02 selected
        await pilot.press("colon", *"Action: resume selected")
        await palette_shows(pilot, "resume selected nodes")
        await pilot.press("enter")
        dialog = await dialog_ready(pilot)
        assert dialog.action_to_run == Action(ActionKind.RESUME, ("gpu-01", "gpu-02"))
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        services = holder["services"]
        assert services.workload.actions == [Action(ActionKind.RESUME, ("gpu-01", "gpu-02"))]
        assert any("resume nodes gpu-01, gpu-02" in m for m in notifications(app))
        audit = await services.store.list_audit()
        assert [(a.action, a.origin, a.targets) for a in audit] == [
            ("resume", "keyboard", ("gpu-01", "gpu-02"))
        ]
        assert app.screen.query_one(NodesPane).selected == set()


async def test_readonly_refuses_actions_visibly(tmp_path: Path, holder: dict[str, Any]) -> None:
    app = make_app(tmp_path, readonly=True, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "READONLY" in str(app.screen.query_one(StatusBar).render())
        await pilot.press("d")
        app.action_on_selection("drain")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert any("read-only mode" in m for m in notifications(app))
        assert holder["services"].workload.actions == []


async def test_space_selects_several_nodes_for_one_batch_action(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("space", "space", "down", "space")
        nodes = app.screen.query_one(NodesPane)
        assert nodes.selected == {"gpu-01", "gpu-02", "gpu-04"}
        await pilot.press("d")
        assert "gpu-01, gpu-02, gpu-04" in str(app.screen.query_one("#confirm-targets").render())
        await dialog_ready(pilot)
        await pilot.press(*"maint", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        action = holder["services"].workload.actions[0]
        assert action.targets == ("gpu-01", "gpu-02", "gpu-04")
        assert action.reason == "maint"
        assert nodes.selected == set()


async def test_filter_regex_and_inverted(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        nodes = app.screen.query_one(NodesPane)
        await pilot.press("slash", *"gpu-0[1-3]", "enter")
        assert nodes.visible_nodes() == ["gpu-01", "gpu-02", "gpu-03"]
        await pilot.press("slash")
        app.screen.query_one("#node-filter", Input).value = "!idle"
        await pilot.press("enter")
        assert "gpu-02" not in nodes.visible_nodes() and "gpu-01" in nodes.visible_nodes()
        await pilot.press("escape")
        assert nodes.row_count == 12


async def test_sort_group_and_metric_persist_between_runs(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        nodes = app.screen.query_one(NodesPane)
        await pilot.press("s")  # state
        assert nodes.sort_column == "state"
        await pilot.press("S")
        assert nodes.sort_reverse
        states = [nodes.rows_by_name[n].sort_values["state"] for n in nodes.visible_nodes()]
        assert states == sorted(states, reverse=True)
        await pilot.press("p")
        assert nodes.group_by_partition and nodes.row_count == 14  # two partition headers
        await pilot.press("m")
        assert "mem %" in str(app.screen.query_one("#gpus-pane").border_title)
        app.theme = "nord"
        await pilot.pause()
    saved = load_ui_state(tmp_path / "ui-state.json")
    assert (saved.sort_column, saved.sort_reverse, saved.group_by_partition) == (
        "state",
        True,
        True,
    )
    assert (saved.gpu_metric, saved.theme) == ("memory_pct", "nord")
    again = make_app(tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "nord"
        assert again.screen.query_one(NodesPane).group_by_partition


async def test_help_jobs_and_node_detail_screens_open_and_close(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "j")
        assert isinstance(app.screen, JobsScreen)
        await pilot.press("escape", "enter")
        assert isinstance(app.screen, NodeDetailScreen) and app.screen.node == "gpu-01"
        await app.workers.wait_for_complete()
        history_calls = holder["services"].history.calls
        assert {c[1] for c in history_calls if c[0] == "gpu-01" and c[4] == 120} == {
            "utilization_pct",
            "memory_pct",
            "temperature_c",
            "power_w",
        }
        await pilot.press("5")
        await app.workers.wait_for_complete()
        node, _, start, end, _ = holder["services"].history.calls[-1]
        assert node == "gpu-01" and end - start == 7 * 86400
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_narrow_terminal_stacks_and_switches_side_panes(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.has_class("-narrow")
        assert screen.pane_visible("gpus") and not screen.pane_visible("alerts")
        await pilot.press("3")
        assert screen.pane_visible("alerts") and not screen.pane_visible("gpus")
        assert app.focused is screen.query_one("#alerts")
        await pilot.press("4")
        assert app.focused is screen.query_one("#chat-input")


async def test_chat_slash_command_answers_without_a_model(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("4", *"/nodes", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        log = app.screen.query_one("#chat-log")
        text = log.plain_text()
        assert "gpu-01" in text
        assert "CLUSTERDASH_AGENT_BASE_URL" in text


async def test_sighup_exits_cleanly(tmp_path: Path, holder: dict[str, Any]) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        os.kill(os.getpid(), signal.SIGHUP)
        await pilot.pause(0.2)
    assert app.return_code == 0
    assert holder["services"].closed


async def test_live_collector_refreshes_the_screen(tmp_path: Path, holder: dict[str, Any]) -> None:
    app = make_app(tmp_path, holder=holder, live=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        nodes = app.screen.query_one(NodesPane)
        await wait_until(pilot, lambda: nodes.row_count == 12, "twelve node rows")
        workload = holder["services"].workload
        workload.nodes[0] = workload.nodes[0].__class__(
            **{
                **{f: getattr(workload.nodes[0], f) for f in workload.nodes[0].__slots__},
                "flags": frozenset({NodeFlag.DRAIN}),
                "reason": "live",
            }
        )
        await pilot.press("ctrl+r")
        await wait_until(
            pilot,
            lambda: nodes.rows_by_name["gpu-01"].sort_values["reason"] == "live",
            "the refreshed reason on gpu-01",
        )


async def test_alert_feed_shows_engine_alerts_and_acks_and_silences(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    app = make_app(tmp_path, holder=holder, alerts=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        feed = app.screen.query_one("#alerts")
        keys = [row.key for row in feed.alerts]
        assert "node_drained|gpu-05" in keys
        await pilot.press("3")
        feed.move_cursor(row=keys.index("node_drained|gpu-05"))
        await pilot.press("a")
        await app.workers.wait_for_complete()
        await pilot.pause()
        service = holder["services"].alerts
        acked = [a for a in service.active() if a.key == ("node_drained", "gpu-05")]
        assert acked and acked[0].ack_by
        await pilot.press("x")  # asks how long, as the palette and the detail do
        await pilot.pause()
        assert isinstance(app.screen, SilenceDialog)
        await pilot.click("#silence")
        await app.workers.wait_for_complete()
        await pilot.pause()
        row = next(r for r in feed.alerts if r.key == "node_drained|gpu-05")
        assert row.silenced
        assert any(m.startswith("silenced ") and "gpu-05" in m for m in notifications(app))
