"""Alert detail, acknowledge, silence, lift and notifications against the simulated cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input, RadioButton

from tests.ui.alerts_sim import (
    DRAINED,
    SIZE,
    drain,
    next_snapshot,
    open_feed_alert,
    services,
    sim_app,
    toasts,
)
from tests.ui.conftest import static_text
from tui.actions import Action, ActionKind, current_user
from tui.app.screens.alert_detail import AlertDetailScreen
from tui.app.screens.silences import SilenceDialog, SilencesScreen

pytestmark = pytest.mark.timeout(60)


async def test_drained_node_fires_notifies_and_opens_in_detail(tmp_path: Path) -> None:
    app = sim_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert (
            "WARNING node_drained firing",
            "gpu-03 is drained: bad DIMM, ticket OPS-1234",
            "warning",
        ) in toasts(app)
        feed = app.screen.query_one("#alerts")
        assert "node_drained|gpu-03" in [row.key for row in feed.alerts]
        await open_feed_alert(app, pilot, DRAINED)
        assert isinstance(app.screen, AlertDetailScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = static_text(app.screen.query_one("#alert-table"))
        for expected in (
            "node_drained",
            "warning",
            "firing",
            "gpu-03",
            "bad DIMM",
            "resume it when",
            "node=gpu-03",
            "Acknowledged  no",
            "Silenced      no",
        ):
            assert expected in text, expected
        history = app.screen.query_one("#alert-history")
        assert history.row_count == 1
        assert "firing" in str(history.get_row_at(0)[1])
        await pilot.press("escape")
        assert not isinstance(app.screen, AlertDetailScreen)


async def test_acknowledge_records_who_and_survives_a_restart(tmp_path: Path) -> None:
    app = sim_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await open_feed_alert(app, pilot, DRAINED)
        await pilot.press("a")
        await app.workers.wait_for_complete()
        await pilot.pause()
        alert = app.alerts_ui.find(DRAINED)
        assert alert is not None and alert.ack_by == current_user()
        assert f"by {current_user()}" in static_text(app.screen.query_one("#alert-table"))
        await pilot.press("escape")
        await pilot.pause()
        row = next(
            r for r in app.screen.query_one("#alerts").alerts if r.key == "node_drained|gpu-03"
        )
        assert row.acked
    # Same store, new process: the acknowledgement is still there.
    again = sim_app(tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await open_feed_alert(again, pilot, DRAINED)
        assert f"by {current_user()}" in static_text(again.screen.query_one("#alert-table"))
        assert not any("node_drained firing" in title for title, _, _ in toasts(again))


async def test_feed_keys_go_through_the_same_acknowledge_and_silence_dialog(
    tmp_path: Path,
) -> None:
    """The feed's a and x take the path the palette and the detail take: x asks how long."""
    app = sim_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("3")
        feed = app.screen.query_one("#alerts")
        feed.move_cursor(row=[r.key for r in feed.alerts].index("node_drained|gpu-03"))
        await pilot.press("a")
        await app.workers.wait_for_complete()
        await pilot.pause()
        alert = app.alerts_ui.find(DRAINED)
        assert alert is not None and alert.ack_by == current_user()
        await pilot.press("x")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, SilenceDialog)
        await pilot.click("#silence-4h")
        await pilot.click("#silence")
        await app.workers.wait_for_complete()
        await pilot.pause()
        (silence,) = services(app).alerts.silences()
        assert (silence.rule, silence.target) == ("node_drained", "gpu-03")
        assert silence.ends_at - silence.created_at == pytest.approx(4 * 3600)


