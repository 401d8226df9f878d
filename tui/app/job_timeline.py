"""A job's GPUs over its life as text: one sparkline per GPU on a shared time axis, with a
ruler that marks where the job started."""

from __future__ import annotations

from collections.abc import Sequence

from tui.app.format import SPARK_CHARS

START_MARK = "▼ start"


def lifetime_window(start: float, now: float) -> tuple[float, float]:
    """From a little before the start (so the start shows as an edge) to now."""
    span = max(60.0, now - start)
    return start - max(60.0, 0.1 * span), now


def timeline(
    points: Sequence[tuple[float, float]],
    start: float,
    end: float,
    width: int,
    high: float = 100.0,
) -> str:
    """Points placed in `width` columns by their time (averaged), blank where none fell."""
    if width <= 0 or end <= start:
        return ""
    sums = [0.0] * width
    counts = [0] * width
    for ts, value in points:
        if ts < start or ts > end:
            continue
        column = min(width - 1, int((ts - start) / (end - start) * width))
        sums[column] += value
        counts[column] += 1
    top = len(SPARK_CHARS) - 1
    chars = []
    for total, count in zip(sums, counts, strict=True):
        if not count:
            chars.append(" ")
            continue
        level = round(min(high, max(0.0, total / count)) / high * top)
        chars.append(SPARK_CHARS[max(1, level)])  # a real zero is the lowest bar, not blank
    return "".join(chars)


def start_ruler(window_start: float, job_start: float, end: float, width: int) -> str:
    """'────▼ start────': the marker at the job's start column."""
    if width <= 0 or end <= window_start:
        return ""
    column = min(width - 1, max(0, int((job_start - window_start) / (end - window_start) * width)))
    ruler = list("─" * width)
    for offset, char in enumerate(START_MARK):
        if column + offset < width:
            ruler[column + offset] = char
    return "".join(ruler)
