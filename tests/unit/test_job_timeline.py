"""A job's GPU timeline: points land in the column of their time; the start is marked."""

from __future__ import annotations

from tui.app.job_timeline import lifetime_window, start_ruler, timeline


def test_points_land_in_their_time_column_and_gaps_stay_blank() -> None:
    line = timeline([(0.0, 0.0), (50.0, 100.0), (99.0, 100.0)], 0.0, 100.0, 10)
    assert len(line) == 10
    assert line[0] == "▁"  # a zero reading is drawn, not blank
    assert line[5] == "█" and line[9] == "█"
    assert line[1:5] == "    "  # no reading there: nothing drawn


def test_the_start_is_marked_where_the_job_began() -> None:
    window_start, end = lifetime_window(1000.0, 1000.0 + 3600.0)
    assert window_start == 1000.0 - 360.0 and end == 4600.0
    ruler = start_ruler(window_start, 1000.0, end, 40)
    assert len(ruler) == 40
    assert ruler.index("▼") == int(360.0 / 3960.0 * 40)
