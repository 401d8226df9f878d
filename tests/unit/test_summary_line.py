"""The summary header at narrow widths: two lines at most, broken only between figures."""

from __future__ import annotations

from tui.app.widgets.summary import line_count, summary_text
from tui.summary import ClusterSummary


def large_cluster(**changes: object) -> ClusterSummary:
    figures: dict[str, object] = {
        "nodes_total": 1024,
        "nodes_by_state": {
            "mixed": 610,
            "allocated": 300,
            "idle": 80,
            "drained": 34,
        },
        "gpus_total": 8192,
        "gpus_reporting": 8180,
        "gpus_busy": 6900,
        "gpus_idle": 1280,
        "gpus_allocated": 7300,
        "gpus_allocated_idle": 412,
        "avg_utilization_pct": 71.4,
        "avg_temperature_c": 63.2,
        "memory_used_mib": 4.0e8,
        "memory_total_mib": 6.5e8,
        "cpus_total": 131072,
        "cpus_alloc": 120000,
        "jobs_running": 1830,
        "jobs_pending": 12450,
        "cost_per_hour": 19660.8,
        "idle_cost_per_hour": 988.8,
        "gpus_lost": 12,
    }
    figures.update(changes)
    return ClusterSummary(**figures)  # type: ignore[arg-type]


def test_a_large_cluster_fits_two_lines_of_80_columns() -> None:
    text = summary_text(large_cluster(), 80)
    lines = text.plain.split("\n")
    assert len(lines) == 2 and line_count(text, 80) == 2
    assert all(len(line) <= 80 for line in lines)
    # The figures an operator acts on are all there, each whole on one line.
    figures = ("Nodes 1024:", "34 drain", "412 alloc-idle", "12 lost", "12450 pend", "$989/h")
    for figure in figures:
        assert any(figure in line for line in lines), (figure, lines)


def test_wide_terminals_keep_the_full_words_on_one_line() -> None:
    plain = summary_text(large_cluster(), 240).plain
    assert "\n" not in plain
    assert "34 drained" in plain and "$988.80/h" in plain and "412 alloc-idle of 8192" in plain


def test_a_figure_wider_than_the_rest_of_a_line_moves_whole_to_the_next() -> None:
    states = {"mixed": 600, "allocated": 300, "idle": 80, "drained": 20, "not responding": 24}
    lines = summary_text(large_cluster(nodes_by_state=states), 40).plain.split("\n")
    # Too narrow for two lines: more lines, still never a figure torn apart.
    assert len(lines) > 2
    assert any("412 alloc-idle" in line for line in lines)
    assert any("24 no_resp" in line for line in lines)
    assert not any(line.rstrip().endswith(" 412") for line in lines)
