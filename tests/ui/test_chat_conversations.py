"""Saved conversations from the chat pane: start new, list, resume, export as Markdown."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import OptionList

from tests.agent_server import text_reply
from tests.ui.chat_support import chat_app, wait_for
from tests.ui.conftest import notifications
from tui.app.screens.conversations import ConversationsScreen
from tui.app.widgets.chat_pane import palette_entries
from tui.config import data_dir

pytestmark = pytest.mark.timeout(60)


async def highlight(screen: ConversationsScreen, title: str) -> None:
    titles = [c.title for c in screen.conversations]
    screen.query_one(OptionList).highlighted = titles.index(title)


async def test_new_list_resume_and_export(tmp_path: Path) -> None:
    script = [
        text_reply("gpu-05 is drained for **XID 79**."),
        text_reply("Job 104 waits for resources."),
        text_reply("Still drained."),
    ]
    async with chat_app(tmp_path, script) as chat:
        await chat.ask("what is drained?")
        await chat.settle()
        await chat.pilot.press("ctrl+n")
        await wait_for(chat.pilot, lambda: "what is drained?" not in chat.text())
        assert "new conversation" in chat.text()
        await chat.ask("why is job 104 pending?")
        await chat.settle()

        await chat.pilot.press("ctrl+o")
        await wait_for(chat.pilot, lambda: isinstance(chat.app.screen, ConversationsScreen))
        screen = chat.app.screen
        assert isinstance(screen, ConversationsScreen)
        assert sorted(c.title for c in screen.conversations) == [
            "what is drained?",
            "why is job 104 pending?",
        ]
        await highlight(screen, "what is drained?")
        await chat.pilot.press("enter")
        await wait_for(chat.pilot, lambda: "resumed: what is drained?" in chat.text())
        await chat.pilot.pause()
        assert "XID 79" in chat.text() and "job 104" not in chat.text()

        # The resumed conversation goes on: the model sees its earlier turns.
        await chat.ask("and now?")
        await chat.settle()
        assert chat.server is not None
        sent = [m["content"] for m in chat.server.requests[2]["messages"][1:]]
        assert sent == ["what is drained?", "gpu-05 is drained for **XID 79**.", "and now?"]
        await chat.pilot.press("up")
        assert chat.input.text == "and now?"

        await chat.pilot.press("ctrl+o")
        await wait_for(chat.pilot, lambda: isinstance(chat.app.screen, ConversationsScreen))
        screen = chat.app.screen
        assert isinstance(screen, ConversationsScreen)
        await highlight(screen, "what is drained?")
        conversation_id = next(c.id for c in screen.conversations if c.title == "what is drained?")
        await chat.pilot.press("e")
        path = data_dir() / "chats" / f"conversation-{conversation_id}.md"
        await wait_for(chat.pilot, path.exists)
        exported = path.read_text(encoding="utf-8")
        assert exported.startswith("# what is drained?")
        assert "## You\n\nand now?" in exported and "Still drained." in exported
        await wait_for(chat.pilot, lambda: any(str(path) in n for n in notifications(chat.app)))


async def test_palette_entries_open_the_list_and_start_new(tmp_path: Path) -> None:
    async with chat_app(tmp_path, None) as chat:
        entries = {title: callback for title, callback, _ in palette_entries(chat.app)}
        entries["Chat: conversations"]()
        await wait_for(
            chat.pilot,
            lambda: (
                isinstance(chat.app.screen, ConversationsScreen)
                and bool(chat.app.screen.query("#conversations-empty"))
            ),
        )
        await chat.pilot.press("n")
        await wait_for(chat.pilot, lambda: "new conversation" in chat.text())
        assert not isinstance(chat.app.screen, ConversationsScreen)
