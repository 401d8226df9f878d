"""The agent chat pane: a transcript and an input line. Slash commands need no model."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from rich.markdown import Markdown
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, RichLog, Static

from tui.agent.events import (
    ActionDecided,
    ActionProposed,
    Failed,
    Finished,
    TextDelta,
    ToolCallStarted,
)

if TYPE_CHECKING:
    # The model client pulls in openai (~0.8 s of imports): loaded after the first paint.
    from tui.agent.loop import AgentSession
    from tui.agent.tools import ToolContext

HOW_TO_CONFIGURE = (
    "no model endpoint: set [agent] base_url (and model) in config.toml or "
    "CLUSTERDASH_AGENT_BASE_URL; slash commands work without one (/help)"
)


class ChatPane(Vertical, can_focus=False):
    DEFAULT_CSS = """
    ChatPane { height: 1fr; }
    ChatPane RichLog { height: 1fr; background: $surface; }
    ChatPane #chat-live { height: auto; max-height: 6; color: $text-muted; }
    ChatPane Input { dock: bottom; }
    """
    BINDINGS = [Binding("escape", "stop", "Stop answer", show=False)]

    def __init__(
        self,
        context: ToolContext | None = None,
        session: AgentSession | None = None,
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.context = context
        self.session = session
        self._live = ""

    def compose(self) -> ComposeResult:
        yield RichLog(id="chat-log", wrap=True, markup=False, auto_scroll=True)
        yield Static("", id="chat-live", markup=False)
        yield Input(placeholder="ask, or /help for commands", id="chat-input")

    def on_mount(self) -> None:
        self.query_one(RichLog).write(Text(HOW_TO_CONFIGURE, style="yellow"))

    def configure(self, context: ToolContext, session: AgentSession | None) -> None:
        self.context = context
        self.session = session
        if session is not None:
            model = session.client.model
            self.query_one(RichLog).write(Text(f"assistant ready: {model}", style="green"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        event.input.value = ""
        if not text:
            return
        log = self.query_one(RichLog)
        log.write(Text(f"> {text}", style="bold"))
        self.answer(text)

    @work(exclusive=True, group="chat")
    async def answer(self, text: str) -> None:
        log = self.query_one(RichLog)
        live = self.query_one("#chat-live", Static)
        if self.context is None:
            log.write(Text("not connected to the cluster yet", style="yellow"))
            return
        from tui.agent.slash import is_slash, run_slash

        if is_slash(text):
            result = await run_slash(self.context, text)
            log.write(
                Markdown(result.markdown) if result.ok else Text(result.markdown, style="red")
            )
            return
        if self.session is None:
            log.write(Text(HOW_TO_CONFIGURE, style="yellow"))
            return
        parts: list[str] = []
        try:
            async for agent_event in self.session.ask(text):
                match agent_event:
                    case TextDelta():
                        parts.append(agent_event.text)
                        live.update("".join(parts)[-400:])
                    case ToolCallStarted():
                        log.write(Text(f"  ⚙ {agent_event.name} {agent_event.arguments}", "dim"))
                    case ActionProposed():
                        log.write(Text(f"  proposed: {agent_event.action.describe()}", "yellow"))
                    case ActionDecided():
                        log.write(Text(f"  {agent_event.message}", "cyan"))
                    case Finished():
                        log.write(Markdown(agent_event.text or "".join(parts)))
                    case Failed():
                        log.write(Text(f"error: {agent_event.error}", style="red"))
        except asyncio.CancelledError:
            log.write(Text("(stopped)", style="dim"))
            raise
        finally:
            live.update("")

    def action_stop(self) -> None:
        self.workers.cancel_group(self, "chat")
