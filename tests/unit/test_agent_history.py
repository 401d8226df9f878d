"""Conversations saved in the real SQLite store: round trip, resume, Markdown export."""

from __future__ import annotations

from pathlib import Path

from tests.agent_cluster import NOW, sample_snapshot
from tests.agent_server import Call, ScriptedServer, text_reply, tool_reply
from tui.agent.client import AgentClient, ClientSettings
from tui.agent.history import ChatHistory
from tui.agent.loop import AgentSession
from tui.agent.tool_context import ToolContext
from tui.store import Store


async def test_conversation_round_trip_resume_and_export(tmp_path: Path) -> None:
    snapshot = sample_snapshot()
    context = ToolContext(snapshot=lambda: snapshot, clock=lambda: NOW)
    script = [
        tool_reply(Call("job_detail", {"job_id": "42"}, id="j1")),
        text_reply("Job 42 waits for **resources**."),
        text_reply("Yes, 8 GPUs."),
    ]
    with ScriptedServer(script) as server:
        client = AgentClient(ClientSettings(base_url=server.base_url, model=server.model))
        async with await Store.open(tmp_path / "chat.db") as store:
            history = ChatHistory(store)
            conversation = history.new()
            session = AgentSession(client, context, recorder=conversation.record)
            [_ async for _ in session.ask("why is job 42 pending?")]
            (listed,) = await history.list()
            assert listed.id == conversation.id and listed.title == "why is job 42 pending?"

            resumed, messages = await history.resume(listed.id)
            assert messages == session.messages
            later = AgentSession(client, context, recorder=resumed.record, messages=messages)
            [_ async for _ in later.ask("does it need 8 GPUs?")]
            sent = server.requests[2]["messages"]
            assert sent[1:] == [*messages, {"role": "user", "content": "does it need 8 GPUs?"}]
            assert len(await store.conversation_messages(listed.id)) == len(later.messages) == 6

            markdown = await history.export_markdown(listed.id)
        await client.aclose()
    assert markdown.startswith("# why is job 42 pending?\n")
    assert "## You\n\ndoes it need 8 GPUs?" in markdown
    assert "## Assistant\n\nJob 42 waits for **resources**." in markdown
    assert '> tool `job_detail` {"job_id": "42"}' in markdown
    assert "job_detail result" in markdown and "Waiting for resources" in markdown
