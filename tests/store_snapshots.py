"""Synthetic GPU snapshots for the history store's tests and benchmarks: every reading moves
from one cycle to the next, so each write and rollup has real work."""

from __future__ import annotations

from tui.model import ClusterSnapshot, Gpu


def gpu_snapshot(
    ts: float, cycle: int, nodes: int = 1024, gpus_per_node: int = 8
) -> ClusterSnapshot:
    """`nodes` nodes of `gpus_per_node` GPUs taken at `ts`, their readings varied by `cycle`."""
    return ClusterSnapshot(
        taken_at=ts,
        gpus=tuple(
            Gpu(
                node=f"gpu-{n:04d}",
                index=i,
                utilization_pct=float((n + i + cycle) % 101),
                memory_used_mib=float(1000 + 37 * ((n * i + cycle) % 2000)),
                memory_total_mib=81920.0,
                temperature_c=40.0 + (n + cycle) % 45,
                power_w=100.0 + 3.5 * ((i + cycle) % 100),
                sm_clock_mhz=1410.0,
            )
            for n in range(nodes)
            for i in range(gpus_per_node)
        ),
    )
