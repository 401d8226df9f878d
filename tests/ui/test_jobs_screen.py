"""Pilot tests for the jobs screen: filters, detail, and every job action."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from tests.ui.conftest import dialog_ready, make_app, notifications, palette_shows, static_text
from tui.actions import Action, ActionKind
from tui.app.screens.confirm import ConfirmActionScreen
from tui.app.screens.jobs import JobDetailScreen, JobsScreen
from tui.model import JobState

SIZE = (160, 40)
pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("C", ActionKind.CANCEL),
        ("R", ActionKind.REQUEUE),
        ("H", ActionKind.HOLD),
        ("L", ActionKind.RELEASE),
    ],
)
async def test_job_actions_confirm_then_run(
    tmp_path: Path, holder: dict[str, Any], key: str, kind: ActionKind
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("j")
        assert isinstance(app.screen, JobsScreen)
        command = shlex.join(Action(kind, ("101",)).argv()[0])
        assert command.startswith(("scancel", "scontrol"))
        await pilot.press(key)
        assert isinstance(app.screen, ConfirmActionScreen)
        assert command in str(app.screen.query_one("#confirm-commands").render())
        await dialog_ready(pilot)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        actions = holder["services"].workload.actions
        assert [(a.kind, a.targets) for a in actions] == [(kind, ("101",))]
        audit = await holder["services"].store.list_audit()
        assert [(a.action, a.origin, a.ok) for a in audit] == [(kind.value, "keyboard", True)]


async def test_cancel_two_selected_jobs_and_see_them_cancelled(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("j", "space", "space", "C")
        assert "101, 102" in str(app.screen.query_one("#confirm-targets").render())
        await dialog_ready(pilot)
        await pilot.press("n")
        assert isinstance(app.screen, JobsScreen)
        assert holder["services"].workload.actions == []
        await pilot.press("C")
        await dialog_ready(pilot)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        jobs = {j.job_id: j.state for j in holder["services"].workload.jobs}
        assert jobs["101"] is JobState.CANCELLED and jobs["102"] is JobState.CANCELLED
        assert any("cancel jobs 101, 102" in m for m in notifications(app))


async def test_filter_by_user_state_and_detail_explains_pending_reason(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("j", "slash", *"PENDING", "enter")
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        assert screen.query_one("#jobs-table").row_count == 3
        await pilot.press("enter")
        assert isinstance(app.screen, JobDetailScreen)
        text = static_text(app.screen.query_one("Static"))
        assert "Resources" in text and "not enough free" in text
        await pilot.press("escape", "escape")  # detail, then the filter
        assert screen.query_one("#jobs-table").row_count == 9
        await pilot.press("slash", *"alice", "enter")
        assert (
            all(app.snapshot.job_by_id[j].user == "alice" for j in screen._order) and screen._order
        )


async def test_readonly_job_actions_are_refused(tmp_path: Path, holder: dict[str, Any]) -> None:
    app = make_app(tmp_path, readonly=True, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("j", "C")
        assert isinstance(app.screen, JobsScreen)
        assert any("read-only mode" in m for m in notifications(app))
        assert holder["services"].workload.actions == []


async def test_palette_jumps_to_a_node(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("colon")
        await pilot.press(*"gpu-07")
        await palette_shows(pilot, "gpu-07")
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "NodeDetailScreen"
        assert app.screen.node == "gpu-07"  # type: ignore[attr-defined]


async def test_pending_jobs_show_requested_gpus_and_waiting_time(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("j")
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        table = screen.query_one("#jobs-table", DataTable)
        pending = [j for j in app.snapshot.jobs if j.state is JobState.PENDING]
        queued = pending[1]  # asked for 16 GPUs, submitted 20 minutes ago
        row = [str(cell) for cell in table.get_row(queued.job_id)]
        assert "16 req" in row
        assert "wait 20:00 / 4:00:00" in row
        running = next(j for j in app.snapshot.jobs if j.state is JobState.RUNNING)
        row = [str(cell) for cell in table.get_row(running.job_id)]
        assert str(running.gpu_count) in row and not any(c.startswith("wait") for c in row)
        table.move_cursor(row=screen._order.index(queued.job_id))
        await pilot.press("enter")
        assert "16 requested" in static_text(app.screen.query_one("Static"))


def test_job_detail_shows_bracketed_names_and_reasons_as_written() -> None:
    import io

    from rich.console import Console

    from tui.app.screens.jobs import job_detail_table
    from tui.model import Job

    job = Job("7", name="train [bold]v2[/]", user="eve", state=JobState.RUNNING, reason="[x] y")
    console = Console(width=120, record=True, file=io.StringIO(), color_system=None)
    console.print(job_detail_table(job, now=0.0))
    text = console.export_text()
    assert "train [bold]v2[/]" in text and "[x] y" in text
