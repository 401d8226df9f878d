"""What every source provides, and the retry/health bookkeeping they share.

Sources know protocols, not screens: each has a `fetch()` coroutine that returns
model objects or raises SourceError with one readable line. The collector wraps
each source in a Poller that applies the timeout, backoff and health tracking.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tui.actions import ActionRunner
from tui.model import EMPTY_MAPPING, Gpu, Job, Node

BACKOFF_CAP_S = 30.0


class SourceError(Exception):
    """A source failed; str(error) is one line an operator can act on."""


@dataclass(frozen=True, slots=True)
class GpuReading:
    gpus: tuple[Gpu, ...]
    # target (node name or URL) -> one-line error, for targets that failed this cycle.
    errors: Mapping[str, str] = field(default_factory=lambda: EMPTY_MAPPING)


@dataclass(frozen=True, slots=True)
class SlurmState:
    nodes: tuple[Node, ...]
    jobs: tuple[Job, ...]
    version: str = ""


class GpuSource(Protocol):
    name: str

    async def fetch(self) -> GpuReading: ...

    async def aclose(self) -> None: ...


class WorkloadSource(ActionRunner, Protocol):
    """Slurm, real or simulated: its state, and the actions it accepts."""

    name: str

    async def fetch(self) -> SlurmState: ...


@runtime_checkable
class NodeAndJobReader(Protocol):
    """A workload source that can read a few named nodes or jobs without a whole fetch."""

    async def read_nodes(self, names: Sequence[str]) -> tuple[Node, ...]: ...

    async def read_jobs(self, job_ids: Sequence[str]) -> tuple[Job, ...]: ...


def backoff_delay(
    failures: int, base_s: float, rng: random.Random, cap_s: float = BACKOFF_CAP_S
) -> float:
    """Delay before the next try after `failures` consecutive failures.

    Exponential from the source's interval, "full-ish" jitter (50-100 %), never over the cap.
    """
    if failures <= 0:
        return base_s
    return min(cap_s, base_s * 2 ** (failures - 1)) * rng.uniform(0.5, 1.0)


# GPU index -> [(unix time, value), ...] oldest first, at most max_points per series.
GpuSeries = Mapping[int, list[tuple[float, float]]]

# Metric names a history query accepts: Gpu field names.
HISTORY_METRICS = ("utilization_pct", "memory_used_mib", "memory_pct", "temperature_c", "power_w")


class GpuHistory(Protocol):
    """Where per-GPU history comes from: the store, or Prometheus when that is the GPU source."""

    async def gpu_history(
        self, node: str, metric: str, start: float, end: float, max_points: int
    ) -> GpuSeries: ...
