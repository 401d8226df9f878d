"""Builds the chat pane's tool context and, when a model endpoint is configured, its session."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.agent.loop import AgentSession, confirm_then_run
from tui.agent.setup import make_session
from tui.agent.tool_context import ToolContext
from tui.collector import RereadingRunner
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
    runner = services.workload if services else None
    decide = None
    if runner is not None and not app.readonly:
        if services is not None and app.live:
            runner = RereadingRunner(runner, services.collector)
        decide = confirm_then_run(app.confirm_agent_action, runner)
    store = services.store if services else None
    return context, make_session(app.settings, context, decide=decide, store=store)
