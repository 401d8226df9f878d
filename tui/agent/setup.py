"""Building the assistant from Settings: its model client and its session, for every host."""

from __future__ import annotations

import os
from collections.abc import Mapping

from tui.agent.client import AgentClient, ClientSettings, check_health
from tui.agent.history import Conversation, store_audit
from tui.agent.loop import AgentSession, DecisionCallback, LoopConfig
from tui.agent.tool_context import ToolContext
from tui.config import Settings
from tui.model import SourceHealth
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
