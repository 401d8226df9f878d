"""UI test helpers: an app on the deterministic fake cluster with a fixed clock."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.ui.fake_cluster import FIXED_NOW, fake_factory
from tui.app.app import ClusterDashApp
from tui.config import Settings


def make_app(
    tmp_path: Path,
    *,
    readonly: bool = False,
    nodes: int = 12,
    store: bool = True,
    live: bool = False,
    holder: dict[str, Any] | None = None,
    settings: Settings | None = None,
    alerts: bool = False,
    contain_errors: bool = False,
) -> ClusterDashApp:
    settings = replace(settings or Settings(), readonly=readonly)
    factory = fake_factory(
        nodes,
        store_path=tmp_path / "history.sqlite3" if store else None,
        holder=holder,
        alerts=alerts,
    )
    return ClusterDashApp(
        settings,
        "demo",
        services_factory=factory,
        clock=lambda: FIXED_NOW,
        monotonic=(lambda: 0.0) if not live else time.monotonic,
        live=live,
        state_path=tmp_path / "ui-state.json",
        contain_errors=contain_errors,
    )


async def wait_until(
    pilot: Any, condition: Callable[[], bool], what: str, seconds: float = 20.0
) -> None:
    """Wait on a condition the user would see, however slow the machine is."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not in {seconds:g} s: {what}")
        await pilot.pause(0.02)


async def palette_shows(pilot: Any, text: str) -> None:
    """The command palette has finished searching and highlights a hit containing `text`."""
    from textual.command import CommandList
    from textual.css.query import NoMatches

    def ready() -> bool:
        try:
            hits = pilot.app.screen.query_one(CommandList)
        except NoMatches:
            return False
        index = hits.highlighted
        return index is not None and text in str(hits.get_option_at_index(index).prompt)

    await wait_until(pilot, ready, f"the palette highlights {text!r}")
    await pilot.pause()


async def dialog_ready(pilot: Any) -> Any:
    """The confirmation dialog, once it accepts a confirm key (waits on that, not a sleep)."""
    from tui.app.screens.confirm import ConfirmActionScreen

    for _ in range(250):
        screen = pilot.app.screen
        if isinstance(screen, ConfirmActionScreen) and screen.accepts_confirm():
            return screen
        await pilot.pause(0.02)
    raise AssertionError(f"no confirmation dialog became ready: {pilot.app.screen!r}")


def notifications(app: ClusterDashApp) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.fixture
def holder() -> dict[str, Any]:
    return {}


def static_text(widget: Any, width: int = 160) -> str:
    """What a Static shows, as plain text (Rich renderables included)."""
    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    return console.export_text()
