"""The users view: who holds the GPUs now, what it costs, and a way to their jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.widgets import DataTable

from tests.ui.conftest import make_app
from tests.ui.test_jobs_columns import array_jobs, show_jobs
from tui.app.screens.jobs import JobsScreen
from tui.app.screens.users import UsersScreen
from tui.model import JobState

SIZE = (160, 40)
PRICE = 1.89
pytestmark = pytest.mark.timeout(90)


def cells(screen: UsersScreen, user: str, account: str) -> dict[str, str]:
    table = screen.query_one("#users-table", DataTable)
    row = [str(cell) for cell in table.get_row(f"{user}\t{account}")]
    return dict(zip([str(c.key.value) for c in table.ordered_columns], row, strict=True))


async def test_users_hold_gpus_cost_and_waste_and_enter_shows_their_jobs(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await show_jobs(app, holder, array_jobs())
        await pilot.press("u")
        screen = app.screen
        assert isinstance(screen, UsersScreen)
        snapshot = app.snapshot
        readings = {g.key: g.utilization_pct for g in snapshot.gpus}
        for user in ("alice", "bob", "carol", "dave"):
            jobs = [j for j in snapshot.jobs if j.user == user and j.account == "research"]
            running = [j for j in jobs if j.state is JobState.RUNNING]
            held = sum(j.gpu_count for j in running)
            utils = [
                readings[(n, i)]
                for j in running
                for n, idx in j.gpu_indices.items()
                for i in idx
                if readings.get((n, i)) is not None
            ]
            row = cells(screen, user, "research")
            assert row["gpus"] == str(held)
            assert row["running"] == str(len(running))
            assert row["cost"] == (f"${held * PRICE:.2f}/h" if held else "")
            if utils:
                assert row["util"] == f"{sum(utils) / len(utils):.0f}%"
                idle = sum(1 for u in utils if u is not None and u < 5)
                assert row["wasted"] == f"${idle * PRICE:.2f}/h"
        pending_queued = sum(1 for j in snapshot.jobs if j.user == "alice" and j.account == "")
        assert cells(screen, "alice", "")["pending"] == str(pending_queued)
        # Array 50: 2 tasks running, 18 pending (the pending record stands for 18 tasks).
        erin = cells(screen, "erin", "vision")
        assert (erin["gpus"], erin["running"], erin["pending"]) == ("2", "2", "18")

        costs = [r.sort_values["cost"] for r in screen.rows]
        assert costs == sorted(costs, reverse=True)  # most expensive first
        await pilot.press("s")  # cost -> wasted
        assert screen.sort_column == "wasted"
        await pilot.press("s", "s", "s")  # running, pending, then around to user
        assert screen.sort_column == "user"
        assert [r.user for r in screen.rows] == sorted(r.user for r in screen.rows)

        table = screen.query_one("#users-table", DataTable)
        table.move_cursor(row=[r.key for r in screen.rows].index("erin\tvision"))
        await pilot.press("enter")
        jobs_screen = app.screen
        assert isinstance(jobs_screen, JobsScreen)
        assert jobs_screen.row_filter.text == "user:erin account:vision"
        assert jobs_screen._order == ["array:50"]
        await pilot.press("escape", "escape")  # the filter, then back to the users
        assert app.screen is screen


async def test_typed_ahead_u_then_enter_opens_the_first_users_jobs(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key, char in (("u", "u"), ("enter", "\r")):
            app.post_message(events.Key(key, char))
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, JobsScreen):
                break
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        # The filter is the screen's from the moment it is pushed, before it has mounted.
        assert screen.row_filter.text.startswith("user:")
        user = screen.row_filter.text.split()[0].removeprefix("user:")
        for _ in range(100):
            if screen.rows:
                break
            await pilot.pause(0.05)
        assert screen._order and all(app.snapshot.job_by_id[k].user == user for k in screen._order)
