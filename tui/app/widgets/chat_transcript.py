"""The chat transcript: questions, streamed Markdown answers, folded reasoning and tool calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Collapsible, Markdown, Static

from tui.text import one_line

# A fast model sends hundreds of tokens a second; the Markdown view is updated at most this
# often so parsing and layout never starve the UI loop.
FLUSH_INTERVAL_S = 0.05
TITLE_ARGS_CHARS = 60
REASONING_TITLE = "reasoning"


def compact_arguments(arguments: str) -> str:
    """Tool-call arguments as `key=value, ...` when they are a JSON object, else as sent."""
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return arguments
    if not isinstance(parsed, dict):
        return arguments
    return ", ".join(f"{key}={value}" for key, value in parsed.items())


class Note(Static):
    """One line from the pane itself (hints, errors, action outcomes)."""

    DEFAULT_CSS = "Note { margin: 0 0 0 1; }"

    def __init__(self, text: str, style: str = "") -> None:
        super().__init__(Text(text, style=style), markup=False)
        self.plain = text


class UserEntry(Static):
    DEFAULT_CSS = "UserEntry { margin: 1 0 0 0; text-style: bold; }"

    def __init__(self, text: str) -> None:
        super().__init__(Text("> " + text.replace("\n", "\n  ")), markup=False)
        self.plain = text


class ReasoningView(Collapsible):
    """The model's reasoning, folded by default."""

    def __init__(self) -> None:
        self.body = Static("", markup=False, classes="reasoning-text")
        super().__init__(self.body, title=REASONING_TITLE, collapsed=True)
        self.text = ""

    def extend(self, text: str) -> None:
        self.text += text
        self.body.update(Text(self.text, style="dim italic"))


class ToolCallView(Collapsible):
    """One tool call: name and arguments at once; the result preview, expandable, when done."""

    def __init__(self, call_id: str, name: str, arguments: str) -> None:
        self.call_id = call_id
        self.tool_name = name
        self.arguments = arguments
        self.body = Static(Text(f"arguments: {arguments or '{}'}", style="dim"), markup=False)
        self.preview = ""
        self.full_result = ""
        self.error: str | None = None
        self.done = False
        super().__init__(self.body, title=self._heading("…"), collapsed=True)

    def _heading(self, tail: str) -> str:
        arguments = one_line(compact_arguments(self.arguments), TITLE_ARGS_CHARS)
        return f"⚙ {self.tool_name}({arguments}) {tail}"

    def finish(self, preview: str, full_result: str, error: str | None) -> None:
        self.preview, self.full_result, self.error, self.done = preview, full_result, error, True
        self.title = self._heading(f"✗ {error}" if error else f"→ {preview}")
        self.body.update(
            Text.assemble(
                (f"arguments: {self.arguments or '{}'}\n", "dim"),
                (full_result, "red" if error else ""),
            )
        )


