"""What the agent's tools read (ToolContext) and how they refuse (ToolError)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from tui.config import Settings
from tui.model import ClusterSnapshot
from tui.sources.base import GpuHistory


class ToolError(Exception):
    """A tool cannot answer; the message is one line the model (or user) can act on."""


class AlertsView(Protocol):
    """What the alerting module exposes: alerts firing now, and recent ones."""

    @property
    def active(self) -> Sequence[object]: ...

    @property
    def history(self) -> Sequence[object]: ...


AlertsProvider = Callable[[], "AlertsView | Awaitable[AlertsView]"]


@dataclass(frozen=True)
class ToolContext:
    """Everything the tools read. Built once by the host; cheap to share."""

    snapshot: Callable[[], ClusterSnapshot | None]
    history: GpuHistory | None = None
    alerts: AlertsProvider | None = None
    # vLLM log server, e.g. http://head:8002 (GET /logs?lines=N).
    log_url: str = ""
    gpu_hourly_price: float = 1.89
    readonly: bool = False
    idle_threshold_pct: float = 5.0
    clock: Callable[[], float] = field(default=time.time)
    # Injected for tests or connection reuse; one short-lived client per call otherwise.
    http: httpx.AsyncClient | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        snapshot: Callable[[], ClusterSnapshot | None],
        history: GpuHistory | None = None,
        alerts: AlertsProvider | None = None,
        *,
        readonly: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> ToolContext:
        """What every host's tools read; `readonly` defaults to the settings' own."""
        return cls(
            snapshot=snapshot,
            history=history,
            alerts=alerts,
            log_url=settings.agent.log_url,
            gpu_hourly_price=settings.cluster.gpu_hourly_price,
            readonly=settings.readonly if readonly is None else readonly,
            clock=clock,
        )

    def require_snapshot(self) -> ClusterSnapshot:
        snap = self.snapshot()
        if snap is None:
            raise ToolError("no cluster data yet: the collector has not completed a cycle")
        return snap
