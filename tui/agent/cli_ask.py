"""`clusterdash ask "question"`: one streamed answer on stdout; actions only described."""

from __future__ import annotations

import sys
from functools import partial
from typing import TextIO

from loguru import logger

from tui.actions import Action
from tui.agent.client import HOW_TO_CONFIGURE, AgentClient, ClientSettings
from tui.agent.events import ActionProposed, Failed, Finished, TextDelta, ToolCallStarted
from tui.agent.loop import AgentSession, LoopConfig
from tui.agent.setup import client_settings
from tui.agent.tool_context import ToolContext
from tui.alerts.persistence import AlertRepository
from tui.alerts.service import stored_overview
from tui.config import Settings
from tui.store import Store, StoreError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


async def ask_main(
    question: str,
    context: ToolContext,
    client_settings: ClientSettings,
    out: TextIO,
    *,
    config: LoopConfig | None = None,
    show_tools: bool = False,
) -> int:
    """Stream one answer to `out`; 0 on success, 1 when the model failed, 2 for no question."""
    if not question.strip():
        out.write('error: no question given, e.g. clusterdash ask "why is job 42 pending?"\n')
        return EXIT_USAGE
    client = AgentClient(client_settings)
    # No decision callback: proposed actions are described, never run, from the CLI.
    session = AgentSession(client, context, config=config)
    ends_with_newline = True
    try:
        async for event in session.ask(question):
            text = ""
            gap = "" if ends_with_newline else "\n"
            match event:
                case TextDelta():
                    text = event.text
                case ToolCallStarted() if show_tools:
                    text = f"{gap}> {event.name} {event.arguments}\n"
                case ActionProposed():
                    text = (
                        f"\n[proposed: {event.action.describe()}; not run: actions are only "
                        f"described here; commands: {_commands(event.action)}]\n"
                    )
                case Finished():
                    if not ends_with_newline:
                        out.write("\n")
                    out.flush()
                    return EXIT_OK
                case Failed():
                    hint = "" if client_settings.configured else f"\n{HOW_TO_CONFIGURE}"
                    out.write(f"{gap}error: {event.error}{hint}\n")
                    out.flush()
                    return EXIT_FAILED
            if text:
                out.write(text)
                out.flush()
                ends_with_newline = text.endswith("\n")
    finally:
        await client.aclose()
    return EXIT_FAILED  # pragma: no cover - the loop always ends with Finished or Failed


def _commands(action: Action) -> str:
    return "; ".join(" ".join(command) for command in action.argv())


async def ask_command(settings: Settings, mode: str, question: str) -> int:
    """`clusterdash ask`: one collection cycle, then one streamed answer on stdout."""
    from tui.mode import store_path_for
    from tui.services import build_services

    services = await build_services(settings, mode, with_store=False)
    store: Store | None = None
    try:
        snapshot = await services.collector.collect_once()
        history = services.history
        alerts = None
        store_path = store_path_for(settings, mode)
        if store_path.exists():
            try:
                store = await Store.open(store_path, readonly=True)
            except StoreError as error:
                logger.warning("history and alerts unavailable: {}", error)
        if store is not None:
            history = history or store
            repository = AlertRepository(store)
            alerts = partial(stored_overview, repository)
        context = ToolContext.from_settings(settings, lambda: snapshot, history, alerts)
        config = LoopConfig(max_steps=settings.agent.max_steps)
        return await ask_main(
            question, context, client_settings(settings), sys.stdout, config=config
        )
    finally:
        if store is not None:
            await store.close()
        await services.aclose()
