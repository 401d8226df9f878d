"""Snapshot tests (pytest-textual-snapshot): fixed cluster, fixed clock, no live polling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.ui.conftest import make_app

pytestmark = pytest.mark.timeout(120)


async def settle(pilot: Pilot[Any]) -> None:
    """Until no worker runs (exclusive workers cancel each other, so no wait_for_complete)."""
    await pilot.pause()
    for _ in range(100):
        if not any(worker.is_running for worker in pilot.app.workers):
            break
        await pilot.pause(0.05)
    await pilot.pause()


def test_main_screen_80x24(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make_app(tmp_path, store=False), terminal_size=(80, 24), run_before=settle)


def test_main_screen_200x50(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make_app(tmp_path, store=False), terminal_size=(200, 50), run_before=settle)


def test_node_detail_screen(snap_compare: Any, tmp_path: Path) -> None:
    async def open_detail(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("down", "down", "down", "enter")
        await settle(pilot)

    assert snap_compare(
        make_app(tmp_path, store=False), terminal_size=(160, 48), run_before=open_detail
    )


def test_jobs_screen(snap_compare: Any, tmp_path: Path) -> None:
    async def open_jobs(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("j")
        await settle(pilot)

    assert snap_compare(
        make_app(tmp_path, store=False), terminal_size=(120, 30), run_before=open_jobs
    )