class ReplyView(Vertical):
    """One answer as it streams: Markdown text, reasoning and tool calls in arrival order.

    Deltas are buffered and written out by `flush()`, which the pane calls every
    FLUSH_INTERVAL_S and before anything structural (a tool call, the end). Each write is
    one awaited Markdown.append under the lock, never two at once: Textual's MarkdownStream
    stops by cancelling a write mid-way and then appending the rest beside it, and two
    overlapping appends can lose the answer's last blocks.
    """

    DEFAULT_CSS = """
    ReplyView { height: auto; }
    ReplyView Markdown { margin: 0; padding: 0 1; }
    ReplyView Collapsible { padding-bottom: 0; border-top: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending: list[tuple[str, str]] = []  # (kind, text), consecutive kinds merged
        self._markdown: Markdown | None = None
        self._current: Markdown | ReasoningView | None = None
        self._lock = asyncio.Lock()
        self.tools: dict[str, ToolCallView] = {}
        self.text = ""
        # Markdown writes so far: with batching, far fewer than the deltas received.
        self.writes = 0

    def add_text(self, text: str) -> None:
        self._queue("text", text)

    def add_reasoning(self, text: str) -> None:
        self._queue("reasoning", text)

    def _queue(self, kind: str, text: str) -> None:
        if self._pending and self._pending[-1][0] == kind:
            self._pending[-1] = (kind, self._pending[-1][1] + text)
        else:
            self._pending.append((kind, text))

    async def flush(self) -> None:
        async with self._lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        pending, self._pending = self._pending, []
        for kind, text in pending:
            if kind == "reasoning":
                if not isinstance(self._current, ReasoningView):
                    await self._end_text()
                    self._current = ReasoningView()
                    await self.mount(self._current)
                self._current.extend(text)
                continue
            self.text += text
            if self._markdown is None:
                self._markdown = self._current = Markdown()
                await self.mount(self._markdown)
            self.writes += 1
            await self._markdown.append(text)

    async def _end_text(self) -> None:
        self._markdown = None
        self._current = None

    async def add_block(self, widget: Static | Collapsible) -> None:
        """A tool call or a note: pending text goes out first, later text starts anew."""
        async with self._lock:
            await self._flush_locked()
            await self._end_text()
            if isinstance(widget, ToolCallView):
                self.tools[widget.call_id] = widget
            await self.mount(widget)

    def tool_finished(
        self, call_id: str, preview: str, full_result: str, error: str | None
    ) -> None:
        view = self.tools.get(call_id)
        if view is not None:
            view.finish(preview, full_result, error)

    async def finish(self) -> None:
        async with self._lock:
            await self._flush_locked()
            await self._end_text()


class Transcript(VerticalScroll, can_focus=False):
    """Everything said in the pane; stays scrolled to the newest line unless scrolled up."""

    DEFAULT_CSS = """
    Transcript { height: 1fr; background: $surface; }
    """

    def on_mount(self) -> None:
        self.anchor()

    async def note(self, text: str, style: str = "") -> Note:
        note = Note(text, style)
        await self.mount(note)
        return note

    async def user(self, text: str) -> None:
        await self.mount(UserEntry(text))

    async def markdown(self, text: str) -> Markdown:
        view = Markdown(text)
        await self.mount(view)
        return view

    async def reply(self) -> ReplyView:
        view = ReplyView()
        await self.mount(view)
        return view

    def plain_text(self) -> str:
        """Everything shown, as plain text (Markdown as its source), top to bottom."""
        parts: list[str] = []
        for widget in self.query("Note, UserEntry, Markdown, ReasoningView, ToolCallView"):
            if isinstance(widget, Note | UserEntry):
                parts.append(widget.plain)
            elif isinstance(widget, Markdown):
                parts.append(widget.source)
            elif isinstance(widget, ReasoningView):
                parts.append(f"{REASONING_TITLE}: {widget.text}")
            elif isinstance(widget, ToolCallView):
                parts.append(f"{widget.title}\n{widget.full_result}")
        return "\n".join(parts)

    async def clear(self) -> None:
        await self.remove_children()

    async def replay(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Show a saved conversation: questions, answers and tool calls with their results."""
        results = {
            str(m.get("tool_call_id")): str(m.get("content") or "")
            for m in messages
            if m.get("role") == "tool"
        }
        reply: ReplyView | None = None
        for message in messages:
            role = message.get("role")
            content = str(message.get("content") or "")
            if role == "user":
                if reply is not None:
                    await reply.finish()
                reply = None
                await self.user(content)
                continue
            if role != "assistant":
                continue
            if reply is None:
                reply = await self.reply()
            if content:
                reply.add_text(content + "\n\n")
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                call_id = str(call.get("id"))
                view = ToolCallView(
                    call_id, str(function.get("name")), str(function.get("arguments") or "")
                )
                await reply.add_block(view)
                full = results.get(call_id, "")
                view.finish(one_line(full, 120), full, None)
        if reply is not None:
            await reply.finish()
