"""The command palette's alert entries: rules, silences, ack and silence of the selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.alerts_sim import DRAINED, SIZE, sim_app
from tests.ui.conftest import palette_shows
from tui.actions import current_user
from tui.app.screens.silences import SilenceDialog

pytestmark = pytest.mark.timeout(60)


async def test_palette_acknowledges_and_silences_the_highlighted_alert(tmp_path: Path) -> None:
    app = sim_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("3")
        feed = app.screen.query_one("#alerts")
        feed.move_cursor(row=[r.key for r in feed.alerts].index("node_drained|gpu-03"))
        await pilot.press("colon")
        await pilot.press(*"acknowledge selected")
        await palette_shows(pilot, "cknowledge")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.alerts_ui.find(DRAINED).ack_by == current_user()
        await pilot.press("colon")
        await pilot.press(*"silence selected")
        await palette_shows(pilot, "ilence")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SilenceDialog)


@pytest.mark.parametrize(
    ("query", "screen_type"),
    [("alerts: rules", "AlertRulesScreen"), ("alerts: silences", "SilencesScreen")],
)
async def test_palette_opens_rules_and_silences(
    tmp_path: Path, query: str, screen_type: str
) -> None:
    app = sim_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("colon")
        await pilot.press(*query)
        await palette_shows(pilot, query.split(": ")[1])
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == screen_type
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "MainScreen"
