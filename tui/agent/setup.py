"""Building the agent's parts from Settings: every host (TUI, CLI, MCP server) calls these."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

from tui.agent.client import AgentClient, ClientSettings, check_health
from tui.agent.history import Conversation, store_audit
from tui.agent.loop import AgentSession, DecisionCallback, LoopConfig
from tui.agent.tool_context import AlertsProvider, ToolContext
from tui.config import Settings
from tui.model import ClusterSnapshot, SourceHealth
from tui.sources.base import GpuHistory
from tui.store import Store


def client_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> ClientSettings:
    """[agent] base_url/model/timeout plus the API key from the environment only."""
    return ClientSettings.from_config(
        base_url=settings.agent.base_url,
        model=settings.agent.model,
        timeout_s=settings.agent.timeout,
        environ=os.environ if environ is None else environ,
    )


async def endpoint_health(settings: Settings) -> SourceHealth:
    """GET /models on the configured endpoint, as the "agent" source's health."""
    return await check_health(client_settings(settings))


def tool_context(
    settings: Settings,
    snapshot: Callable[[], ClusterSnapshot | None],
    history: GpuHistory | None = None,
    alerts: AlertsProvider | None = None,
    *,
    readonly: bool | None = None,
    clock: Callable[[], float] = time.time,
) -> ToolContext:
    """What the tools read; `readonly` defaults to the settings' own."""
    return ToolContext(
        snapshot=snapshot,
        history=history,
        alerts=alerts,
        log_url=settings.agent.log_url,
        gpu_hourly_price=settings.cluster.gpu_hourly_price,
        readonly=settings.readonly if readonly is None else readonly,
        clock=clock,
    )


def make_session(
    settings: Settings,
    context: ToolContext,
    *,
    decide: DecisionCallback | None = None,
    store: Store | None = None,
    conversation: Conversation | None = None,
) -> AgentSession | None:
    """A session that audits executed actions in the store and saves into `conversation`;
    None when no model endpoint is configured."""
    client = client_settings(settings)
    if not client.configured:
        return None
    return AgentSession(
        AgentClient(client),
        context,
        decide=decide,
        audit=store_audit(store) if store is not None else None,
        recorder=conversation.record if conversation is not None else None,
        config=LoopConfig(max_steps=settings.agent.max_steps),
    )
