"""The Textual App: builds services, runs the collector in a worker, applies snapshots.

Snapshots arrive from the collector on the app's own loop; they are applied to the
screen at most once per refresh interval, and not at all while a modal or another
screen hides the main one (the next visible tick catches up).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from loguru import logger
from textual import on, work
from textual.app import App, ScreenStackError
from textual.binding import Binding
from textual.notifications import Notify, SeverityLevel
from textual.screen import Screen

from tui.actions import ActionKind, ActionRunner
from tui.app.actions_ui import ActionsController
from tui.app.alerts_ui import AlertsController
from tui.app.chat_setup import ChatSetup
from tui.app.commands import ClusterCommands
from tui.app.errors import ContainedErrors
from tui.app.first_paint import exit_after_first_paint, first_paint_message
from tui.app.messages import NodeOpenRequested
from tui.app.persistence import UiState, load_ui_state, save_ui_state
from tui.app.rings import METRICS, GpuRings
from tui.app.screens.help import HelpScreen
from tui.app.screens.jobs import JobDetailScreen, JobsScreen
from tui.app.screens.main import MainScreen
from tui.app.screens.node_detail import NodeDetailScreen
from tui.app.snapshot_view import SnapshotView
from tui.app.toast_hold import HeldToast, ToastHold, is_dialog
from tui.app.widgets.alert_feed import AlertFeed
from tui.collector import Collector
from tui.config import Settings
from tui.gc_tuning import calm_gc, gc_paused
from tui.mode import Mode
from tui.model import ClusterSnapshot
from tui.sources.base import GpuHistory
from tui.text import one_line

TICK_S = 1.0
# A burst of results (a batch drain, alerts firing) must not bury an 80x24 screen.
MAX_TOASTS = 4


class AppServices(Protocol):
    """What the app needs from tui.services.Services (tests pass their own)."""

    settings: Settings
    collector: Collector
    workload: ActionRunner | None
    history: GpuHistory | None
    store: Any
    cluster_name: str

    @property
    def demo(self) -> bool: ...

    async def run_background(self) -> None: ...

    async def aclose(self) -> None: ...


ServicesFactory = Callable[[Settings, str], Awaitable[AppServices]]


async def _default_factory(settings: Settings, mode: Mode) -> AppServices:
    from tui.services import attach_or_build

    return await attach_or_build(settings, mode)


class ClusterDashApp(ContainedErrors, App[int]):
    """The hub: owns the services, the newest snapshot, the GPU rings and the UI state.

    - snapshots: the collector's snapshots reach whichever SnapshotView is on screen
    - alerts: AlertFeed's Open/Ack/SilenceRequested go to the AlertsController (alerts_ui)
    - GPUs pane: the sparkline metric and the rings' history seeding
    - navigation: help, jobs, node (NodeOpenRequested) and job detail
    - actions: every node and job key, the palette and the agent go through the
      ActionsController (actions_ui): confirm dialog, runner, toast, audit log
    - chat: the assistant is built off the UI loop once services exist (ChatSetup)
    """

    TITLE = "clusterdash"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {ClusterCommands}
    BINDINGS = [
        Binding("question_mark", "help", "Help", tooltip="this list of keys"),
        # ctrl+p too: Textual adds its own only when nothing else opens the palette.
        Binding(
            "colon,ctrl+p",
            "command_palette",
            "Command palette",
            show=False,
            tooltip="jump to a node or job, run an action, theme, refresh",
        ),
        Binding(
            "ctrl+r", "refresh_now", "Refresh now", show=False, tooltip="retry failing sources"
        ),
        Binding("q", "quit", "Quit", tooltip="the terminal is restored"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        settings: Settings,
        mode: Mode = Mode.DEMO,
        *,
        services_factory: ServicesFactory | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        live: bool = True,
        state_path: Path | None = None,
        contain_errors: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.mode = mode
        self.services_factory = services_factory or _default_factory
        self.now = clock
        self.monotonic = monotonic
        self.live = live
        self.state_path = state_path
        self.ui_state: UiState = load_ui_state(state_path)
        self.services: AppServices | None = None
        self.snapshot = ClusterSnapshot(taken_at=clock())
        self.rings = GpuRings()
        self.refresh_s = float(settings.ui.refresh)
        self._dirty = False
        self._last_apply: float | None = None
        self._busy_frame: int | None = None
        self._first_paint_done = False
        self._seeded: set[tuple[str, str]] = set()
        self._restore_gc: Callable[[], None] | None = None
        self.alerts_ui = AlertsController(self)
        self.actions_ui = ActionsController(self)
        self.chat_setup = ChatSetup(self)
        self.contain_errors = contain_errors
        self.last_ui_error: str | None = None
        self._toast_hold = ToastHold(MAX_TOASTS)

    # ------------------------------------------------------------------ properties

    @property
    def readonly(self) -> bool:
        return self.settings.readonly

    @property
    def demo(self) -> bool:
        return self.services.demo if self.services else self.mode == Mode.DEMO

    @property
    def cluster_name(self) -> str:
        if self.services:
            return self.services.cluster_name
        return self.settings.cluster.name or self.mode

    @property
    def history(self) -> GpuHistory | None:
        return self.services.history if self.services else None

    @property
    def main_screen(self) -> MainScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    # ------------------------------------------------------------------ lifecycle

    async def on_mount(self) -> None:
        if self.ui_state.theme and self.ui_state.theme in self.available_themes:
            self.theme = self.ui_state.theme
        elif self.settings.ui.theme in self.available_themes:
            self.theme = self.settings.ui.theme
        self._install_hangup_handler()
        self.screen_change_signal.subscribe(self, self._toasts_follow_screen, immediate=True)
        # Services start while the screen is built: a viewer's first snapshot is on its way
        # (the collector encodes it, the socket carries it) during the screen's first layout.
        starting = asyncio.ensure_future(self.services_factory(self.settings, self.mode))
        await self.push_screen(MainScreen())
        try:
            self.services = await starting
        except Exception as error:
            logger.exception("could not start services")
            self.exit(return_code=1, message=f"clusterdash: cannot start: {one_line(error)}")
            return
        self.services.collector.subscribe(self._on_snapshot)
        self.alerts_ui.attach()
        self.chat_setup.start()
        if self.live:
            self.run_worker(self.services.run_background(), name="collector", group="collector")
        else:
            await self.services.collector.collect_once()
        self.set_interval(TICK_S, self._tick)

    async def on_unmount(self) -> None:
        if self._restore_gc is not None:  # leave the process as we found it
            self._restore_gc()
        if self.services is not None:
            self.services.collector.unsubscribe(self._on_snapshot)
            self.workers.cancel_group(self, "collector")
            await self.services.aclose()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every toast is plain text: node reasons, rule names, paths and Slurm's errors hold
        brackets that Rich would read as markup (and drop)."""
        logger.info("toast: {}{}", f"{title}: " if title else "", message)
        if is_dialog(self.screen_stack[-1] if self.screen_stack else None):
            self._toast_hold.hold(HeldToast(message, title, severity, timeout))
            return
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def _toasts_follow_screen(self, screen: Screen[object]) -> None:
        """A dialog on top: the toasts on screen wait with the new ones; gone: all show."""
        if is_dialog(screen):
            for notification in list(self._notifications):
                self._toast_hold.hold(HeldToast.of(notification))
                self._unnotify(notification, refresh=False)
            self._refresh_notifications()
            return
        for toast in self._toast_hold.release():
            super().notify(
                toast.message,
                title=toast.title,
                severity=toast.severity,
                timeout=toast.timeout,
                markup=False,
            )

    def on_notify(self, event: Notify) -> None:
        """At most MAX_TOASTS on screen: the oldest go first (they stay in the log)."""
        shown = list(self._notifications)
        for old in shown[: max(0, len(shown) - (MAX_TOASTS - 1))]:
            self._unnotify(old, refresh=False)

    def _handle_exception(self, error: Exception) -> None:
        """Errors Textual would exit on (workers, timers): shown and logged instead."""
        if isinstance(error, ScreenStackError) and not self._screen_stack:
            # Keys still queued while the app closes find no screen: nothing to do.
            logger.debug("input after the last screen closed: {}", one_line(error))
            return
        if not self.contain_error(error):
            super()._handle_exception(error)

    def contain_error(self, error: Exception) -> bool:
        """A bug in a widget or worker: one line in the status bar and the log, not an exit."""
        if not self.contain_errors or not self.is_running or self.return_code is not None:
            return False
        logger.opt(exception=error).error("unexpected error in the dashboard")
        self.last_ui_error = one_line(error)
        try:
            self._show_status()
        except Exception:  # the status bar itself is broken: the log has it
            logger.exception("cannot show the error in the status bar")
        return True

    def _install_hangup_handler(self) -> None:
        """The SSH connection dropped: exit cleanly rather than die mid-write."""
        # Not possible off the main thread or on Windows; ctrl+c still works there.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._hangup)

    def _hangup(self) -> None:
        logger.info("terminal hung up; exiting")
        self.exit(return_code=0)

    # ------------------------------------------------------------------ snapshots

    def _on_snapshot(self, snapshot: ClusterSnapshot) -> None:
        self.snapshot = snapshot
        self._dirty = True
        if self._last_apply is None:
            self.apply_latest()

    def _tick(self) -> None:
        last = self._last_apply
        if self._dirty and (last is None or self.monotonic() - last >= self.refresh_s - 0.05):
            self.apply_latest()
        else:
            self._show_status()

    def countdown_s(self) -> float | None:
        if self._last_apply is None:
            return None
        return max(0.0, self.refresh_s - (self.monotonic() - self._last_apply))

    def _show_status(self) -> None:
        main = self.main_screen
        if main is not None and self.screen is main:
            main.show_status(self.snapshot, self.countdown_s(), self._busy_frame)

    def apply_latest(self) -> None:
        """Apply the newest snapshot to whatever screen is showing (nothing under a modal)."""
        if self._first_paint_done:
            self._apply(self.snapshot)
        else:
            with gc_paused():  # the first apply creates every row and ring: see tui/gc_tuning
                self._apply(self.snapshot)

    def _apply(self, snapshot: ClusterSnapshot) -> None:
        self.rings.add(snapshot.gpus, snapshot.taken_at)
        screen = self.screen
        if not isinstance(screen, SnapshotView):
            return  # a modal is open: keep dirty, catch up when it closes
        screen.apply_snapshot(snapshot)
        self._dirty = False
        self._last_apply = self.monotonic()
        self._show_status()
        if not self._first_paint_done and snapshot.nodes:
            self._first_paint_done = True
            self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        # Once the start-up objects (Textual, the first rows) exist: see tui/gc_tuning.
        self._restore_gc = calm_gc()
        if exit_after_first_paint():
            self.exit(return_code=0, message=first_paint_message())

    def catch_up(self) -> None:
        """A screen came back into view: apply what arrived while it was hidden."""
        if self._dirty:
            self.call_after_refresh(self.apply_latest)

    # ------------------------------------------------------------------ alerts

    @property
    def alert_service(self) -> Any:
        return getattr(self.services, "alerts", None) if self.services else None

    @on(AlertFeed.OpenRequested)
    def _alert_open_requested(self, event: AlertFeed.OpenRequested) -> None:
        self.alerts_ui.open_detail(event.row)

    @on(AlertFeed.AckRequested)
    def _alert_ack_requested(self, event: AlertFeed.AckRequested) -> None:
        self.alerts_ui.acknowledge_row(event.row)

    @on(AlertFeed.SilenceRequested)
    def _alert_silence_requested(self, event: AlertFeed.SilenceRequested) -> None:
        self.alerts_ui.silence_row(event.row)

    # ------------------------------------------------------------------ GPUs pane

    def node_highlighted(self, node: str | None) -> None:
        main = self.main_screen
        if main is not None:
            main.refresh_gpus()
        if node is not None:
            self._seed_rings(node, self.ui_state.gpu_metric)

    def cycle_metric(self) -> None:
        position = METRICS.index(self.ui_state.gpu_metric)
        self.update_ui_state(gpu_metric=METRICS[(position + 1) % len(METRICS)])
        main = self.main_screen
        if main is not None:
            node = main.nodes.current_node()
            if node:
                self._seed_rings(node, self.ui_state.gpu_metric)
            main.refresh_gpus()

    @work(group="seed", exclusive=True)
    async def _seed_rings(self, node: str, metric: str) -> None:
        """Fill a node's sparklines from history the first time it is looked at."""
        if (node, metric) in self._seeded or self.history is None:
            return
        self._seeded.add((node, metric))
        end = self.now()
        try:
            series = await self.history.gpu_history(
                node, metric, end - 40 * self.refresh_s * 3, end, self.rings.length
            )
        except Exception as error:
            logger.debug("no sparkline history for {}: {}", node, one_line(error))
            return
        if any(series.values()):
            self.rings.seed(node, metric, series)
            main = self.main_screen
            if main is not None:
                main.refresh_gpus()

    # ------------------------------------------------------------------ UI state

    def update_ui_state(self, **changes: Any) -> None:
        self.ui_state = replace(self.ui_state, **changes)
        save_ui_state(self.ui_state, self.state_path)

    def watch_theme(self, theme: str) -> None:
        if theme != self.ui_state.theme:
            self.update_ui_state(theme=theme)

    def set_theme(self, name: str) -> None:
        self.theme = name

    def set_refresh(self, seconds: float) -> None:
        self.refresh_s = seconds
        pollers = self.services.collector.pollers() if self.services is not None else []
        if pollers and self.services is not None:
            self.services.collector.set_interval(pollers[-1].name, seconds)
        self.notify(f"refreshing every {seconds:g}s")

    # ------------------------------------------------------------------ navigation

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_jobs(self) -> None:
        if not isinstance(self.screen, JobsScreen):
            self.push_screen(JobsScreen())

    def open_node(self, node: str) -> None:
        main = self.main_screen
        if main is not None:
            main.nodes.select_node(node)
        self.push_screen(NodeDetailScreen(node))

    @on(NodeOpenRequested)
    def _node_open_requested(self, event: NodeOpenRequested) -> None:
        self.open_node(event.node)

    def open_job(self, job_id: str) -> None:
        job = self.snapshot.job_by_id.get(job_id)
        if job is not None:
            self.push_screen(JobDetailScreen(job, self.now()))

    def action_refresh_now(self) -> None:
        self._refresh_now()

    @work(group="refresh", exclusive=True)
    async def _refresh_now(self) -> None:
        if self.services is None:
            return
        self._busy_frame = 0
        spinner = self.set_interval(0.1, self._spin)
        try:
            await self.services.collector.collect_once()
        finally:
            spinner.stop()
            self._busy_frame = None
        self.apply_latest()

    def _spin(self) -> None:
        if self._busy_frame is not None:
            self._busy_frame += 1
            self._show_status()

    # ------------------------------------------------------------------ actions

    def action_on_selection(self, kind: str) -> None:
        """Every node and job action key (bound as `app.on_selection('<kind>')`)."""
        self.actions_ui.on_selection(ActionKind(kind))
