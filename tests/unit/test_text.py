"""One-line text: what a status bar, a log line or an error report shows."""

from __future__ import annotations

from tui.text import one_line, truncate


def test_truncate_keeps_short_text_and_marks_a_cut_with_an_ellipsis() -> None:
    assert truncate("gpu-node-1", 20) == "gpu-node-1"
    assert truncate("gpu-node-12345", 8) == "gpu-nod…"
    assert len(truncate("x" * 50, 10)) == 10
    assert truncate("anything", 0) == ""


def test_one_line_joins_lines_and_names_an_empty_exception() -> None:
    assert one_line("disk full\n  on /var\tlog") == "disk full on /var log"
    assert one_line(OSError()) == "OSError"
    assert one_line(ValueError("bad\nvalue")) == "bad value"
    assert one_line("word " * 100, limit=12) == "word word w…"
