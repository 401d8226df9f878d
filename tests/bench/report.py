"""Benchmark figures and their targets: printed, never asserted.

`make bench` collects the `BENCH <name> <value> <unit>` lines; a figure that misses its
target also gets a `MISS <name> ...` line, and the run still passes so that every figure
is reported on any machine.
"""

from __future__ import annotations


def bench(
    name: str,
    value: float,
    unit: str,
    *,
    at_most: float | None = None,
    at_least: float | None = None,
    digits: int = 3,
) -> bool:
    """Print one figure; returns whether it meets its target (True when it has none)."""
    print(f"\nBENCH {name} {value:.{digits}f} {unit}", flush=True)
    missed = (at_most is not None and value > at_most) or (
        at_least is not None and value < at_least
    )
    if missed:
        bound = f"<= {at_most:g}" if at_most is not None else f">= {at_least:g}"
        print(f"MISS {name} {value:.{digits}f} {unit} (target {bound})", flush=True)
    return not missed


def ratio(name: str, value: float, baseline: float, baseline_name: str) -> None:
    """A figure against a baseline measured in the same run (value / baseline)."""
    factor = value / baseline if baseline else float("inf")
    print(f"BENCH {name}_vs_{baseline_name} {factor:.2f} ratio", flush=True)
