"""Conversations in the SQLite store: start, save as they go, list, resume, export as Markdown.

Also the audit callback that records the agent's executed actions with origin "agent".
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from tui.actions import Action, ActionResult, audit_record, current_user
from tui.agent.loop import AuditCallback
from tui.store import ChatConversation, ChatMessage, Store
from tui.text import one_line

TITLE_CHARS = 60
EXPORT_RESULT_CHARS = 1_500
AUDIT_ORIGIN = "agent"
# Message keys kept beside role/content so a resumed conversation is what the model saw.
_EXTRA_KEYS = ("tool_calls", "tool_call_id", "name")


def title_of(question: str) -> str:
    return one_line(question, TITLE_CHARS)


def message_from_row(row: ChatMessage) -> dict[str, Any]:
    message: dict[str, Any] = {"role": row.role, "content": row.content}
    if row.role == "assistant" and row.extra.get("tool_calls") and not row.content:
        message["content"] = None
    for key in _EXTRA_KEYS:
        if key in row.extra:
            message[key] = row.extra[key]
    return message


class Conversation:
    """One saved conversation; created in the store on its first message."""

    def __init__(self, store: Store, conversation_id: int | None = None, title: str = "") -> None:
        self.store = store
        self.id = conversation_id
        self.title = title

    async def record(self, message: Mapping[str, Any]) -> None:
        """A MessageRecorder for AgentSession: saves each committed message."""
        content = message.get("content") or ""
        if self.id is None:
            self.title = title_of(str(content)) or "conversation"
            self.id = await self.store.create_conversation(self.title)
        extra = {key: message[key] for key in _EXTRA_KEYS if key in message}
        await self.store.add_chat_message(self.id, str(message["role"]), str(content), extra)


class ChatHistory:
    def __init__(self, store: Store) -> None:
        self.store = store

    def new(self) -> Conversation:
        return Conversation(self.store)

    async def list(self, limit: int = 50) -> list[ChatConversation]:
        return await self.store.list_conversations(limit)

    async def resume(self, conversation_id: int) -> tuple[Conversation, list[dict[str, Any]]]:
        """The conversation (to keep recording into) and its messages for AgentSession."""
        title = await self._title(conversation_id)
        rows = await self.store.conversation_messages(conversation_id)
        return Conversation(self.store, conversation_id, title), [
            message_from_row(row) for row in rows
        ]

    async def _title(self, conversation_id: int) -> str:
        # list_conversations is ordered by recency; a conversation older than the page is rare.
        for conversation in await self.store.list_conversations(limit=10_000):
            if conversation.id == conversation_id:
                return conversation.title
        raise LookupError(f"no conversation {conversation_id}")

    async def export_markdown(self, conversation_id: int) -> str:
        title = await self._title(conversation_id)
        rows = await self.store.conversation_messages(conversation_id)
        return render_markdown(title, [message_from_row(row) for row in rows], rows)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def render_markdown(
    title: str, messages: Sequence[Mapping[str, Any]], rows: Sequence[ChatMessage] = ()
) -> str:
    lines = [f"# {title}", ""]
    if rows:
        lines += [f"_{_when(rows[0].ts)} to {_when(rows[-1].ts)}_", ""]
    for message in messages:
        role = message.get("role")
        content = str(message.get("content") or "").strip()
        if role == "user":
            lines += ["## You", "", content, ""]
        elif role == "assistant":
            if content:
                lines += ["## Assistant", "", content, ""]
            for call in message.get("tool_calls") or ():
                function = call.get("function", {})
                lines += [f"> tool `{function.get('name')}` {function.get('arguments') or '{}'}"]
                lines.append("")
        elif role == "tool":
            shown = content
            if len(shown) > EXPORT_RESULT_CHARS:
                shown = shown[:EXPORT_RESULT_CHARS] + " …"
            lines += [f"<details><summary>{message.get('name', 'tool')} result</summary>", ""]
            lines += ["```", shown.replace("```", "'''"), "```", "", "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def store_audit(store: Store, user: str | None = None) -> AuditCallback:
    """An AuditCallback writing executed agent actions to the store's audit log."""
    who = user or current_user()

    async def audit(action: Action, result: ActionResult) -> None:
        await store.add_audit(audit_record(result, AUDIT_ORIGIN, who))

    return audit
