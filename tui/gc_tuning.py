"""Garbage-collector settings for a process that handles big snapshots on one event loop.

Each 1,024-node snapshot allocates ~100k objects; with Python's default thresholds
(700, 10, 10) a full collection (~90-150 ms at that size) runs almost every snapshot and
stalls the loop. Freezing the long-lived start-up objects and collecting less often
brings full collections down to a few ms and makes them rare.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

CALM_THRESHOLDS = (20_000, 20, 100)


def calm_gc() -> Callable[[], None]:
    """Freeze what exists now and raise the thresholds; returns what restores the defaults."""
    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*CALM_THRESHOLDS)

    def restore() -> None:
        gc.set_threshold(*previous)
        gc.unfreeze()

    return restore


@contextmanager
def gc_paused() -> Iterator[None]:
    """No collection while a big snapshot is built: its ~100k new objects are all live, so
    collections in between (several full ones with the default thresholds) find nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
