"""Saved chat conversations: pick one to resume or export, or start a new one."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from tui.store import ChatConversation

Verb = Literal["resume", "export", "new"]


@dataclass(frozen=True, slots=True)
class ConversationChoice:
    verb: Verb
    conversation_id: int | None = None


def conversation_label(conversation: ChatConversation) -> Text:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(conversation.updated_at))
    return Text.assemble((f"{when}  ", "dim"), conversation.title or "(untitled)")


class ConversationsScreen(ModalScreen[ConversationChoice | None]):
    DEFAULT_CSS = """
    ConversationsScreen { align: center middle; }
    ConversationsScreen > Vertical {
        width: 90%; max-width: 110; height: auto; max-height: 80%;
        border: thick $accent; background: $panel; padding: 1 2;
    }
    ConversationsScreen OptionList { height: auto; max-height: 20; margin: 1 0; }
    ConversationsScreen #conversations-keys { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "dismiss_none", "Close"),
        Binding("e", "choose('export')", "Export", tooltip="as Markdown"),
        Binding("n", "choose('new')", "New", tooltip="start a new conversation"),
    ]

    def __init__(self, conversations: Sequence[ChatConversation]) -> None:
        super().__init__()
        self.conversations = list(conversations)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Conversations", style="bold"))
            options = [Option(conversation_label(c), id=str(c.id)) for c in self.conversations]
            yield OptionList(*options, id="conversations")
            if not options:
                yield Label("no saved conversations yet", id="conversations-empty")
            yield Label(
                "enter resume · e export as Markdown · n new conversation · esc close",
                id="conversations-keys",
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def _highlighted_id(self) -> int | None:
        options = self.query_one(OptionList)
        if options.highlighted is None or not self.conversations:
            return None
        return self.conversations[options.highlighted].id

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_choose("resume")

    def action_choose(self, verb: Verb) -> None:
        if verb == "new":
            self.dismiss(ConversationChoice("new"))
            return
        conversation_id = self._highlighted_id()
        if conversation_id is not None:
            self.dismiss(ConversationChoice(verb, conversation_id))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
