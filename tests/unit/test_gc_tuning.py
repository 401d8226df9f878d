"""The collector-friendly GC settings are applied and taken back."""

from __future__ import annotations

import gc

from tui.gc_tuning import CALM_THRESHOLDS, calm_gc


def test_calm_gc_freezes_raises_thresholds_and_restores() -> None:
    before = gc.get_threshold()
    restore = calm_gc()
    try:
        assert gc.get_threshold() == CALM_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        restore()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
