"""The chat pane against a scripted model server: streaming Markdown, reasoning, tool calls,
stopping an answer, input history, slash commands without a model."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Markdown
from textual.widgets._collapsible import CollapsibleTitle
from textual.widgets.markdown import MarkdownFence

from tests.agent_server import Call, stalled_reply, text_reply, tool_reply
from tests.ui.chat_support import chat_app, tool_messages, wait_for
from tui.app.widgets.chat_transcript import ReasoningView, ReplyView, ToolCallView

pytestmark = pytest.mark.timeout(60)

ANSWER = (
    "Two nodes need a look:\n\n"
    "| node | state |\n|---|---|\n| gpu-05 | drained |\n| gpu-07 | down |\n\n"
    "- resume gpu-05 after the GPU swap\n- check gpu-07's power\n\n"
    "```\nscontrol show node gpu-07\n```\n"
)


def pieces(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


async def test_answer_streams_into_markdown_with_reasoning_folded(tmp_path: Path) -> None:
    script = [text_reply(*pieces(ANSWER), reasoning=["The user asks", " about nodes."])]
    async with chat_app(tmp_path, script) as chat:
        await chat.ask("which nodes need a look?")
        await chat.settle()
        reply = chat.transcript.query_one(ReplyView)
        blocks = list(reply.children)
        assert isinstance(blocks[0], ReasoningView) and isinstance(blocks[1], Markdown)
        reasoning = blocks[0]
        assert reasoning.collapsed and reasoning.text == "The user asks about nodes."
        markdown = blocks[1]
        assert markdown.source == ANSWER

        def cells() -> list[str]:
            return [str(cell.render()) for cell in markdown.query("MarkdownTableCellContents")]

        def fence() -> str:
            return "".join(block.code for block in markdown.query(MarkdownFence))

        # The whole answer is in, and no write is lost: every block is drawn.
        await wait_for(chat.pilot, lambda: "gpu-07" in cells() and "scontrol" in fence())
        assert "down" in cells()
        assert markdown.query("MarkdownBulletList")
        assert "scontrol show node gpu-07" in fence()
        # Batched: the ~100 deltas went out in far fewer Markdown writes.
        assert len(pieces(ANSWER)) > 60 and reply.writes < len(pieces(ANSWER)) / 2
        assert "which nodes need a look?" in chat.text()


async def test_tool_call_shows_as_it_happens_and_expands_to_the_full_result(
    tmp_path: Path,
) -> None:
    script = [
        tool_reply(Call("list_nodes", {"state": "drain"})),
        text_reply("gpu-05 is drained: **bad GPU 3**."),
    ]
    async with chat_app(tmp_path, script) as chat:
        await chat.ask("what is drained?")
        await chat.settle()
        view = chat.transcript.query_one(ToolCallView)
        assert view.done and view.error is None
        assert view.title.startswith("⚙ list_nodes(state=drain) →")
        assert "gpu-05" in view.full_result
        assert view.collapsed
        view.query_one(CollapsibleTitle).focus()
        await chat.pilot.press("enter")
        assert not view.collapsed
        assert "gpu-05" in str(view.body.render())
        # The answer after the tool call is its own Markdown block, below the call.
        reply = chat.transcript.query_one(ReplyView)
        assert isinstance(list(reply.children)[-1], Markdown)
        assert "bad GPU 3" in chat.text()
        assert chat.server is not None
        assert "gpu-05" in tool_messages(chat.server.requests[1])[0]


async def test_escape_stops_an_answer_and_the_conversation_goes_on(tmp_path: Path) -> None:
    script = [stalled_reply("Looking at ", "the queue"), text_reply("Job 42 waits for GPUs.")]
    async with chat_app(tmp_path, script) as chat:
        await chat.ask("why is job 42 pending?")
        await wait_for(chat.pilot, lambda: "Looking at the queue" in chat.text())
        assert chat.pane.busy
        await chat.pilot.press("escape")
        await chat.settle()
        assert "(stopped)" in chat.text()
        session = chat.pane.session
        assert session is not None
        assert session.messages[-1]["role"] == "assistant"
        assert "interrupted" in session.messages[-1]["content"]
        await chat.ask("and now?")
        await chat.settle()
        assert "Job 42 waits for GPUs." in chat.text()
        assert chat.server is not None
        sent = [m["content"] for m in chat.server.requests[1]["messages"][1:]]
        assert sent[0] == "why is job 42 pending?" and "Looking at the queue" in sent[1]
        assert sent[-1] == "and now?"


async def test_up_and_down_walk_through_sent_messages(tmp_path: Path) -> None:
    async with chat_app(tmp_path, None) as chat:
        await chat.ask("/help")
        await chat.ask("/idle")
        await chat.settle()
        box = chat.input
        box.text = "draft"
        await chat.pilot.press("up")
        assert box.text == "/idle"
        await chat.pilot.press("up")
        assert box.text == "/help"
        await chat.pilot.press("up")
        assert box.text == "/help"
        await chat.pilot.press("down", "down")
        assert box.text == "draft"
        # Inside a multi-line message, up moves the cursor first.
        box.text = ""
        await chat.pilot.press("a", "ctrl+j", "b")
        assert box.text == "a\nb"
        await chat.pilot.press("up")
        assert box.text == "a\nb" and box.cursor_location[0] == 0
        await chat.pilot.press("up")
        assert box.text == "/idle"


async def test_slash_commands_answer_without_a_model(tmp_path: Path) -> None:
    async with chat_app(tmp_path, None) as chat:
        assert "CLUSTERDASH_AGENT_BASE_URL" in chat.text()
        await chat.ask("/nodes drain")
        await chat.settle()
        table = chat.transcript.query(Markdown).last()
        assert "gpu-05" in table.source and table.query("MarkdownTable")
        await chat.ask("/bogus")
        await chat.settle()
        assert "unknown command /bogus" in chat.text()
        await chat.ask("why is job 104 pending?")
        await chat.settle()
        assert chat.text().rstrip().endswith("slash commands work without one (/help)")
