"""`clusterdash report`: read the history database read-only and print the usage report."""

from __future__ import annotations

import sys

from tui.config import Settings
from tui.durations import parse_duration
from tui.mode import store_path_for
from tui.store import Store, StoreError
from tui.usage_report import build_report, check_format, render


def parse_since(text: str) -> float:
    """'7d' -> seconds; a clear ValueError (exit 2) for anything else."""
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise ValueError(f"--since: {error}") from None
    if seconds <= 0:
        raise ValueError(f"--since {text!r}: must be longer than 0")
    return seconds


async def report_command(settings: Settings, mode: str, since: str, fmt: str) -> int:
    since_s = parse_since(since)
    check_format(fmt)
    path = store_path_for(settings, mode)
    if not path.exists():
        raise StoreError(
            f"no history at {path} yet: `clusterdash collect` (or the dashboard) records it"
        )
    store = await Store.open(path, readonly=True)
    try:
        report = await build_report(store, since_s, settings.cluster.gpu_hourly_price)
    finally:
        await store.close()
    sys.stdout.write(render(report, fmt) + "\n")
    return 0
