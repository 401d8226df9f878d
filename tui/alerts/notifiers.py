"""Webhooks: a generic JSON POST and Alertmanager's POST /api/v2/alerts.

`submit()` only queues: delivery (with retries and backoff) runs in its own task,
so a slow or failing webhook never delays evaluation. Failures are recorded.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from loguru import logger

from tui.alerts.engine import AlertState, Transition
from tui.sources.base import backoff_delay
from tui.text import one_line

QUEUE_LIMIT = 1000


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def generic_payload(transitions: Sequence[Transition], cluster: str) -> dict[str, Any]:
    return {
        "version": 1,
        "cluster": cluster,
        "alerts": [
            {
                "rule": t.alert.rule,
                "target": t.alert.target,
                "severity": t.alert.severity.value,
                "state": t.alert.state.value,
                "value": t.alert.value,
                "summary": t.alert.summary,
                "description": t.alert.description,
                "labels": dict(t.alert.labels),
                "active_since": _iso(t.alert.active_since),
                "fired_at": _iso(t.alert.fired_at),
                "resolved_at": _iso(t.alert.resolved_at),
            }
            for t in transitions
        ],
    }


def alertmanager_payload(transitions: Sequence[Transition], cluster: str) -> list[dict[str, Any]]:
    """Alertmanager v2 postable alerts; resolved ones carry endsAt."""
    alerts = []
    for t in transitions:
        labels = {k: v for k, v in t.alert.labels.items() if v}
        labels |= {
            "alertname": t.alert.rule,
            "severity": t.alert.severity.value,
            "target": t.alert.target,
            "cluster": cluster,
        }
        alert: dict[str, Any] = {
            "labels": labels,
            "annotations": {"summary": t.alert.summary, "description": t.alert.description},
            "startsAt": _iso(t.alert.fired_at or t.alert.active_since),
        }
        if t.alert.state is AlertState.RESOLVED:
            alert["endsAt"] = _iso(t.alert.resolved_at)
        alerts.append(alert)
    return alerts


@dataclass
class DeliveryStatus:
    delivered: int = 0
    failed: int = 0
    last_error: str | None = None


class WebhookNotifier:
    def __init__(
        self,
        url: str,
        *,
        kind: str = "generic",
        cluster: str = "cluster",
        retries: int = 4,
        backoff_s: float = 1.0,
        timeout_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if kind not in ("generic", "alertmanager"):
            raise ValueError(f"unknown webhook kind {kind!r}")
        self.url = url.rstrip("/") + "/api/v2/alerts" if kind == "alertmanager" else url
        self.kind = kind
        self.cluster = cluster
        self.retries = retries
        self.backoff_s = backoff_s
        self.status = DeliveryStatus()
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._queue: asyncio.Queue[list[Transition]] = asyncio.Queue(QUEUE_LIMIT)
        self._rng = random.Random()

    def submit(self, transitions: Sequence[Transition]) -> None:
        if not transitions:
            return
        if self._queue.full():
            dropped = self._queue.get_nowait()
            self.status.failed += len(dropped)
            logger.warning("webhook {} queue full: dropped {} alerts", self.url, len(dropped))
        self._queue.put_nowait(list(transitions))

    def _payload(self, transitions: Sequence[Transition]) -> Any:
        if self.kind == "alertmanager":
            return alertmanager_payload(transitions, self.cluster)
        return generic_payload(transitions, self.cluster)

    async def deliver(self, transitions: Sequence[Transition]) -> bool:
        payload = self._payload(transitions)
        for attempt in range(self.retries + 1):
            try:
                response = await self._client.post(self.url, json=payload)
                if response.status_code < 300:
                    self.status.delivered += len(transitions)
                    return True
                error = f"HTTP {response.status_code}"
                retryable = response.status_code >= 500 or response.status_code == 429
            except httpx.HTTPError as exc:
                error, retryable = one_line(exc), True
            self.status.last_error = f"{self.url}: {error}"
            if not retryable or attempt == self.retries:
                break
            await asyncio.sleep(backoff_delay(attempt + 1, self.backoff_s, self._rng))
        self.status.failed += len(transitions)
        logger.warning("webhook delivery failed: {}", self.status.last_error)
        return False

    async def run(self) -> None:
        while True:
            batch = await self._queue.get()
            try:
                await self.deliver(batch)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until everything queued has been tried (tests, shutdown)."""
        await self._queue.join()

    async def aclose(self) -> None:
        await self._client.aclose()
