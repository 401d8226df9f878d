"""Where the MCP server reads the cluster: `open_cluster_reader` is the one place to change.

Today it collects in-process with the same wiring as `clusterdash snapshot` (sources,
collector) and keeps collecting on the configured intervals while the server runs. GPU
history and alerts come from what `clusterdash collect` recorded in the history database;
with no database yet, alerts come from an alert engine of its own (it sends no webhooks).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass, field, replace
from functools import partial

from loguru import logger

from tui.actions import Action, ActionResult, ActionRunner, current_user
from tui.agent.tool_context import AlertsProvider
from tui.alerts.persistence import AlertRepository
from tui.alerts.service import AlertService, stored_overview
from tui.config import Settings
from tui.model import ClusterSnapshot
from tui.services import Services, build_alerting, build_services
from tui.sources.base import GpuHistory
from tui.store import Store, StoreError

AUDIT_ORIGIN = "mcp"


@dataclass
class ClusterReader:
    """The live cluster for the MCP tools, and where their actions run and are audited."""

    settings: Settings
    services: Services
    # Read-only: GPU history and alerts recorded by `clusterdash collect`, when it has run.
    recorded: Store | None = None
    live_alerts: AlertService | None = None
    _first_cycle: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _collecting: asyncio.Task[None] | None = field(default=None, init=False)

    def start(self) -> None:
        """Collect from now on, every source on its own interval (the first cycle at once)."""
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
            await self.services.collector.run()
        except Exception:  # the last snapshot stays, its sources' health ages
            logger.exception("collector stopped")
        finally:
            self._first_cycle.set()

    async def ready(self, timeout_s: float) -> None:
        """Wait (at most timeout_s) for the first collection cycle; tools then answer."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self._first_cycle.wait(), timeout_s)

    async def refresh(self) -> None:
        """A collection cycle now, so an action's effect shows in the next answer."""
        try:
            await self.services.collector.collect_once()
        except Exception:
            logger.exception("refresh after an action failed")

    def latest(self) -> ClusterSnapshot | None:
        return self.services.collector.latest if self._first_cycle.is_set() else None

    @property
    def history(self) -> GpuHistory | None:
        return self.services.history or self.recorded

    @property
    def alerts(self) -> AlertsProvider | None:
        if self.recorded is not None:
            return partial(stored_overview, AlertRepository(self.recorded))
        return self.live_alerts.overview if self.live_alerts is not None else None

    @property
    def runner(self) -> ActionRunner | None:
        return self.services.workload

    async def audit(self, action: Action, result: ActionResult) -> None:
        """One audit row, origin "mcp", as the user who started the server."""
        store = await Store.open(self.settings.store_path)
        try:
            await store.add_audit(
                user=current_user(),
                origin=AUDIT_ORIGIN,
                action=action.kind.value,
                targets=list(action.targets),
                ok=result.ok,
                reason=action.reason,
                message=result.message,
            )
        finally:
            await store.close()

    async def aclose(self) -> None:
        if self._collecting is not None:
            self._collecting.cancel()
            with suppress(asyncio.CancelledError):
                await self._collecting
        if self.recorded is not None:
            await self.recorded.close()
        await self.services.aclose()


async def open_cluster_reader(settings: Settings, mode: str) -> ClusterReader:
    """The cluster the MCP tools read, collecting from now on; the caller closes it."""
    services = await build_services(settings, mode, with_store=False)
    reader = ClusterReader(settings, services)
    try:
        if settings.store_path.exists():
            try:
                reader.recorded = await Store.open(settings.store_path, readonly=True)
            except StoreError as error:
                logger.warning("recorded history and alerts unavailable: {}", error)
        if reader.recorded is None:
            hooks_off = replace(settings.alerts, webhook_url="", alertmanager_url="")
            reader.live_alerts = await build_alerting(
                replace(settings, alerts=hooks_off), None, services.cluster_name, services.closers
            )
            services.collector.subscribe(reader.live_alerts.on_snapshot)
    except BaseException:
        await reader.aclose()
        raise
    reader.start()
    return reader
