"""Every cluster action, whoever asks: a key, the palette, the node detail or the assistant.

One path to the workload manager: request (read-only, nothing selected and bad IDs are
refused with a toast) -> the confirmation dialog -> run (Slurm's failure is a result,
never raised) -> the outcome shown and audited -> on success (`_succeeded`) the targets
re-read from Slurm at once. Keys bind the App's `on_selection` action instead of posting a
message, so the dialog is on screen before a key typed right after reaches anything.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from tui.actions import Action, ActionError, ActionKind, ActionResult, run_reported
from tui.app.action_audit import ActionAudit, AuditLog
from tui.app.screens.confirm import ConfirmActionScreen
from tui.app.screens.jobs import JobsScreen
from tui.app.screens.node_detail import NodeDetailScreen

if TYPE_CHECKING:
    from tui.app.app import ClusterDashApp

# Who asked, as the audit log records it.
KEYBOARD = "keyboard"
AGENT = "agent"
NO_RUNNER = "no workload manager connected"


class ActionsController:
    """Owned by the app: the node and job keys, the palette and the assistant come here."""

    def __init__(self, app: ClusterDashApp) -> None:
        self.app = app
        self.audit = ActionAudit(self._audit_log, app.now, self._notify_error)
        # Every action an operator confirmed in a dialog, in order (the soak test checks
        # that nothing ran that is not here).
        self.confirmed: list[Action] = []

    # ------------------------------------------------------------------ asking

    def on_selection(self, kind: ActionKind) -> None:
        """The action on what the screen shows: this node, the selected nodes or jobs."""
        app = self.app
        screen = app.screen
        if kind.targets_nodes and isinstance(screen, NodeDetailScreen):
            targets = [screen.node]
        elif kind.targets_nodes:
            main = app.main_screen
            targets = main.nodes.targets() if main else []
        elif isinstance(screen, JobsScreen):
            targets = screen.targets()
        else:
            app.notify(
                f"{kind.value}: open the jobs list (j) and select jobs first", severity="warning"
            )
            return
        self.request(kind, targets)

    def request(self, kind: ActionKind, targets: list[str]) -> None:
        """Ask for confirmation, then run; read-only mode refuses with a notification."""
        app = self.app
        if app.readonly:
            app.notify(f"read-only mode: {kind.value} is disabled", severity="warning")
            return
        if not targets:
            app.notify(f"{kind.value}: nothing selected", severity="warning")
            return
        action = Action(kind, tuple(targets))
        if kind is not ActionKind.DRAIN:  # a drain's reason is typed in the dialog
            try:
                action.validate()
            except ActionError as error:
                app.notify(str(error), severity="error")
                return
        app.push_screen(ConfirmActionScreen(action), callback=self._decided)

    def _decided(self, action: Action | None) -> None:
        if action is None:
            self.app.notify("cancelled", timeout=2)
            return
        self.confirmed.append(action)
        self.app.run_worker(self.run(action, KEYBOARD), group="actions")

    async def confirm_and_run(self, action: Action) -> ActionResult | None:
        """The assistant proposed an action: the keyboard's dialog, then the same run.
        None when the operator said no (or the dashboard is read-only)."""
        if self.app.readonly:
            return None
        future: asyncio.Future[Action | None] = asyncio.get_running_loop().create_future()
        self.app.push_screen(ConfirmActionScreen(action), callback=future.set_result)
        decided = await future
        if decided is None:
            return None
        self.confirmed.append(decided)
        return await self.run(decided, AGENT)

    # ------------------------------------------------------------------ running

    async def run(self, action: Action, origin: str) -> ActionResult:
        services = self.app.services
        runner = services.workload if services is not None else None
        if runner is None:
            result = ActionResult(action, False, NO_RUNNER)
        else:
            result = await run_reported(runner, action)
        if result.ok:
            self._show_done(result)
        else:
            self._show_failed(result)
        await self.audit.record(result, origin)
        if result.ok:
            await self._succeeded(result)
        return result

    def _show_done(self, result: ActionResult) -> None:
        app = self.app
        app.notify(f"{result.action.describe()}: {result.message}", title="done")
        main = app.main_screen
        if main is not None:
            main.nodes.clear_selection()
        if isinstance(app.screen, JobsScreen):
            app.screen.selected.clear()

    def _show_failed(self, result: ActionResult) -> None:
        self.app.notify(
            result.message, title=f"{result.action.kind.value} failed", severity="error"
        )

    async def _succeeded(self, result: ActionResult) -> None:
        """After a successful action, shown and audited, whoever asked for it."""
        app = self.app
        if app.services is None or not app.live:
            return
        # Re-read the targets from Slurm now: the result shows without waiting for a poll.
        await app.services.collector.reread(result.action)
        if app.screen_stack:  # not when the app closed meanwhile
            app.apply_latest()

    # ------------------------------------------------------------------ audit

    def _audit_log(self) -> AuditLog | None:
        services = self.app.services
        return services.store if services is not None else None

    def _notify_error(self, message: str) -> None:
        self.app.notify(message, severity="error")
