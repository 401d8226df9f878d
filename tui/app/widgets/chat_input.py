"""The chat's input box: enter sends, shift+enter (or ctrl+j, alt+enter) adds a line, and
up/down on the first/last line walk through what was sent before."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual import events
from textual.message import Message
from textual.widgets import TextArea

# Many terminals send shift+enter as a plain enter; ctrl+j and alt+enter always get through.
NEWLINE_KEYS = frozenset({"shift+enter", "ctrl+j", "alt+enter"})
HISTORY_LIMIT = 200


@dataclass
class SentHistory:
    """Messages sent so far, browsed like a shell's history; the draft being typed is kept."""

    entries: list[str] = field(default_factory=list)
    limit: int = HISTORY_LIMIT
    _position: int | None = None
    _draft: str = ""

    def add(self, text: str) -> None:
        if text and (not self.entries or self.entries[-1] != text):
            self.entries.append(text)
            del self.entries[: -self.limit]
        self._position = None
        self._draft = ""

    def previous(self, current: str) -> str | None:
        """The older entry, or None when there is none (the box stays as it is)."""
        if not self.entries or self._position == 0:
            return None
        if self._position is None:
            self._draft = current
            self._position = len(self.entries)
        self._position -= 1
        return self.entries[self._position]

    def next(self) -> str | None:
        """The newer entry, the draft after the newest, or None when not browsing."""
        if self._position is None:
            return None
        self._position += 1
        if self._position >= len(self.entries):
            self._position = None
            return self._draft
        return self.entries[self._position]


class ChatInput(TextArea):
    """A multi-line input that posts Submitted on enter."""

    DEFAULT_CSS = """
    ChatInput { height: auto; min-height: 3; max-height: 8; }
    """

    class Submitted(Message):
        def __init__(self, chat_input: ChatInput, text: str) -> None:
            super().__init__()
            self.chat_input = chat_input
            self.text = text

    def __init__(self, *, id: str | None = None, placeholder: str = "") -> None:
        super().__init__(
            id=id,
            placeholder=placeholder,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            compact=True,
        )
        self.sent = SentHistory()

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.submit()
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        await super()._on_key(event)

    def submit(self) -> None:
        text = self.text.strip()
        if not text:
            return
        self.sent.add(text)
        self.clear()
        self.post_message(self.Submitted(self, text))

    def _show(self, text: str) -> None:
        self.text = text
        self.move_cursor(self.document.end)

    def action_cursor_up(self, select: bool = False) -> None:
        if not select and self.cursor_location[0] == 0:
            older = self.sent.previous(self.text)
            if older is not None:
                self._show(older)
            return
        super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        if not select and self.cursor_location[0] == self.document.line_count - 1:
            newer = self.sent.next()
            if newer is not None:
                self._show(newer)
            return
        super().action_cursor_down(select)
