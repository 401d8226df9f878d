"""Keys do what the key table (and so the help screen and README) says they do."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.command import CommandPalette

import tui.app
from tests.ui.conftest import make_app, static_text
from tui.app.app import ClusterDashApp
from tui.app.keys import (
    context_rows,
    owners_listed,
)
from tui.app.screens.help import HelpScreen
from tui.app.screens.main import MainScreen, NodesPane
from tui.app.widgets.summary import SummaryLine

SIZE = (200, 50)
pytestmark = pytest.mark.timeout(60)


def test_every_class_with_bindings_has_a_place_in_the_key_table() -> None:
    # The help screen's own close keys are on its title line.
    listed = owners_listed() | {ClusterDashApp, HelpScreen}
    unlisted = []
    for info in pkgutil.walk_packages(tui.app.__path__, "tui.app."):
        module = importlib.import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == info.name and "BINDINGS" in vars(cls) and cls not in listed:
                unlisted.append(f"{info.name}.{name}")
    assert unlisted == [], "add these to CONTEXTS in tui/app/keys.py"


def test_a_new_binding_is_in_the_table_with_its_description_and_tooltip() -> None:
    class Screen:
        BINDINGS = [
            Binding("c", "copy", "Copy", tooltip="the job ID"),
            Binding("y", "copy", "Yank", show=False),
            Binding("u", "by_user", "By user"),
            ("question_mark", "help", "Help"),
        ]

    assert [tuple(row) for row in context_rows("jobs", (Screen,))] == [
        ("jobs", "c / y", "Copy: the job ID"),
        ("jobs", "u", "By user"),
        ("jobs", "?", "Help"),
    ]


async def test_ctrl_p_opens_the_command_palette(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)


async def test_escape_in_the_chat_returns_to_the_nodes_table(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await pilot.press("4", "1", "s")  # typed into the chat, not pane switches
        chat_input = screen.query_one("#chat-input")
        assert app.focused is chat_input
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is screen.query_one(NodesPane)


async def test_help_lists_the_bound_keys_symbols_and_state_colours(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(static_text(s, width=200) for s in app.screen.query("Static"))
        for symbol in ("●", "◐", "○", "✖", "⚠"):
            assert symbol in text, symbol
        assert "allocated to a job but doing nothing" in text
        assert "drained" in text and "not responding" in text
        # Keys as bound: two keys of one action share a row; the tooltip follows the label.
        assert "q / ctrl+c" in text and "Quit: the terminal is restored" in text
        assert "Drain: the selected nodes, else the highlighted one" in text
        assert "Cancel: the selected jobs" in text and "Requeue" in text


async def test_an_active_node_filter_is_shown_until_cleared(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        note = screen.query_one("#node-filter-note")
        assert not note.display
        await pilot.press("slash", *"gpu-0[1-3]", "enter")
        assert note.display
        assert "filter: gpu-0[1-3]  (3 of 12 nodes; esc clears)" in static_text(note)
        await pilot.press("escape")
        assert not note.display


async def test_toasts_show_brackets_as_written(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        message = "add rules_file under [alerts] in config.toml; reason [bold]x[/]"
        app.screen.notify(message)
        await pilot.pause()
        shown = [n for n in app._notifications if n.message == message]
        assert shown and not shown[0].markup


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_end_brings_the_last_node_into_view(tmp_path: Path, size: tuple[int, int]) -> None:
    app = make_app(tmp_path, nodes=90)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        nodes = app.screen.query_one(NodesPane)
        await pilot.press("G")
        await pilot.pause()
        assert nodes.current_node() == "gpu-90"
        rows_shown = nodes.scrollable_content_region.height - 1  # less the header line
        top = int(nodes.scroll_offset.y)
        assert top <= nodes.cursor_row < top + rows_shown
        await pilot.press("g")
        await pilot.pause()
        assert int(nodes.scroll_offset.y) == 0


async def test_summary_at_80_columns_fits_two_lines_broken_only_between_parts(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        summary = app.screen.query_one(SummaryLine)
        assert summary.size.height == 2
        lines = [summary.render_line(y).text for y in range(summary.size.height)]
        assert all(len(line.rstrip()) <= 80 for line in lines), lines
        top, bottom = lines
        # Each figure whole on one line: "3 alloc-idle" is never torn from its number.
        assert top.split("  ")[0].strip().startswith("Nodes 12:")
        assert "Jobs 6 run 3 pend" in top
        assert bottom.strip().startswith("GPUs 96: ")
        assert "3 alloc-idle" in bottom
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        assert summary.size.height == 1 and "\n" not in summary.render().plain
        assert "3 alloc-idle of 96" in summary.render().plain


async def test_gpu_pane_at_80x24_shows_all_eight_gpus_under_a_fixed_title(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        pane = app.screen.query_one("#gpus-pane")
        assert "gpu-01" in str(pane.border_title) and "8 GPUs" in str(pane.border_title)
        assert pane.max_scroll_y == 0  # all eight lines fit: nothing to scroll away
        text = str(app.screen.query_one("#gpus").render())
        assert all(f"GPU{i}" in text for i in range(8))


async def test_a_burst_of_toasts_shows_only_the_newest_few(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        for n in range(10):
            app.notify(f"drain node gpu-{n:02d}: done", title="done")
        await pilot.pause()
        shown = [n.message for n in app._notifications]
        assert shown == [f"drain node gpu-{n:02d}: done" for n in range(6, 10)]


def test_chart_time_axis_covers_the_chosen_range_and_ends_at_now() -> None:
    from tui.app.screens.node_detail import time_axis, y_limits

    unit_s, ticks, labels = time_axis(6 * 3600.0)
    assert unit_s == 3600.0 and ticks[0] == -6 and ticks[-1] == 0
    assert labels == ["-6h", "-4.5h", "-3h", "-1.5h", "now"]
    assert time_axis(7 * 86400.0)[2][0] == "-7d" and time_axis(900.0)[2][0] == "-15m"
    assert y_limits("utilization_pct", [0.0, 0.0]) == (0.0, 100.0)
    assert y_limits("memory_pct", []) == (0.0, 100.0)
    assert y_limits("temperature_c", [40.0]) == (0.0, 100.0)
    assert y_limits("power_w", [0.0])[0] == 0.0 and y_limits("power_w", [0.0])[1] > 0


async def test_brackets_pick_one_gpu_and_leave_the_range_keys_alone(tmp_path: Path) -> None:
    from tui.app.screens.node_detail import NodeDetailScreen

    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, NodeDetailScreen)
        await app.workers.wait_for_complete()
        assert screen.gpu_pick is None
        await pilot.press("right_square_bracket", "right_square_bracket")
        assert screen.gpu_pick == 1
        await pilot.press("3")
        assert screen.range_index == 2 and screen.gpu_pick == 1
        assert "GPU1" in str(screen.query_one("#chart-utilization_pct").border_title)
        assert "showing: GPU1" in static_text(screen.query_one("#detail-title"))
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert screen.gpu_pick is None


async def test_drain_in_node_detail_targets_that_node_not_the_table_selection(
    tmp_path: Path,
) -> None:
    from tui.actions import ActionKind
    from tui.app.screens.confirm import ConfirmActionScreen
    from tui.app.screens.node_detail import NodeDetailScreen

    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await pilot.press("space")  # selects the first node; the cursor moves to the second
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, NodeDetailScreen)
        await pilot.press("d")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmActionScreen)
        assert dialog.action_to_run.kind is ActionKind.DRAIN
        assert dialog.action_to_run.targets == (detail.node,)
