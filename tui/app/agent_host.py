"""Builds the chat pane's tool context and, when a model endpoint is configured, its session."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.agent.client import AgentClient, ClientSettings
from tui.agent.loop import AgentSession, LoopConfig, confirm_then_run
from tui.agent.tools import ToolContext
from tui.model import ClusterSnapshot

if TYPE_CHECKING:
    from tui.app.app import ClusterDashApp


def build_chat(app: ClusterDashApp) -> tuple[ToolContext, AgentSession | None]:
    settings = app.settings

    def snapshot() -> ClusterSnapshot | None:
        return app.snapshot if app.snapshot.nodes else None

    alerts = app.alert_service
    context = ToolContext(
        snapshot=snapshot,
        history=app.history,
        alerts=alerts.overview if alerts is not None else None,
        log_url=settings.agent.log_url,
        gpu_hourly_price=settings.cluster.gpu_hourly_price,
        readonly=app.readonly,
        clock=app.now,
    )
    client_settings = ClientSettings.from_config(
        settings.agent.base_url, settings.agent.model, settings.agent.timeout
    )
    if not client_settings.configured:
        return context, None
    runner = app.services.workload if app.services else None
    decide = None
    if runner is not None and not app.readonly:
        decide = confirm_then_run(app.confirm_agent_action, runner)
    audit = None
    store = app.services.store if app.services else None
    if store is not None:
        from tui.agent.history import store_audit

        audit = store_audit(store)
    session = AgentSession(
        AgentClient(client_settings),
        context,
        decide=decide,
        audit=audit,
        config=LoopConfig(max_steps=settings.agent.max_steps),
    )
    return context, session
