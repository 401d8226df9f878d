"""Pure text formatting for the dashboard: bars, sparklines, ages, colours by threshold.

No widgets here: every function takes plain values and returns plain strings or Rich
Text, so it is unit-tested without an app.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from tui.text import truncate as truncate

SPARK_CHARS = " ▁▂▃▄▅▆▇█"
BAR_FULL = "█"
BAR_EMPTY = "░"

# Node display_state -> Rich style. Named ANSI colours so 16-colour terminals read them.
STATE_STYLES: dict[str, str] = {
    "idle": "green",
    "mixed": "cyan",
    "allocated": "blue",
    "completing": "cyan",
    "draining": "yellow",
    "drained": "bold yellow",
    "down": "bold red",
    "not responding": "bold red",
    "error": "bold red",
    "maint": "magenta",
    "powered down": "dim",
    "future": "dim",
    "unknown": "dim",
}

JOB_STATE_STYLES: dict[str, str] = {
    "RUNNING": "green",
    "PENDING": "yellow",
    "SUSPENDED": "magenta",
    "COMPLETING": "cyan",
    "FAILED": "red",
    "NODE_FAIL": "red",
    "TIMEOUT": "red",
    "CANCELLED": "dim",
    "COMPLETED": "dim",
}

# metric -> (warn, critical) thresholds for colouring current values.
THRESHOLDS: dict[str, tuple[float, float]] = {
    "utilization_pct": (101.0, 101.0),
    "memory_pct": (85.0, 95.0),
    "temperature_c": (80.0, 88.0),
    "power_w": (400.0, 450.0),
}


def state_style(display_state: str) -> str:
    return STATE_STYLES.get(display_state, "")


def threshold_style(metric: str, value: float | None) -> str:
    """'' when fine, 'yellow' over the warning level, 'bold red' over the critical one."""
    if value is None:
        return "dim"
    warn, crit = THRESHOLDS.get(metric, (float("inf"), float("inf")))
    if value >= crit:
        return "bold red"
    if value >= warn:
        return "yellow"
    return ""


def bar(pct: float | None, width: int) -> str:
    """A fixed-width bar; blank-dotted when the value is unknown."""
    if width <= 0:
        return ""
    if pct is None:
        return "·" * width
    return filled_bar(round(max(0.0, min(100.0, pct)) / 100.0 * width), width)


def filled_bar(filled: int | None, width: int) -> str:
    """A bar of `width` cells, `filled` of them full (None: unknown)."""
    if filled is None:
        return "·" * width
    return BAR_FULL * filled + BAR_EMPTY * (width - filled)


def percent(value: float | None) -> str:
    return "  -" if value is None else f"{value:3.0f}"


def sparkline(values: Sequence[float], width: int, low: float = 0.0, high: float = 100.0) -> str:
    """The last `width` values as block characters, right-aligned, scaled to [low, high]."""
    if width <= 0:
        return ""
    tail = list(values)[-width:]
    span = (high - low) or 1.0
    top = len(SPARK_CHARS) - 1
    chars = []
    for value in tail:
        level = round((min(high, max(low, value)) - low) / span * top)
        # The lowest bar, not a blank, for a real zero: blank means "no reading".
        chars.append(SPARK_CHARS[max(1, level)])
    return " " * (width - len(tail)) + "".join(chars)


def age(seconds: float | None) -> str:
    """'4s', '3m', '2h', '5d'; '-' when unknown."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m"
    if seconds < 86400:
        return f"{seconds // 3600:.0f}h"
    return f"{seconds // 86400:.0f}d"


def duration(seconds: float | None) -> str:
    """squeue-style elapsed time: 'M:SS', 'H:MM:SS' or 'D-HH:MM:SS'."""
    if seconds is None:
        return "-"
    total = int(max(0.0, seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def memory_mb(mb: float | None) -> str:
    """Megabytes as a short human figure: '512M', '64G', '1.5T'."""
    if mb is None:
        return "-"
    if mb >= 1024 * 1024:
        return f"{mb / 1024 / 1024:.1f}T"
    if mb >= 1024:
        return f"{mb / 1024:.0f}G"
    return f"{mb:.0f}M"


def money(per_hour: float) -> str:
    if per_hour >= 1000:
        return f"${per_hour:,.0f}/h"
    return f"${per_hour:.2f}/h"


def fraction(used: int, total: int) -> str:
    return f"{used}/{total}"


def styled(text: str, style: str) -> Text:
    return Text(text, style=style) if style else Text(text)


def add_plain_row(table: Table, *cells: RenderableType) -> None:
    """A Rich table row whose strings are shown as written: Rich would read a node reason,
    job name or alert summary holding "[...]" as markup and drop it."""
    table.add_row(*(Text(cell) if isinstance(cell, str) else cell for cell in cells))


def clock_text(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def time_text(ts: float | None, now: float) -> str:
    """A local time and how long ago it was."""
    if ts is None:
        return "-"
    return f"{clock_text(ts)} ({age(now - ts)} ago)" if now >= ts else clock_text(ts)
