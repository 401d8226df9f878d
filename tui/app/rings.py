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


Reading = tuple[float | None, ...]


class GpuRings:
    """(node, index) -> the last RING_LENGTH readings (one tuple of METRICS each), oldest first.

    One deque of tuples per GPU, not one deque per metric, found through its node's dict
    (no key tuple per GPU): 8,192 GPUs append in ~3 ms instead of ~20 ms.
    """

    def __init__(self, length: int = RING_LENGTH) -> None:
        self.length = length
        self._rings: dict[str, dict[int, deque[Reading]]] = {}
        self._last_taken_at: float | None = None

    def add(self, gpus: Iterable[Gpu], taken_at: float) -> None:
        """Append each GPU's values once per snapshot time (repeats are ignored)."""
        if self._last_taken_at == taken_at:
            return
        self._last_taken_at = taken_at
        rings = self._rings
        length = self.length
        node: str | None = None
        node_rings: dict[int, deque[Reading]] = {}
        for gpu in gpus:
            if gpu.node != node:  # a snapshot lists each node's GPUs together
                node = gpu.node
                node_rings = rings.get(node) or rings.setdefault(node, {})
            ring = node_rings.get(gpu.index)
            if ring is None:
                ring = node_rings[gpu.index] = deque(maxlen=length)
            used, total = gpu.memory_used_mib, gpu.memory_total_mib
            memory = 100.0 * used / total if used is not None and total else None
            ring.append((gpu.utilization_pct, memory, gpu.temperature_c, gpu.power_w))

    def seed(self, node: str, metric: str, series: Mapping[int, list[tuple[float, float]]]) -> None:
        """Replace a node's rings with history of one metric (the others left unknown)."""
        position = METRICS.index(metric)
        node_rings = self._rings.setdefault(node, {})
        for index, points in series.items():
            ring: deque[Reading] = deque(maxlen=self.length)
            for _, value in points[-self.length :]:
                reading: list[float | None] = [None] * len(METRICS)
                reading[position] = value
                ring.append(tuple(reading))
            node_rings[index] = ring

    def values(self, key: tuple[str, int], metric: str) -> list[float]:
        node, index = key
        ring = self._rings.get(node, {}).get(index)
        if not ring:
            return []
        position = METRICS.index(metric)
        return [value for reading in ring if (value := reading[position]) is not None]
