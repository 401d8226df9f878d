"""The agent chat pane: a streamed transcript and a multi-line input. Slash commands need no
model; conversations are saved in the store and can be listed, resumed and exported."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from tui.agent.events import (
    ActionDecided,
    ActionProposed,
    AgentEvent,
    Failed,
    ReasoningDelta,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from tui.app.screens.conversations import ConversationChoice, ConversationsScreen
from tui.app.widgets.chat_input import ChatInput
from tui.app.widgets.chat_transcript import (
    FLUSH_INTERVAL_S,
    Note,
    ReplyView,
    ToolCallView,
    Transcript,
)
from tui.config import data_dir
from tui.text import one_line

if TYPE_CHECKING:
    # The model client pulls in openai (~0.8 s of imports): loaded after the first paint.
    from tui.agent.history import ChatHistory, Conversation
    from tui.agent.loop import AgentSession
    from tui.agent.tool_context import ToolContext

HOW_TO_CONFIGURE = (
    "no model endpoint: set [agent] base_url (and model) in config.toml or "
    "CLUSTERDASH_AGENT_BASE_URL; slash commands work without one (/help)"
)
PLACEHOLDER = "ask, or /help · enter sends · shift+enter / ctrl+j new line · ↑↓ history"
BUSY_HINT = "answering… esc stops"


def export_path(conversation_id: int) -> Path:
    """Where an exported conversation goes: the XDG data dir, else the current directory."""
    name = f"conversation-{conversation_id}.md"
    folder = data_dir() / "chats"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Path.cwd() / name
    return folder / name


class ChatPane(Vertical, can_focus=False):
    DEFAULT_CSS = """
    ChatPane { height: 1fr; }
    ChatPane #chat-status { height: auto; color: $text-muted; display: none; }
    ChatPane #chat-status.-busy { display: block; }
    ChatPane ChatInput { dock: bottom; }
    """
    BINDINGS = [
        Binding(
            "escape",
            "stop",
            "Stop answer",
            show=False,
            tooltip="with none running, back to the nodes table",
        ),
        Binding("ctrl+n", "new_conversation", "New conversation", show=False),
        Binding(
            "ctrl+o",
            "conversations",
            "Conversations",
            show=False,
            tooltip="resume one, export it as Markdown, or start a new one",
        ),
    ]

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
        self.chats: ChatHistory | None = None
        self.conversation: Conversation | None = None

    def compose(self) -> ComposeResult:
        yield Transcript(id="chat-log")
        yield Static(BUSY_HINT, id="chat-status", markup=False)
        yield ChatInput(id="chat-input", placeholder=PLACEHOLDER)

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def busy(self) -> bool:
        return any(w.is_running for w in self.workers if w.group == "chat")

    # ------------------------------------------------------------------ setup

    def configure(self, context: ToolContext, session: AgentSession | None) -> None:
        """Called once the app's services exist; `session` is None without a model endpoint."""
        self.context = context
        self.session = session
        store = getattr(getattr(self.app, "services", None), "store", None)
        if store is not None:
            from tui.agent.history import ChatHistory

            self.chats = ChatHistory(store)
            self._record_into(self.chats.new())
        if session is None:
            self._note(HOW_TO_CONFIGURE, "yellow")
            return
        mode = " (read-only: no actions)" if context.readonly else ""
        self._note(f"assistant ready: {session.client.model}{mode}", "green")

    def _record_into(self, conversation: Conversation) -> None:
        self.conversation = conversation
        if self.session is not None:
            self.session.recorder = conversation.record

    def _note(self, text: str, style: str = "") -> None:
        self.transcript.mount(Note(text, style))

    # ------------------------------------------------------------------ asking

    def on_chat_input_submitted(self, event: ChatInput.Submitted) -> None:
        event.stop()
        if self.busy:
            self._note("an answer is in progress: esc stops it", "yellow")
            return
        self.answer(event.text)

    @work(exclusive=True, group="chat")
    async def answer(self, text: str) -> None:
        transcript = self.transcript
        await transcript.user(text)
        if self.context is None:
            await transcript.note("not connected to the cluster yet", "yellow")
            return
        from tui.agent.slash import is_slash, run_slash

        if is_slash(text):
            result = await run_slash(self.context, text)
            if result.ok:
                await transcript.markdown(result.markdown)
            else:
                await transcript.note(result.markdown, "red")
            return
        if self.session is None:
            await transcript.note(HOW_TO_CONFIGURE, "yellow")
            return
        await self._stream_answer(self.session, text, await transcript.reply())

    async def _stream_answer(self, session: AgentSession, text: str, reply: ReplyView) -> None:
        status = self.query_one("#chat-status")
        status.add_class("-busy")
        # The timer only queues a flush: stopping it must not cancel one half-way through
        # (its text, already taken from the queue, would never be shown).
        timer = self.set_interval(FLUSH_INTERVAL_S, lambda: self.call_later(reply.flush))
        try:
            async for event in session.ask(text):
                await self._show(reply, event)
        except asyncio.CancelledError:
            timer.stop()
            with suppress(Exception):
                await reply.add_block(Note("(stopped)", "dim"))
            raise
        finally:
            timer.stop()
            status.remove_class("-busy")
            with suppress(Exception):
                await reply.finish()

    async def _show(self, reply: ReplyView, event: AgentEvent) -> None:
        match event:
            case TextDelta():
                reply.add_text(event.text)
            case ReasoningDelta():
                reply.add_reasoning(event.text)
            case ToolCallStarted():
                await reply.add_block(ToolCallView(event.id, event.name, event.arguments))
            case ToolCallFinished():
                reply.tool_finished(event.id, event.result_preview, event.full_result, event.error)
            case ActionProposed():
                note = f"proposed: {event.action.describe()}; waiting for your decision"
                await reply.add_block(Note(note, "yellow"))
            case ActionDecided():
                ok = event.result is not None and event.result.ok
                await reply.add_block(Note(event.message, "green" if ok else "yellow"))
            case Failed():
                await reply.add_block(Note(f"error: {event.error}", "red"))

    def action_stop(self) -> None:
        """Esc: stop the answer in progress; with none, leave the chat for the nodes table."""
        if any(w.group == "chat" and w.is_running for w in self.workers):
            self.workers.cancel_group(self, "chat")
            return
        for nodes in self.screen.query("#nodes"):
            nodes.focus()

    # ------------------------------------------------------------------ conversations

    def action_new_conversation(self) -> None:
        self.new_conversation()

    def action_conversations(self) -> None:
        self.open_conversations()

    async def _stop_answer(self) -> None:
        """Stop a running answer and wait until the session has saved what it had."""
        running = [w for w in self.workers if w.group == "chat" and w.is_running]
        for worker in running:
            worker.cancel()
        for worker in running:
            with suppress(Exception):
                await worker.wait()

    @work(exclusive=True, group="chat-switch")
    async def new_conversation(self) -> None:
        await self._stop_answer()
        if self.session is not None:
            self.session.reset()
        if self.chats is not None:
            self._record_into(self.chats.new())
        await self.transcript.clear()
        await self.transcript.note("new conversation", "dim")

    @work(group="chat-history")
    async def open_conversations(self) -> None:
        if self.chats is None:
            self.notify("conversations need the history store", severity="warning")
            return
        conversations = await self.chats.list()
        self.app.push_screen(ConversationsScreen(conversations), callback=self._chosen)

    def _chosen(self, choice: ConversationChoice | None) -> None:
        if choice is None:
            return
        if choice.verb == "new":
            self.new_conversation()
        elif choice.verb == "resume" and choice.conversation_id is not None:
            self.resume(choice.conversation_id)
        elif choice.verb == "export" and choice.conversation_id is not None:
            self.export(choice.conversation_id)

    @work(exclusive=True, group="chat-switch")
    async def resume(self, conversation_id: int) -> None:
        if self.chats is None:
            return
        await self._stop_answer()
        try:
            conversation, messages = await self.chats.resume(conversation_id)
        except LookupError as error:
            self.notify(str(error), severity="error")
            return
        if self.session is not None:
            self.session.reset(messages)
        self._record_into(conversation)
        chat_input = self.query_one(ChatInput)
        for message in messages:
            if message.get("role") == "user":
                chat_input.sent.add(str(message.get("content") or ""))
        await self.transcript.clear()
        await self.transcript.note(f"resumed: {conversation.title}", "dim")
        await self.transcript.replay(messages)

    @work(group="chat-history")
    async def export(self, conversation_id: int) -> Path | None:
        if self.chats is None:
            return None
        try:
            markdown = await self.chats.export_markdown(conversation_id)
            path = export_path(conversation_id)
            await asyncio.to_thread(path.write_text, markdown, encoding="utf-8")
        except (LookupError, OSError) as error:
            self.notify(f"export failed: {one_line(error)}", severity="error")
            return None
        self.notify(f"conversation exported to {path}", title="exported")
        return path


def palette_entries(app: Any) -> list[tuple[str, Callable[[], object], str]]:
    """Command palette entries for conversations: (title, callback, help)."""

    def pane() -> ChatPane | None:
        main = getattr(app, "main_screen", None)
        return main.query_one(ChatPane) if main is not None else None

    def run(method: str) -> Callable[[], object]:
        def call() -> object:
            chat = pane()
            return getattr(chat, method)() if chat is not None else None

        return call

    return [
        (
            "Chat: conversations",
            run("open_conversations"),
            "list saved conversations: resume, export as Markdown, start new",
        ),
        ("Chat: new conversation", run("new_conversation"), "start over with an empty chat"),
    ]