async def test_silence_by_rule_mutes_new_alerts_until_lifted(tmp_path: Path) -> None:
    app = sim_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await open_feed_alert(app, pilot, DRAINED)
        await pilot.press("s")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, SilenceDialog)
        dialog.query_one("#silence-by-target", Checkbox).value = False
        await pilot.click("#silence-4h")
        assert dialog.query_one("#silence-4h", RadioButton).value
        dialog.query_one("#silence-comment", Input).focus()
        await pilot.press(*"OPS-1234")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, AlertDetailScreen)
        (silence,) = services(app).alerts.silences()
        assert (silence.rule, silence.target, silence.comment) == ("node_drained", None, "OPS-1234")
        assert silence.ends_at - silence.created_at == pytest.approx(4 * 3600)
        assert "rule node_drained by" in static_text(app.screen.query_one("#alert-table"))

        # A newly drained node: the rule is silenced, so no toast.
        before = len(toasts(app))
        await drain(app, "gpu-04")
        await next_snapshot(app, pilot)
        assert app.alerts_ui.find(("node_drained", "gpu-04")) is not None
        assert not [t for t in toasts(app)[before:] if "gpu-04" in t[1]]

        await pilot.press("escape")
        app.alerts_ui.open_silences()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SilencesScreen)
        table = screen.query_one("#silences")
        assert table.row_count == 1
        row = [str(cell) for cell in table.get_row_at(0)]
        assert row[1] == "rule node_drained" and row[2] == current_user() and row[5] == "OPS-1234"
        await pilot.press("l")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert services(app).alerts.silences() == []
        assert table.row_count == 0

        # Lifted: the next drained node is announced again.
        await drain(app, "gpu-05")
        await next_snapshot(app, pilot)
        assert any(t[1].startswith("gpu-05 is drain") for t in toasts(app))


async def test_silence_dialog_refuses_bad_duration_and_nothing_to_silence(tmp_path: Path) -> None:
    app = sim_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await open_feed_alert(app, pilot, DRAINED)
        await pilot.press("s")
        await pilot.pause()
        dialog = app.screen
        dialog.query_one("#silence-custom", Input).value = "soon"
        await pilot.click("#silence")
        await pilot.pause()
        assert app.screen is dialog
        assert "duration" in static_text(dialog.query_one("#silence-error"))
        dialog.query_one("#silence-custom", Input).value = "90m"
        dialog.query_one("#silence-by-rule", Checkbox).value = False
        dialog.query_one("#silence-by-target", Checkbox).value = False
        dialog.query_one("#silence-comment", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "rule, by target or both" in static_text(dialog.query_one("#silence-error"))
        dialog.query_one("#silence-by-target", Checkbox).value = True
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        (silence,) = services(app).alerts.silences()
        assert (silence.rule, silence.target) == (None, "gpu-03")
        assert silence.ends_at - silence.created_at == pytest.approx(90 * 60)


async def test_readonly_blocks_ack_silence_and_lift(tmp_path: Path) -> None:
    app = sim_app(tmp_path, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("3")
        feed = app.screen.query_one("#alerts")
        feed.move_cursor(row=[r.key for r in feed.alerts].index("node_drained|gpu-03"))
        app.clear_notifications()  # the alerts that fired at start (toasts show the newest few)
        await pilot.press("a", "x")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.alerts_ui.find(DRAINED).ack_by is None
        assert services(app).alerts.silences() == []
        messages = [m for _, m, _ in toasts(app)]
        assert "read-only mode: alert acknowledgement is disabled" in messages
        assert "read-only mode: alert silencing is disabled" in messages
        # The detail still opens (reading is fine); its ack/silence keys say they are disabled.
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AlertDetailScreen)
        app.clear_notifications()
        await pilot.press("a", "s")
        await pilot.pause()
        assert [m for _, m, _ in toasts(app)] == [
            "read-only mode: alert acknowledgement is disabled",
            "read-only mode: alert silencing is disabled",
        ]
        assert isinstance(app.screen, AlertDetailScreen)
        assert app.alerts_ui.find(DRAINED).ack_by is None
        app.alerts_ui.silence_selected()
        await pilot.pause()
        assert not isinstance(app.screen, SilenceDialog)


async def test_resolution_is_announced_and_firing_rings_the_bell(tmp_path: Path) -> None:
    app = sim_app(tmp_path, bell=True, keep_firing_s=0.0)
    rings: list[str] = []
    app.bell = lambda: rings.append("bell")  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert rings == ["bell"]  # node_drained fired on the first snapshot
        await services(app).workload.run_action(Action(ActionKind.RESUME, ("gpu-03",)))
        await next_snapshot(app, pilot)
        assert app.alerts_ui.find(DRAINED) is None
        assert ("node_drained resolved", "information") in [(t, s) for t, _, s in toasts(app)]
        assert rings == ["bell"]  # resolutions do not ring


async def test_chat_alerts_command_reads_the_alert_engine(tmp_path: Path) -> None:
    app = sim_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("4", *"/alerts", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = app.screen.query_one("#chat-log").plain_text()
        assert "node_drained" in text and "gpu-03" in text
        assert "not configured" not in text
