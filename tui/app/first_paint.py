"""The first-paint mark that install and attach benchmarks read from outside the process.

With CLUSTERDASH_EXIT_AFTER_FIRST_PAINT set, the dashboard exits once the first cluster
data is on screen and prints `FIRST_PAINT <seconds since the process started>`.
"""

from __future__ import annotations

import os
import time

import tui

FIRST_PAINT_ENV = "CLUSTERDASH_EXIT_AFTER_FIRST_PAINT"


def exit_after_first_paint() -> bool:
    return bool(os.environ.get(FIRST_PAINT_ENV))


def first_paint_message() -> str:
    return f"FIRST_PAINT {process_age_s():.3f}"


def process_age_s() -> float:
    """Seconds since this process started (boot-relative, so immune to clock offsets)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat, open("/proc/uptime") as up:
            fields = stat.read().rsplit(")", 1)[1].split()
            started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
            return float(up.read().split()[0]) - started
    except (OSError, ValueError, IndexError):  # no /proc: from when the package was imported
        return time.monotonic() - tui.IMPORTED_AT
