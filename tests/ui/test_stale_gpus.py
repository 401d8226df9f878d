"""A failing GPU source's last readings are shown as stale (dimmed, with their age), never fresh."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from rich.text import Text

from tests.ui.conftest import make_app
from tui.app.rings import GpuRings
from tui.app.rows import node_row
from tui.app.screens.main import MainScreen, NodesPane
from tui.app.screens.node_detail import NodeDetailScreen
from tui.app.widgets.gpu_list import GpuList, gpu_pane_text
from tui.model import ClusterSnapshot

SIZE = (200, 50)
pytestmark = pytest.mark.timeout(60)


def stale(snapshot: ClusterSnapshot, age_s: float) -> ClusterSnapshot:
    return replace(snapshot, gpus_stale=True, gpus_taken_at=snapshot.taken_at - age_s)


def dimmed_everywhere(line: Text) -> bool:
    """Every character of the line carries the dim style."""
    covered = [False] * len(line.plain)
    for span in line.spans:
        if "dim" in str(span.style).split():
            for i in range(span.start, min(span.end, len(covered))):
                covered[i] = True
    return all(covered)


async def test_stale_gpu_readings_are_dimmed_and_aged_in_pane_table_and_detail(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        fresh = app.snapshot
        pane_title = str(app.screen.query_one("#gpus-pane").border_title)
        assert "stale" not in pane_title
        app._on_snapshot(stale(fresh, 180))
        app.apply_latest()
        await pilot.pause()
        pane_title = str(app.screen.query_one("#gpus-pane").border_title)
        assert "GPU readings stale, taken 3m ago" in pane_title
        gpu_lines = str(app.screen.query_one(GpuList).render())
        assert "GPU7" in gpu_lines
        util_cell = app.screen.query_one(NodesPane).rows_by_name["gpu-01"].cells[3]
        assert "stale 3m" in util_cell.plain
        await pilot.press("enter")
        assert isinstance(app.screen, NodeDetailScreen)
        await pilot.pause()
        title = str(app.screen.query_one("#detail-title").render())
        assert "GPU readings stale, taken 3m ago" in title


def test_fresh_readings_are_not_marked_and_stale_ones_are_all_dimmed() -> None:
    from tests.ui.fake_cluster import FIXED_NOW, make_gpus, make_jobs, make_nodes

    nodes = make_nodes(2)
    snapshot = ClusterSnapshot(
        taken_at=FIXED_NOW,
        nodes=tuple(nodes),
        gpus=tuple(make_gpus(nodes)),
        jobs=tuple(make_jobs(nodes)),
        gpus_taken_at=FIXED_NOW,
    )
    name = nodes[0].name
    fresh = gpu_pane_text(snapshot, name, "utilization_pct", GpuRings(), 120)
    assert "stale" not in fresh.plain
    assert not any(dimmed_everywhere(line) for line in fresh.split("\n")[1:])
    old = gpu_pane_text(stale(snapshot, 7300), name, "utilization_pct", GpuRings(), 120)
    title, *lines = old.split("\n")
    assert "GPU readings stale, taken 2h ago" in title.plain
    assert lines and all(dimmed_everywhere(line) for line in lines)
    unknown = replace(snapshot, gpus_stale=True, gpus_taken_at=None)
    assert "taken ? ago" in gpu_pane_text(unknown, None, "utilization_pct", GpuRings(), 120).plain
    gpus = snapshot.gpus_of(name)
    row = node_row(nodes[0], gpus, snapshot.jobs_on(name), stale_age="2h")
    assert row.cells[3].plain.endswith(" stale 2h")
    assert sum(row.lengths) == sum(len(cell.plain) for cell in row.cells)
    assert "stale" not in node_row(nodes[0], gpus, snapshot.jobs_on(name)).cells[3].plain
