"""Plain unit tests for the UI's pure logic: formatting, filters, sorting, rows, state file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.app import format as fmt
from tui.app.app import ClusterDashApp
from tui.app.filtering import FilterError, parse_filter, sort_rows
from tui.app.keys import key_rows, keys_markdown, with_keys_table
from tui.app.persistence import UiState, load_ui_state, save_ui_state
from tui.app.rings import GpuRings
from tui.app.rows import NODE_COLUMNS, gpu_figures, node_row
from tui.app.widgets.status_bar import error_lines, health_mark
from tui.model import Gpu, Job, JobState, Node, NodeBaseState, NodeFlag, SourceHealth
from tui.summary import GpuFigures

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_bar_and_sparkline_are_fixed_width_and_show_unknown() -> None:
    assert fmt.bar(50, 10) == "█████░░░░░"
    assert fmt.bar(None, 4) == "····"
    assert fmt.bar(250, 4) == "████"
    assert fmt.sparkline([0, 50, 100], 5) == "  " + "▁" + fmt.SPARK_CHARS[4] + "█"
    assert len(fmt.sparkline(list(range(100)), 8)) == 8


def test_ages_durations_and_money_read_like_slurm() -> None:
    assert [fmt.age(s) for s in (None, 4, 190, 7300, 200000)] == ["-", "4s", "3m", "2h", "2d"]
    assert fmt.duration(3780) == "1:03:00"
    assert fmt.duration(93784) == "1-02:03:04"
    assert fmt.money(181.44) == "$181.44/h"
    assert fmt.memory_mb(512000) == "500G"


def test_threshold_colours() -> None:
    assert fmt.threshold_style("temperature_c", 70) == ""
    assert fmt.threshold_style("temperature_c", 82) == "yellow"
    assert fmt.threshold_style("temperature_c", 90) == "bold red"
    assert fmt.threshold_style("temperature_c", None) == "dim"


@pytest.mark.parametrize(
    ("text", "haystack", "expected"),
    [
        ("gpu-01", "GPU-01 idle", True),
        ("gpu-0[1-3]", "gpu-02 mixed", True),
        ("gpu-0[1-3]", "gpu-05 mixed", False),
        ("!drain", "gpu-01 drained", False),
        ("!drain", "gpu-01 idle", True),
        ("", "anything", True),
    ],
)
def test_filters_text_regex_and_inverted(text: str, haystack: str, expected: bool) -> None:
    assert parse_filter(text).matches(haystack) is expected


ROW = {"user": {"alice"}, "state": {"pending", "pd"}, "partition": {"gpu"}}


@pytest.mark.parametrize(
    ("text", "flags", "expected"),
    [
        ("user:alice", (), True),
        ("USER:Alice", (), True),
        ("user:ali", (), False),  # whole values, not prefixes
        ("user:bob,alice state:pd", (), True),
        ("user:alice state:r", (), False),
        ("wasting", (), False),
        ("wasting", ("wasting",), True),
        ("!wasting", ("wasting",), False),
        ("user:alice train", (), True),  # the rest is matched as text
        ("user:alice eval", (), False),
        ("partition:gpu", (), True),
    ],
)
def test_field_terms_and_flag_words(text: str, flags: tuple[str, ...], expected: bool) -> None:
    row_filter = parse_filter(text, fields=("user", "state", "partition"), flags=("wasting",))
    assert row_filter.matches("101 train-0 alice", ROW, flags) is expected


def test_field_terms_are_plain_text_where_not_offered_and_unknown_fields_are_errors() -> None:
    assert parse_filter("user:alice").matches("job of user:alice")
    with pytest.raises(FilterError, match="unknown filter field 'owner'"):
        parse_filter("owner:alice", fields=("user",))


def test_bad_regex_is_one_line_error() -> None:
    with pytest.raises(FilterError, match="bad filter regex"):
        parse_filter("gpu-[")


def test_sort_is_natural_and_unknown_last_both_ways() -> None:
    rows = [("gpu-10", 5.0), ("gpu-2", None), ("gpu-1", 9.0)]
    assert [r[0] for r in sort_rows(rows, lambda r: r[0])] == ["gpu-1", "gpu-2", "gpu-10"]
    assert [r[0] for r in sort_rows(rows, lambda r: r[1])] == ["gpu-10", "gpu-1", "gpu-2"]
    assert [r[0] for r in sort_rows(rows, lambda r: r[1], reverse=True)] == [
        "gpu-1",
        "gpu-10",
        "gpu-2",
    ]


def test_node_row_shows_state_alloc_idle_and_jobs() -> None:
    node = Node(
        "gpu-01",
        NodeBaseState.MIXED,
        flags=frozenset({NodeFlag.DRAIN}),
        reason="[xid] 79",
        gpus_total=8,
        gpus_alloc=2,
        partitions=("gpu",),
    )
    gpus = [
        Gpu("gpu-01", 0, utilization_pct=0.0, job_id="7", user="a"),
        Gpu("gpu-01", 1, utilization_pct=80.0, job_id="7", user="a"),
    ]
    job = Job("7", state=JobState.RUNNING, nodes=("gpu-01",))
    assert gpu_figures(gpus) == (40.0, 1)
    row = node_row(node, gpus, [job])
    plain = dict(zip((key for key, _ in NODE_COLUMNS), (str(c) for c in row.cells), strict=True))
    assert plain["state"] == "draining"
    assert plain["reason"] == "[xid] 79"  # kept verbatim, not read as markup
    assert "1⚠" in plain["util"] and plain["jobs"] == "7"
    assert len(row.lengths) == len(NODE_COLUMNS)
    assert row.sort_values["util"] == 40.0


def test_rings_keep_the_last_values_and_seed_from_history() -> None:
    rings = GpuRings(length=3)
    for step in range(5):
        rings.add([Gpu("n", 0, utilization_pct=float(step))], taken_at=float(step))
    rings.add([Gpu("n", 0, utilization_pct=99.0)], taken_at=4.0)  # same snapshot again
    assert rings.values(("n", 0), "utilization_pct") == [2.0, 3.0, 4.0]
    rings.seed("n", "temperature_c", {0: [(1.0, 50.0), (2.0, 60.0)]})
    assert rings.values(("n", 0), "temperature_c") == [50.0, 60.0]


def test_ui_state_round_trips_and_survives_garbage(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ui.json"
    assert load_ui_state(path) == UiState()
    save_ui_state(UiState(theme="nord", sort_column="util"), path)
    assert load_ui_state(path).theme == "nord"
    path.write_text("{not json", encoding="utf-8")
    assert load_ui_state(path) == UiState()
    path.write_text('{"theme": 5, "sort_reverse": true}', encoding="utf-8")
    assert load_ui_state(path) == UiState(sort_reverse=True)


def test_health_marks_and_error_lines() -> None:
    ok = SourceHealth("slurm", ok=True, last_success=90.0)
    bad = SourceHealth(
        "gpu",
        ok=False,
        last_attempt=99.0,
        last_success=40.0,
        consecutive_failures=3,
        last_error="connection refused",
    )
    assert health_mark(ok, 100.0).plain == "● Slurm 10s"
    assert health_mark(bad, 100.0).plain == "✖ GPU 1m"
    assert error_lines({"gpu": bad, "slurm": ok}, 100.0) == [
        "GPU: connection refused (3 failures, data 1m old)"
    ]


def test_keys_doc_is_current() -> None:
    rows = key_rows(ClusterDashApp)
    keys = [(where, k) for where, key, _ in rows for k in key.split(" / ")]
    assert len(set(keys)) == len(keys), "a key is listed twice in one place"
    hint = "out of date: `make keys` writes it from the bindings"
    keys_md = (DOCS / "keys.md").read_text(encoding="utf-8")
    assert keys_md == keys_markdown(ClusterDashApp), f"docs/keys.md {hint}"
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    assert with_keys_table(readme, ClusterDashApp) == readme, f"README's key table {hint}"


def test_rings_follow_each_gpu_as_nodes_come_and_go() -> None:
    rings = GpuRings(length=4)
    rings.add([Gpu("a", 0, utilization_pct=1.0), Gpu("b", 0, utilization_pct=10.0)], 1.0)
    rings.add([Gpu("b", 0, utilization_pct=20.0)], 2.0)  # node a's exporter is down
    both = [
        Gpu("b", 0, utilization_pct=30.0, memory_used_mib=20.0, memory_total_mib=80.0),
        Gpu("a", 0, utilization_pct=3.0, temperature_c=None),
    ]
    rings.add(both, 3.0)  # a is back, listed after b
    assert rings.values(("a", 0), "utilization_pct") == [1.0, 3.0]
    assert rings.values(("b", 0), "utilization_pct") == [10.0, 20.0, 30.0]
    assert rings.values(("b", 0), "memory_pct") == [25.0]
    assert rings.values(("a", 0), "temperature_c") == []  # never reported: nothing drawn
    assert rings.values(("c", 0), "utilization_pct") == []


def test_seeded_history_is_followed_by_new_readings() -> None:
    rings = GpuRings(length=3)
    rings.add([Gpu("n", 0, utilization_pct=5.0), Gpu("n", 1, utilization_pct=6.0)], 1.0)
    rings.seed("n", "utilization_pct", {0: [(0.0, 40.0), (0.5, 50.0)]})
    rings.add([Gpu("n", 0, utilization_pct=60.0), Gpu("n", 1, utilization_pct=7.0)], 2.0)
    rings.add([Gpu("n", 0, utilization_pct=70.0), Gpu("n", 1, utilization_pct=8.0)], 3.0)
    assert rings.values(("n", 0), "utilization_pct") == [50.0, 60.0, 70.0]
    assert rings.values(("n", 0), "power_w") == []
    assert rings.values(("n", 1), "utilization_pct") == [6.0, 7.0, 8.0]  # not seeded: kept


def test_gpu_figures_by_node_match_each_nodes_own_reading() -> None:
    gpus = [
        Gpu("a", 0, utilization_pct=2.0, job_id="7"),
        Gpu("a", 1, utilization_pct=None, job_id="7"),
        Gpu("b", 0, utilization_pct=60.0),
        Gpu("a", 2, utilization_pct=91.0, job_id="8"),  # a's GPUs listed apart
        Gpu("c", 0),
    ]
    figures = GpuFigures.of(gpus)
    for name in ("a", "b", "c"):
        assert figures.by_node[name] == gpu_figures([g for g in gpus if g.node == name])
    assert figures.by_node["a"] == (46.5, 1) and figures.by_node["c"] == (None, 0)
