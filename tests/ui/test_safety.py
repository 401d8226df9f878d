"""No cluster action without a confirmation the operator saw, with keys as a terminal sends them.

`pilot.press` waits for the app to go idle between keys; a pasted string or typed-ahead
input does not. These tests post the keys as one burst, then wait.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from tests.ui.conftest import dialog_ready, make_app, notifications
from tui.actions import ActionKind
from tui.app.app import ClusterDashApp
from tui.app.screens.confirm import ConfirmActionScreen
from tui.app.screens.jobs import JobsScreen
from tui.app.screens.main import MainScreen, NodesPane

SIZE = (200, 50)
pytestmark = pytest.mark.timeout(60)

KEY_NAMES = {"/": "slash", " ": "space", "!": "exclamation_mark", "-": "minus"}


def burst(app: ClusterDashApp, text: str) -> None:
    """Every character of `text` as a terminal delivers a paste: queued at once."""
    for char in text:
        app.post_message(events.Key(KEY_NAMES.get(char, char), char))


def send_keys(app: ClusterDashApp, *keys: str) -> None:
    for key in keys:
        app.post_message(events.Key(key, None))


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause(0.5)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("typed", ["/ready", "/idle", "/gpu-1", "/drain", "/dy"])
async def test_keys_typed_after_slash_go_to_the_filter(
    tmp_path: Path, holder: dict[str, Any], typed: str
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        nodes = app.screen.query_one(NodesPane)
        burst(app, typed)
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.screen.query_one("#node-filter", Input).value == typed[1:]
        assert nodes.row_filter.text == typed[1:]
        assert not nodes.group_by_partition
        assert holder["services"].workload.actions == []
        assert await holder["services"].store.list_audit() == []


async def test_jobs_filter_takes_every_typed_ahead_key(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("j")
        burst(app, "/CRHL alice")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        assert screen.query_one("#jobs-filter", Input).value == "CRHL alice"
        assert holder["services"].workload.actions == []


@pytest.mark.parametrize(
    ("opening", "confirm"),
    [("r", "y"), ("r", "enter"), ("d", "enter")],
)
async def test_a_confirm_key_sent_with_the_opening_key_is_ignored(
    tmp_path: Path, holder: dict[str, Any], opening: str, confirm: str
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        if opening == "d":
            burst(app, "d")
            burst(app, "x")  # a reason typed ahead, then enter: still not confirmed unseen
            send_keys(app, confirm)
        else:
            send_keys(app, opening, confirm)
        await settle(pilot)
        assert isinstance(app.screen, ConfirmActionScreen)
        assert holder["services"].workload.actions == []
        # Once the dialog has been on screen for a moment, the same key confirms.
        screen = await dialog_ready(pilot)
        if screen.needs_reason:
            await pilot.press(*"xid")
        await pilot.press(confirm)
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert len(holder["services"].workload.actions) == 1


JOB_KEYS = [("C", ActionKind.CANCEL), ("R", ActionKind.REQUEUE), ("H", ActionKind.HOLD)]


@pytest.mark.parametrize("confirm", ["enter", "y"])
@pytest.mark.parametrize(("key", "kind"), JOB_KEYS)
async def test_enter_and_y_confirm_every_job_dialog(
    tmp_path: Path, holder: dict[str, Any], key: str, kind: ActionKind, confirm: str
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("j", key)
        await dialog_ready(pilot)
        await pilot.press(confirm)
        await settle(pilot)
        assert [a.kind for a in holder["services"].workload.actions] == [kind]


@pytest.mark.parametrize("cancel", ["escape", "n"])
@pytest.mark.parametrize("key", ["r", "j C"])
async def test_escape_and_n_cancel_every_dialog(
    tmp_path: Path, holder: dict[str, Any], key: str, cancel: str
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press(*key.split())
        await dialog_ready(pilot)
        await pilot.press(cancel)
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmActionScreen)
        assert holder["services"].workload.actions == []
        assert "cancelled" in notifications(app)


async def test_drain_dialog_enter_confirms_once_a_reason_is_typed(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await dialog_ready(pilot)
        await pilot.press(*"xid 79", "enter")
        await settle(pilot)
        actions = holder["services"].workload.actions
        assert [(a.kind, a.reason) for a in actions] == [(ActionKind.DRAIN, "xid 79")]


@pytest.mark.parametrize("keys", [["d"], ["r"], ["j", "C"], ["j", "R"], ["j", "H"], ["j", "L"]])
async def test_readonly_every_action_key_says_it_is_disabled(
    tmp_path: Path, holder: dict[str, Any], keys: list[str]
) -> None:
    app = make_app(tmp_path, readonly=True, holder=holder)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmActionScreen)
        assert any(m.startswith("read-only mode:") for m in notifications(app))
        assert holder["services"].workload.actions == []
