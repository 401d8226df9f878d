"""Builds the chat pane's tool context and, when a model endpoint is configured, its session.

An action the model proposes takes the keyboard's path (the app's ActionsController):
the same dialog, runner, toast and audit row (origin "agent").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.agent.loop import AgentSession
from tui.agent.setup import make_session
from tui.agent.tool_context import ToolContext
from tui.model import ClusterSnapshot

if TYPE_CHECKING:
    from tui.app.app import ClusterDashApp


def build_chat(app: ClusterDashApp) -> tuple[ToolContext, AgentSession | None]:
    def snapshot() -> ClusterSnapshot | None:
        return app.snapshot if app.snapshot.nodes else None

    alerts = app.alert_service
    context = ToolContext.from_settings(
        app.settings,
        snapshot,
        app.history,
        alerts.overview if alerts is not None else None,
        readonly=app.readonly,
        clock=app.now,
    )
    services = app.services
    decide = None
    if services is not None and services.workload is not None and not app.readonly:
        decide = app.actions_ui.confirm_and_run
    # No store: the controller writes the audit row, as for every other action.
    return context, make_session(app.settings, context, decide=decide)
