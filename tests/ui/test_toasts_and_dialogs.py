"""Toasts never cover a dialog's buttons: they wait while a dialog is on top, then show."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button
from textual.widgets._toast import Toast

from tests.ui.conftest import dialog_ready, make_app, notifications, wait_until
from tui.app.screens.confirm import ConfirmActionScreen

pytestmark = pytest.mark.timeout(60)


async def test_confirmation_buttons_stay_visible_with_four_toasts_at_80x24(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        for number in range(2):
            app.notify(f"earlier toast {number}\nwith a second line", timeout=60)
        await pilot.press("d")
        screen = await dialog_ready(pilot)
        assert isinstance(screen, ConfirmActionScreen)
        for number in range(4):
            app.notify(f"toast during the dialog {number}\nwith a second line", timeout=60)
        await pilot.pause()
        for button in screen.query(Button):
            region = button.region
            assert region.area > 0
            on_top = {
                screen.get_widget_at(x, y)[0]
                for x in range(region.x, region.right)
                for y in range(region.y, region.bottom)
            }
            assert on_top == {button}, (button.id, on_top)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmActionScreen)
        shown = notifications(app)
        # Nothing was lost: the latest toasts (at most four) show once the dialog is gone.
        assert [m for m in shown if "during the dialog" in m][-3:] == [
            f"toast during the dialog {n}\nwith a second line" for n in (1, 2, 3)
        ]
        await wait_until(
            pilot,
            lambda: any(isinstance(app.screen.get_widget_at(70, y)[0], Toast) for y in range(24)),
            "the held toasts on screen",
        )
