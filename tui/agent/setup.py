"""Building the agent's parts from Settings: the host (TUI, CLI) calls these."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from tui.agent.client import AgentClient, ClientSettings
from tui.agent.history import Conversation, store_audit
from tui.agent.loop import AgentSession, DecisionCallback, LoopConfig
from tui.agent.tools import AlertsProvider, ToolContext
from tui.config import Settings
from tui.model import ClusterSnapshot
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


def tool_context(
    settings: Settings,
    snapshot: Callable[[], ClusterSnapshot | None],
    history: GpuHistory | None = None,
    alerts: AlertsProvider | None = None,
) -> ToolContext:
    return ToolContext(
        snapshot=snapshot,
        history=history,
        alerts=alerts,
        log_url=settings.agent.log_url,
        gpu_hourly_price=settings.cluster.gpu_hourly_price,
        readonly=settings.readonly,
    )


def make_session(
    settings: Settings,
    context: ToolContext,
    *,
    decide: DecisionCallback | None = None,
    store: Store | None = None,
    conversation: Conversation | None = None,
) -> AgentSession:
    """A session that audits executed actions in the store and saves into `conversation`."""
    return AgentSession(
        AgentClient(client_settings(settings)),
        context,
        decide=decide,
        audit=store_audit(store) if store is not None else None,
        recorder=conversation.record if conversation is not None else None,
        config=LoopConfig(max_steps=settings.agent.max_steps),
    )
