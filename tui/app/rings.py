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


class GpuRings:
    """(node, index) -> metric -> the last RING_LENGTH values, oldest first."""

    def __init__(self, length: int = RING_LENGTH) -> None:
        self.length = length
        self._rings: dict[tuple[str, int], dict[str, deque[float]]] = {}
        self._last_taken_at: float | None = None

    def _ring(self, key: tuple[str, int], metric: str) -> deque[float]:
        by_metric = self._rings.get(key)
        if by_metric is None:
            by_metric = self._rings[key] = {}
        ring = by_metric.get(metric)
        if ring is None:
            ring = by_metric[metric] = deque(maxlen=self.length)
        return ring

    def add(self, gpus: Iterable[Gpu], taken_at: float) -> None:
        """Append each GPU's values once per snapshot time (repeats are ignored)."""
        if self._last_taken_at == taken_at:
            return
        self._last_taken_at = taken_at
        for gpu in gpus:
            key = gpu.key
            for metric in METRICS:
                value = metric_value(gpu, metric)
                if value is not None:
                    self._ring(key, metric).append(value)

    def seed(self, node: str, metric: str, series: Mapping[int, list[tuple[float, float]]]) -> None:
        """Replace a node's rings for one metric with history (oldest first)."""
        for index, points in series.items():
            ring = self._ring((node, index), metric)
            ring.clear()
            ring.extend(value for _, value in points[-self.length :])

    def values(self, key: tuple[str, int], metric: str) -> list[float]:
        ring = self._rings.get(key, {}).get(metric)
        return list(ring) if ring else []

    def forget_missing(self, present: set[tuple[str, int]]) -> None:
        for key in [k for k in self._rings if k not in present]:
            del self._rings[key]
