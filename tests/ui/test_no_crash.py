"""Normal use never takes the dashboard down: snapshots at any moment, random keys, bugs.

The soak test drives seeded random key bursts across every screen and dialog while the
fake cluster answers actions and snapshots arrive at random moments. A short run is part
of the ordinary suite; `make bench` runs the long one.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.screen import Screen

from tests.ui.conftest import make_app, wait_until
from tui.app.app import ClusterDashApp
from tui.app.screens.confirm import ConfirmActionScreen
from tui.app.screens.jobs import JobsScreen
from tui.app.screens.main import MainScreen
from tui.app.widgets.gpu_list import GpuList
from tui.app.widgets.status_bar import StatusBar

SIZE = (120, 36)

# Everything an operator might press, quit excepted; several keys of each screen.
SOAK_KEYS: tuple[tuple[str, str | None], ...] = tuple(
    [(k, k) for k in "jdrynsSpmbgGkCRHLxae12350"]
    + [
        ("escape", None),
        ("enter", None),
        ("slash", "/"),
        ("space", " "),
        ("up", None),
        ("down", None),
        ("tab", None),
        ("question_mark", "?"),
        ("pagedown", None),
        ("left_square_bracket", "["),
        ("right_square_bracket", "]"),
    ]
)


def screen_stack_is_sane(app: ClusterDashApp) -> str | None:
    """None when the stack is what navigation can build, else what is wrong with it."""
    stack = [s for s in app.screen_stack if isinstance(s, Screen)]
    names = [type(s).__name__ for s in stack]
    if len(stack) < 2 or not isinstance(stack[1], MainScreen):
        return f"main screen not at the bottom: {names}"
    if sum(isinstance(s, MainScreen) for s in stack) != 1:
        return f"main screen twice: {names}"
    if sum(isinstance(s, JobsScreen) for s in stack) > 1:
        return f"jobs screen twice: {names}"
    if sum(isinstance(s, ConfirmActionScreen) for s in stack) > 1:
        return f"two confirmation dialogs: {names}"
    if len(stack) > 6:
        return f"screens pile up: {names}"
    return None


async def soak(tmp_path: Path, seed: int, presses: int) -> None:
    holder: dict[str, Any] = {}
    app = make_app(tmp_path, holder=holder)
    rng = random.Random(seed)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        services = holder["services"]
        sent = 0
        while sent < presses:
            for _ in range(rng.randint(1, 6)):
                key, char = rng.choice(SOAK_KEYS)
                app.post_message(events.Key(key, char))
                sent += 1
            roll = rng.random()
            if roll < 0.25:
                await services.collector.collect_once()  # a snapshot, at whatever moment
            elif roll < 0.35:
                app.apply_latest()
            if rng.random() < 0.3:
                await pilot.pause(rng.choice((0.0, 0.05, 0.35)))
            assert app.return_code is None, f"the app exited after {sent} keys"
            problem = screen_stack_is_sane(app)
            assert problem is None, f"after {sent} keys: {problem}"
            assert len(services.workload.actions) <= len(app.actions_ui.confirmed)
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
        assert app.return_code is None and app.last_ui_error is None
        ran = services.workload.actions
        assert ran == app.actions_ui.confirmed[: len(ran)]


@pytest.mark.timeout(240)
async def test_random_keys_short_soak(tmp_path: Path) -> None:
    await soak(tmp_path, seed=12, presses=400)


@pytest.mark.bench
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_keys_long_soak(tmp_path: Path, seed: int) -> None:
    await soak(tmp_path, seed=seed, presses=5000)


@pytest.mark.timeout(120)
async def test_jobs_screen_in_and_out_with_snapshots_arriving(tmp_path: Path) -> None:
    holder: dict[str, Any] = {}
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        collector = holder["services"].collector
        for _ in range(15):
            app.post_message(events.Key("j", "j"))
            await collector.collect_once()  # lands while the jobs screen is being built
            app.apply_latest()
            app.post_message(events.Key("escape", None))
            await collector.collect_once()
        # The last escape may still be queued behind the jobs screen's mount on a busy
        # machine: wait for the stack to settle, however long that takes there.
        for _ in range(100):
            await pilot.pause(0.1)
            if isinstance(app.screen, MainScreen) and len(app.screen_stack) == 2:
                break
        assert app.return_code is None
        assert [type(s).__name__ for s in app.screen_stack][1:] == ["MainScreen"]


@pytest.mark.timeout(60)
async def test_an_unexpected_error_is_one_status_line_not_an_exit(tmp_path: Path) -> None:
    holder: dict[str, Any] = {}
    app = make_app(tmp_path, holder=holder, contain_errors=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        main = app.screen
        assert isinstance(main, MainScreen)

        def widget_bug() -> None:
            raise RuntimeError("summary widget broke\nsecond line")

        app.call_later(widget_bug)  # run by the app's message loop, like any handler
        await wait_until(pilot, lambda: app.last_ui_error is not None, "the error shown")
        assert app.return_code is None
        assert app.last_ui_error == "summary widget broke second line"
        status = str(main.query_one(StatusBar).render())
        assert "internal error: summary widget broke" in status and "log" in status
        await pilot.press("j")  # and it keeps working
        assert isinstance(app.screen, JobsScreen)


@pytest.mark.timeout(60)
async def test_a_late_sparkline_history_while_the_screen_is_taken_down(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        main = app.screen
        assert isinstance(main, MainScreen)
        await main.query_one(GpuList).remove()  # as when the app exits under a worker
        main.refresh_gpus()  # what the history worker does when its answer arrives
        assert app.return_code is None
