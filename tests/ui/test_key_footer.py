"""The footer of keys: rebuilt once per burst of binding changes, and always current."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets._footer import FooterKey

from tests.ui.conftest import make_app
from tui.app.screens.main import MainScreen
from tui.app.screens.users import UsersScreen
from tui.app.widgets.key_footer import KeyFooter

SIZE = (160, 40)


def footer_labels(screen: object) -> set[str]:
    footer = screen.query_one(KeyFooter)  # type: ignore[attr-defined]
    return {key.description for key in footer.query(FooterKey)}


@pytest.fixture
def rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[KeyFooter]:
    seen: list[KeyFooter] = []
    recompose = KeyFooter.recompose

    async def counted(self: KeyFooter) -> None:
        seen.append(self)
        await recompose(self)

    monkeypatch.setattr(KeyFooter, "recompose", counted)
    return seen


async def test_a_screen_opening_rebuilds_its_footer_once_per_burst_not_per_change(
    tmp_path: Path, rebuilds: list[KeyFooter]
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        main = app.screen
        assert isinstance(main, MainScreen)
        assert "Users" in footer_labels(main)
        # Mounting, then the first focus: two bursts (Textual's Footer rebuilt three times).
        assert rebuilds.count(main.query_one(KeyFooter)) <= 2

        await pilot.press("u")
        await pilot.pause()
        users = app.screen
        assert isinstance(users, UsersScreen)
        assert rebuilds.count(users.query_one(KeyFooter)) <= 2
        assert "Their jobs" in footer_labels(users)
