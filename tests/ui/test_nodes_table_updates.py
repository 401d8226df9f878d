"""A new snapshot reaches the nodes table: what changed is drawn, what did not is kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.geometry import Region

from tests.ui.conftest import make_app
from tui.app.screens.main import NodesPane
from tui.model import ClusterSnapshot, Gpu, Node

SIZE = (200, 50)
pytestmark = pytest.mark.timeout(60)


def with_changes(
    snapshot: ClusterSnapshot,
    *,
    utilization: dict[str, float] | None = None,
    reasons: dict[str, str] | None = None,
) -> ClusterSnapshot:
    """The same cluster a poll later: these nodes' GPUs read this utilization, these nodes
    have a new Slurm reason."""
    utilization = utilization or {}
    reasons = reasons or {}

    def gpu(g: Gpu) -> Gpu:
        return replace(g, utilization_pct=utilization[g.node]) if g.node in utilization else g

    def node(n: Node) -> Node:
        return replace(n, reason=reasons[n.name]) if n.name in reasons else n

    return replace(
        snapshot,
        taken_at=snapshot.taken_at + 1,
        nodes=tuple(node(n) for n in snapshot.nodes),
        gpus=tuple(gpu(g) for g in snapshot.gpus),
    )


def line_of(nodes: NodesPane, name: str) -> str:
    """The node's line as drawn on the terminal."""
    y = nodes._order.index(name) + 1 - int(nodes.scroll_offset.y)
    return nodes.render_line(y).text


async def apply(app: Any, pilot: Any, change: Callable[[ClusterSnapshot], ClusterSnapshot]) -> None:
    app.snapshot = change(app.snapshot)
    app.apply_latest()
    await pilot.pause()


async def test_changed_cells_are_drawn_and_unchanged_rows_kept(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        nodes = app.screen.query_one(NodesPane)
        before = dict(nodes.rows_by_name)
        assert "100%" not in line_of(nodes, "gpu-03")
        assert "cable swap" not in line_of(nodes, "gpu-04")
        await apply(
            app,
            pilot,
            lambda s: with_changes(
                s, utilization={"gpu-03": 100.0}, reasons={"gpu-04": "cable swap"}
            ),
        )
        assert "100%" in line_of(nodes, "gpu-03")
        assert "cable swap" in line_of(nodes, "gpu-04")
        # Only the utilization moved on gpu-03: its Slurm facts are reused, its cell redrawn.
        assert nodes.rows_by_name["gpu-03"] is not before["gpu-03"]
        assert nodes.rows_by_name["gpu-03"].facts is before["gpu-03"].facts
        # Nothing gpu-06 shows changed: its row is not rebuilt.
        assert nodes.rows_by_name["gpu-06"] is before["gpu-06"]
        # A reading that moves but shows the same keeps its drawn line.
        drawn = nodes._strips["gpu-03"][1]
        await apply(app, pilot, lambda s: with_changes(s, utilization={"gpu-03": 99.9}))
        assert "100%" in line_of(nodes, "gpu-03")
        assert nodes._strips["gpu-03"][1] is drawn


async def test_sort_by_utilization_follows_readings_that_show_the_same(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        nodes = app.screen.query_one(NodesPane)
        nodes.sort_column, nodes.sort_reverse = "util", True
        nodes._view_changed()
        await apply(
            app, pilot, lambda s: with_changes(s, utilization={"gpu-01": 99.7, "gpu-02": 99.8})
        )
        assert nodes.visible_nodes()[:2] == ["gpu-02", "gpu-01"]
        nodes.select_node("gpu-06")
        # Both still show 100%, but gpu-01 now reads more than gpu-02: the order follows.
        await apply(app, pilot, lambda s: with_changes(s, utilization={"gpu-01": 99.9}))
        assert nodes.visible_nodes()[:2] == ["gpu-01", "gpu-02"]
        assert "100%" in line_of(nodes, "gpu-01") and "100%" in line_of(nodes, "gpu-02")
        assert nodes.current_node() == "gpu-06"


async def test_filter_and_selection_follow_new_slurm_facts(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        nodes = app.screen.query_one(NodesPane)
        await pilot.press("space")  # marks gpu-01
        await pilot.press("slash", *"maintenance", "enter")
        assert nodes.visible_nodes() == []
        await apply(app, pilot, lambda s: with_changes(s, reasons={"gpu-08": "maintenance"}))
        assert nodes.visible_nodes() == ["gpu-08"]
        assert "maintenance" in line_of(nodes, "gpu-08")
        assert nodes.selected == {"gpu-01"}
        await apply(app, pilot, lambda s: with_changes(s, reasons={"gpu-08": "done"}))
        assert nodes.visible_nodes() == []


async def test_the_cursor_line_shows_whether_the_table_has_focus(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        nodes = app.screen.query_one(NodesPane)
        whole = Region(0, 0, nodes.size.width, nodes.size.height)
        focused = nodes.render_lines(whole)[1]  # the header, then the cursor's line
        await pilot.press("2")  # the GPUs pane takes the focus
        assert not nodes.has_focus
        blurred = nodes.render_lines(whole)[1]
        assert focused.text == blurred.text
        assert [s.style for s in focused] != [s.style for s in blurred]
        await pilot.press("1")
        assert [s.style for s in nodes.render_lines(whole)[1]] == [s.style for s in focused]


async def test_summary_follows_slurm_and_gpus_between_snapshots(tmp_path: Path) -> None:
    from tui.app.widgets.summary import SummaryLine
    from tui.model import NodeBaseState

    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        summary = app.screen.query_one(SummaryLine)
        assert "1 down" in summary.render().plain
        await apply(app, pilot, lambda s: with_changes(s, utilization={"gpu-03": 100.0}))
        down = tuple(
            replace(n, state=NodeBaseState.DOWN, flags=frozenset()) if n.name == "gpu-02" else n
            for n in app.snapshot.nodes
        )
        await apply(app, pilot, lambda s: replace(s, taken_at=s.taken_at + 1, nodes=down))
        assert "2 down" in summary.render().plain

        # GPU readings move while Slurm was not read again: the Slurm figures stay.
        def gpus_only(s: ClusterSnapshot) -> ClusterSnapshot:
            moved = with_changes(s, utilization={"gpu-03": 0.0})
            return replace(s, taken_at=moved.taken_at, gpus=moved.gpus)

        await apply(app, pilot, gpus_only)
        assert "2 down" in summary.render().plain


async def test_the_screen_shows_each_new_reading(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "100%" not in app.export_screenshot()
        for percent in (100.0, 7.0, 100.0):
            await apply(app, pilot, lambda s, p=percent: with_changes(s, utilization={"gpu-03": p}))
            # What the terminal is sent: the line drawn from the new reading.
            assert ("100%" in app.export_screenshot()) == (percent == 100.0)
