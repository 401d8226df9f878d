"""The collector-friendly GC settings are applied and taken back."""

from __future__ import annotations

import gc

import pytest

from tui.gc_tuning import CALM_THRESHOLDS, calm_gc, gc_paused


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


def test_gc_paused_collects_nothing_inside_and_restores_the_collector_after() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("a bad snapshot")
    assert gc.isenabled(), "re-enabled even when decoding failed"
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled(), "a process that had it off keeps it off"
    finally:
        gc.enable()
