"""The dashboard on the simulated cluster with its real store and alert service.

The simulator drains gpu-03 from the start, so `node_drained` fires on the first snapshot.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tui.actions import Action, ActionKind
from tui.app.app import ClusterDashApp
from tui.config import Duration, Settings

SIZE = (200, 50)
DRAINED = ("node_drained", "gpu-03")


def sim_settings(
    tmp_path: Path,
    *,
    rules_file: Path | None = None,
    readonly: bool = False,
    bell: bool = False,
    keep_firing_s: float = 60.0,
) -> Settings:
    base = Settings()
    return replace(
        base,
        store=replace(base.store, path=str(tmp_path / "history.sqlite3")),
        alerts=replace(
            base.alerts,
            rules_file=str(rules_file) if rules_file else "",
            bell=bell,
            keep_firing=Duration(keep_firing_s),
        ),
        demo=replace(base.demo, nodes=16, seed=0),
        readonly=readonly,
    )


def sim_app(tmp_path: Path, **settings: Any) -> ClusterDashApp:
    """live=False: one collection at start; tests collect the next snapshot themselves."""
    return ClusterDashApp(
        sim_settings(tmp_path, **settings),
        "demo",
        live=False,
        state_path=tmp_path / "ui-state.json",
    )


def services(app: ClusterDashApp) -> Any:
    assert app.services is not None
    return app.services


async def next_snapshot(app: ClusterDashApp, pilot: Any) -> None:
    """One more collection cycle, applied to the screen (what the live collector does)."""
    await services(app).collector.collect_once()
    app.apply_latest()
    await pilot.pause()  # notifications are messages: let them arrive


async def drain(app: ClusterDashApp, node: str) -> None:
    await services(app).workload.run_action(Action(ActionKind.DRAIN, (node,), "test"))


def toasts(app: ClusterDashApp) -> list[tuple[str, str, str]]:
    """(title, message, severity) of every notification shown so far."""
    return [(n.title, n.message, n.severity) for n in app._notifications]


async def open_feed_alert(app: ClusterDashApp, pilot: Any, key: tuple[str, str]) -> None:
    """Focus the alert feed (3), highlight the alert's row and press enter."""
    await pilot.press("3")
    feed = app.screen.query_one("#alerts")
    keys = [row.key for row in feed.alerts]
    feed.move_cursor(row=keys.index("|".join(key)))
    await pilot.press("enter")
    await pilot.pause()
