"""The summary's count of lost GPUs: reported fallen off the bus, or gone from the page."""

from __future__ import annotations

from tui.app.widgets.summary import summary_text
from tui.model import ClusterSnapshot, Gpu, Node, NodeBaseState
from tui.sources.exporters import GPU_LOST_ERROR
from tui.summary import ClusterSummary


def node(name: str, gpus: int) -> Node:
    return Node(name, NodeBaseState.ALLOCATED, gpus_total=gpus)


def gpus(name: str, indexes: range, error: str | None = None) -> tuple[Gpu, ...]:
    return tuple(Gpu(name, index, utilization_pct=50.0, error=error) for index in indexes)


def summary(nodes: tuple[Node, ...], readings: tuple[Gpu, ...]) -> ClusterSummary:
    return ClusterSummary.of(ClusterSnapshot(taken_at=1.0, nodes=nodes, gpus=readings), 2.0)


def test_a_gpu_reported_fallen_off_the_bus_is_lost() -> None:
    readings = gpus("a", range(7)) + gpus("a", range(7, 8), error=GPU_LOST_ERROR)
    assert summary((node("a", 8),), readings).gpus_lost == 1


def test_a_gpu_that_vanished_from_the_exporter_page_counts_against_slurm_gres() -> None:
    readings = gpus("a", range(6)) + gpus("b", range(8))
    result = summary((node("a", 8), node("b", 8)), readings)
    assert result.gpus_lost == 2
    assert result.gpus_total == 16


def test_a_node_without_any_gpu_readings_is_unknown_not_lost() -> None:
    assert summary((node("a", 8), node("b", 8)), gpus("b", range(8))).gpus_lost == 0


def test_the_summary_line_shows_lost_gpus_only_when_there_are_some() -> None:
    lost = summary((node("a", 8),), gpus("a", range(5)))
    whole = summary((node("a", 8),), gpus("a", range(8)))
    assert "of 8, 3 lost" in summary_text(lost).plain
    assert "lost" not in summary_text(whole).plain
