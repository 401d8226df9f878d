"""Short in-memory history per GPU, fed by snapshots, for the sparklines."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from tui.model import Gpu

METRICS: tuple[str, ...] = ("utilization_pct", "memory_pct", "temperature_c", "power_w")
METRIC_LABELS: dict[str, str] = {
    "utilization_pct": "util %",
    "memory_pct": "mem %",
    "temperature_c": "temp °C",
    "power_w": "power W",
}
# Scale of each metric's sparkline.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "utilization_pct": (0.0, 100.0),
    "memory_pct": (0.0, 100.0),
    "temperature_c": (20.0, 95.0),
    "power_w": (0.0, 500.0),
}
RING_LENGTH = 40


def metric_value(gpu: Gpu, metric: str) -> float | None:
    if metric == "memory_pct":
        return gpu.memory_pct
    value = getattr(gpu, metric, None)
    return value if isinstance(value, int | float) else None


Ring = deque[float | None]


class GpuRings:
    """(node, index) -> the last RING_LENGTH readings of METRICS, oldest first.

    One flat deque per GPU holding each reading's METRICS in turn, found through its node's
    dict (no key tuple per GPU). No tuple is kept per reading: full rings for 7,560 GPUs
    take 21 MB instead of 40 MB, and a snapshot's readings give the garbage collector
    nothing new to scan.
    """

    def __init__(self, length: int = RING_LENGTH) -> None:
        self.length = length
        self._rings: dict[str, dict[int, Ring]] = {}
        self._last_taken_at: float | None = None

    def _new_ring(self) -> Ring:
        return deque(maxlen=self.length * len(METRICS))

    def add(self, gpus: Iterable[Gpu], taken_at: float) -> None:
        """Append each GPU's values once per snapshot time (repeats are ignored)."""
        if self._last_taken_at == taken_at:
            return
        self._last_taken_at = taken_at
        rings = self._rings
        node: str | None = None
        node_rings: dict[int, Ring] = {}
        for gpu in gpus:
            if gpu.node != node:  # a snapshot lists each node's GPUs together
                node = gpu.node
                node_rings = rings.get(node) or rings.setdefault(node, {})
            ring = node_rings.get(gpu.index)
            if ring is None:
                ring = node_rings[gpu.index] = self._new_ring()
            used, total = gpu.memory_used_mib, gpu.memory_total_mib
            memory = 100.0 * used / total if used is not None and total else None
            ring.extend((gpu.utilization_pct, memory, gpu.temperature_c, gpu.power_w))

    def seed(self, node: str, metric: str, series: Mapping[int, list[tuple[float, float]]]) -> None:
        """Replace a node's rings with history of one metric (the others left unknown)."""
        position = METRICS.index(metric)
        node_rings = self._rings.setdefault(node, {})
        for index, points in series.items():
            ring = self._new_ring()
            for _, value in points[-self.length :]:
                reading: list[float | None] = [None] * len(METRICS)
                reading[position] = value
                ring.extend(reading)
            node_rings[index] = ring

    def values(self, key: tuple[str, int], metric: str) -> list[float]:
        node, index = key
        ring = self._rings.get(node, {}).get(index)
        if not ring:
            return []
        readings = list(ring)[METRICS.index(metric) :: len(METRICS)]
        return [value for value in readings if value is not None]
