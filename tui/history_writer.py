"""Writes each GPU reading to the history store once, stamped with the time it was taken.

A failing GPU source leaves its last reading in every snapshot the collector publishes
(shown as stale); writing those again would store stale readings as new history. While
the store cannot be written (damaged pages, a full disk) the readings wait in memory, up
to a bound, and are written in order once it recovers. The store's health is reported as
the "store" source of every snapshot, and logged once per change of state.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Protocol

from loguru import logger

from tui.model import ClusterSnapshot, SourceHealth
from tui.text import one_line

STORE_SOURCE = "store"
# About an hour of a 64-node cluster (512 GPUs every 5 s); the oldest go first past it.
DEFAULT_MAX_BUFFERED_ROWS = 400_000


class SnapshotSink(Protocol):
    def write_snapshot(self, snapshot: ClusterSnapshot) -> Awaitable[int]: ...


class HistoryWriter:
    def __init__(
        self,
        store: SnapshotSink,
        *,
        max_buffered_rows: int = DEFAULT_MAX_BUFFERED_ROWS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._max_rows = max(1, max_buffered_rows)
        self._clock = clock
        self._pending: deque[ClusterSnapshot] = deque()
        self._pending_rows = 0
        self._dropped_rows = 0
        self._last_taken_at: float | None = None
        self._lock = asyncio.Lock()
        self.health = SourceHealth(name=STORE_SOURCE, ok=True)

    @property
    def buffered_rows(self) -> int:
        return self._pending_rows

    def report(self) -> SourceHealth:
        return self.health

    async def on_snapshot(self, snapshot: ClusterSnapshot) -> None:
        """Queue the snapshot's GPU reading if it is new, then write what is queued."""
        taken_at = snapshot.gpus_taken_at
        if (
            taken_at is not None
            and snapshot.gpus
            and (self._last_taken_at is None or taken_at > self._last_taken_at)
        ):
            self._last_taken_at = taken_at
            self._queue(replace(snapshot, taken_at=taken_at))
        async with self._lock:
            await self._flush()

    def _queue(self, snapshot: ClusterSnapshot) -> None:
        self._pending.append(snapshot)
        self._pending_rows += len(snapshot.gpus)
        while self._pending_rows > self._max_rows and len(self._pending) > 1:
            dropped = self._pending.popleft()
            self._pending_rows -= len(dropped.gpus)
            if not self._dropped_rows:
                logger.warning(
                    "history database still failing: dropping the oldest readings kept in "
                    "memory (over {} rows)",
                    self._max_rows,
                )
            self._dropped_rows += len(dropped.gpus)

    async def _flush(self) -> None:
        if not self._pending:
            return
        attempt = self._clock()
        started = time.perf_counter()
        written = 0
        while self._pending:
            snapshot = self._pending[0]
            try:
                await self._store.write_snapshot(snapshot)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the store failing must never stop the collector
                self._failed(attempt, one_line(error))
                return
            self._pending.popleft()
            self._pending_rows -= len(snapshot.gpus)
            written += 1
        self._recovered(attempt, time.perf_counter() - started, written)

    def _failed(self, attempt: float, message: str) -> None:
        if self.health.ok or self.health.last_error != message:
            logger.error("{} (keeping readings in memory until it can be written)", message)
        self.health = self.health.failed(attempt, message)

    def _recovered(self, attempt: float, latency_s: float, written: int) -> None:
        if not self.health.ok:
            dropped = f"; {self._dropped_rows} older rows dropped" if self._dropped_rows else ""
            logger.info(
                "history database writable again: wrote {} kept readings{}", written, dropped
            )
        self._dropped_rows = 0
        self.health = self.health.succeeded(attempt, latency_s)
