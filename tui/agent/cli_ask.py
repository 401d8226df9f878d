"""`clusterdash ask "question"`: one streamed answer on stdout; actions only described.

Errors (no model configured, the model failing) go to stderr as one line each.
"""

from __future__ import annotations

import shlex
import sys
from functools import partial
from typing import TextIO

from loguru import logger

from tui.actions import Action
from tui.agent.client import BASE_URL_ENV, AgentClient, ClientSettings
from tui.agent.events import ActionProposed, Failed, Finished, TextDelta, ToolCallStarted
from tui.agent.loop import AgentSession, LoopConfig
from tui.agent.setup import client_settings
from tui.agent.tool_context import ToolContext
from tui.alerts.persistence import AlertRepository
from tui.alerts.service import stored_overview
from tui.config import Settings
from tui.exit_codes import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from tui.mode import Mode
from tui.store import Store, StoreError

NO_MODEL = (
    "clusterdash: no model configured: set agent.base_url in config.toml "
    f"(or {BASE_URL_ENV}) to an OpenAI-compatible endpoint"
)


async def ask_main(
    question: str,
    context: ToolContext,
    client_settings: ClientSettings,
    out: TextIO,
    *,
    config: LoopConfig | None = None,
    show_tools: bool = False,
    err: TextIO | None = None,
) -> int:
    """Stream one answer to `out`; 0 on success, 1 when the model failed, 2 for bad usage.

    Usage errors and the model's failures are one line each on `err` (stderr).
    """
    err = sys.stderr if err is None else err
    if not question.strip():
        err.write('clusterdash: no question given, e.g. clusterdash ask "why is job 42 pending?"\n')
        return EXIT_USAGE
    if not client_settings.configured:
        err.write(NO_MODEL + "\n")
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
                    if not ends_with_newline:
                        out.write("\n")
                    out.flush()
                    err.write(f"clusterdash: {event.error}\n")
                    return EXIT_FAILURE
            if text:
                out.write(text)
                out.flush()
                ends_with_newline = text.endswith("\n")
    finally:
        await client.aclose()
    return EXIT_FAILURE  # pragma: no cover - the loop always ends with Finished or Failed


def _commands(action: Action) -> str:
    """Quoted as a shell reads them: a model-written reason cannot become a second command."""
    return "; ".join(shlex.join(command) for command in action.argv())


async def ask_command(settings: Settings, mode: Mode, question: str) -> int:
    """`clusterdash ask`: the running collector's snapshot (else one collection cycle here),
    then one streamed answer on stdout."""
    from tui.collect_client import CollectorUnavailable, attached_snapshot
    from tui.mode import store_path_for

    model = client_settings(settings)
    if not model.configured:
        sys.stderr.write(NO_MODEL + "\n")
        return EXIT_USAGE
    store: Store | None = None
    try:
        attached = await attached_snapshot(settings, mode)
    except CollectorUnavailable as error:
        sys.stderr.write(f"clusterdash: {error}\n")
        return EXIT_FAILURE
    services = None
    try:
        if attached is not None:
            snapshot, store_path = attached
            history = None
        else:
            from tui.services import build_services

            services = await build_services(settings, mode, with_store=False)
            snapshot = await services.collector.collect_once()
            history, store_path = services.history, store_path_for(settings, mode)
        alerts = None
        if store_path is not None and store_path.exists():
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
        return await ask_main(question, context, model, sys.stdout, config=config)
    finally:
        if store is not None:
            await store.close()
        if services is not None:
            await services.aclose()
