"""Where the MCP server reads the cluster: `open_cluster_reader` is the one place to change.

Like a dashboard, it attaches to the running `clusterdash collect` when there is one
(snapshots, history and alerts from the collector; audit rows go to it), else collects
in-process with the same wiring as the dashboard. Actions always run here, as the user who
started the server.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass, field

from loguru import logger

from tui.actions import Action, ActionResult, ActionRunner, audit_record, current_user
from tui.agent.tool_context import AlertsProvider
from tui.config import Settings
from tui.mode import Mode, store_path_for
from tui.model import ClusterSnapshot
from tui.services import Services, attach_or_build
from tui.sources.base import GpuHistory
from tui.store import Store

AUDIT_ORIGIN = "mcp"


@dataclass
class ClusterReader:
    """The live cluster for the MCP tools, and where their actions run and are audited."""

    settings: Settings
    services: Services
    _first_cycle: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _collecting: asyncio.Task[None] | None = field(default=None, init=False)

    def start(self) -> None:
        """Collect (or follow the collector) from now on; the first cycle at once."""
        self.services.collector.subscribe(self._note_first_cycle)
        self._collecting = asyncio.create_task(self._collect(), name="mcp-collect")

    def _note_first_cycle(self, snapshot: ClusterSnapshot) -> None:
        """The first snapshot in which every source has answered or failed once."""
        pollers = self.services.collector.pollers()
        if all(snapshot.health[p.name].last_attempt is not None for p in pollers):
            self._first_cycle.set()
            self.services.collector.unsubscribe(self._note_first_cycle)

    async def _collect(self) -> None:
        try:
            await self.services.run_background()
        except Exception:  # the last snapshot stays, its sources' health ages
            logger.exception("collector stopped")
        finally:
            self._first_cycle.set()

    async def ready(self, timeout_s: float) -> None:
        """Wait (at most timeout_s) for the first collection cycle; tools then answer."""
        if self._first_cycle.is_set():
            return  # no waiting task on every call once the first cycle is in
        with suppress(TimeoutError):
            await asyncio.wait_for(self._first_cycle.wait(), timeout_s)

    async def reread(self, action: Action) -> None:
        """Re-read what an action acted on from Slurm now, so its effect shows in the next
        answer (Slurm only: a slow GPU exporter does not hold the answer back)."""
        try:
            await self.services.collector.reread(action)
        except Exception:
            logger.exception("re-reading after {} failed", action.describe())

    def latest(self) -> ClusterSnapshot | None:
        return self.services.collector.latest if self._first_cycle.is_set() else None

    @property
    def history(self) -> GpuHistory | None:
        return self.services.history

    @property
    def alerts(self) -> AlertsProvider | None:
        alerts = self.services.alerts
        return alerts.overview if alerts is not None else None

    @property
    def runner(self) -> ActionRunner | None:
        return self.services.workload

    async def audit(self, action: Action, result: ActionResult) -> None:
        """One audit row, origin "mcp", as the user who started the server."""
        row = audit_record(result, AUDIT_ORIGIN, current_user())
        store = self.services.store
        if store is not None and (self.services.writer or self.services.via):
            await store.add_audit(row)
            return
        # Another process writes the history: one row is still this server's to record.
        own = await Store.open(store_path_for(self.settings, self.services.mode))
        try:
            await own.add_audit(row)
        finally:
            await own.close()

    async def aclose(self) -> None:
        if self._collecting is not None:
            self._collecting.cancel()
            with suppress(asyncio.CancelledError):
                await self._collecting
        await self.services.aclose()


async def open_cluster_reader(settings: Settings, mode: Mode) -> ClusterReader:
    """The cluster the MCP tools read, collecting from now on; the caller closes it."""
    reader = ClusterReader(settings, await attach_or_build(settings, mode))
    reader.start()
    return reader
