"""Audit log, agent chat and the alert tables in the history store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tui.audit_record import AuditRecord
from tui.store import Store, StoreError

T0 = 1_800_000_000.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "history.db")
    yield opened
    await opened.close()


async def test_audit_entries_newest_first_with_limit_and_since(store: Store) -> None:
    for k, action in enumerate(("drain", "resume", "cancel")):
        await store.add_audit(
            AuditRecord(
                ts=T0 + k,
                user="alice",
                origin="keyboard",
                action=action,
                targets=(f"gpu-0{k}",),
                reason="maintenance",
                ok=k != 2,
                message="" if k != 2 else "scancel: Invalid job id specified",
            )
        )
    entries = await store.list_audit(limit=10)
    assert [e.action for e in entries] == ["cancel", "resume", "drain"]
    newest = entries[0]
    assert (newest.user, newest.origin, newest.targets, newest.ok) == (
        "alice",
        "keyboard",
        ("gpu-02",),
        False,
    )
    assert newest.message == "scancel: Invalid job id specified"
    assert [e.action for e in await store.list_audit(limit=2)] == ["cancel", "resume"]
    assert [e.action for e in await store.list_audit(since=T0 + 1)] == ["cancel", "resume"]


async def test_audit_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    store = await Store.open(path)
    await store.add_audit(
        AuditRecord(user="bob", origin="agent", action="requeue", targets=("42",), ok=True)
    )
    await store.close()
    store = await Store.open(path, readonly=True)
    try:
        [entry] = await store.list_audit()
        assert (entry.user, entry.origin, entry.targets) == ("bob", "agent", ("42",))
    finally:
        await store.close()


async def test_audit_refuses_unknown_origin(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown audit origin 'web'"):
        await store.add_audit(
            AuditRecord(user="u", origin="web", action="drain", targets=("n",), ok=True)
        )
    assert await store.list_audit() == []


async def test_chat_conversation_round_trip(store: Store) -> None:
    first = await store.create_conversation("why is job 42 pending?", ts=T0)
    second = await store.create_conversation("hot GPUs", ts=T0 + 1)
    await store.add_chat_message(first, "user", "why is job 42 pending?", ts=T0 + 2)
    call = {"tool_calls": [{"id": "c1", "function": {"name": "job_info", "arguments": "{}"}}]}
    await store.add_chat_message(first, "assistant", "", extra=call, ts=T0 + 3)
    await store.add_chat_message(first, "tool", "Reason=Resources", {"tool_call_id": "c1"}, T0 + 4)

    conversations = await store.list_conversations()
    assert [c.id for c in conversations] == [first, second]  # most recently updated first
    assert conversations[0].updated_at == T0 + 4
    messages = await store.conversation_messages(first)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "why is job 42 pending?"),
        ("assistant", ""),
        ("tool", "Reason=Resources"),
    ]
    assert dict(messages[0].extra) == {}
    assert messages[1].extra == call
    assert messages[2].extra == {"tool_call_id": "c1"}
    assert await store.conversation_messages(second) == []


async def test_chat_message_for_missing_conversation_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="chat conversation 99 does not exist"):
        await store.add_chat_message(99, "user", "hello")
    rows = await store.db.execute_fetchall("SELECT count(*) FROM chat_messages")
    assert list(rows) == [(0,)]


async def test_transaction_commits_alert_rows_and_rolls_back_on_error(store: Store) -> None:
    async with store.transaction() as db:
        await db.execute(
            "INSERT INTO alert_state (rule, target, state, active_since, severity, labels) "
            "VALUES (?, ?, 'firing', ?, 'critical', ?)",
            ("gpu_hot", "gpu-01/3", T0, json.dumps({"gpu": "3"})),
        )
        await db.execute(
            "INSERT INTO alert_events (ts, rule, target, severity, state, value) "
            "VALUES (?, 'gpu_hot', 'gpu-01/3', 'critical', 'firing', 91.0)",
            (T0,),
        )
    with pytest.raises(RuntimeError, match="boom"):
        async with store.transaction() as db:
            await db.execute("DELETE FROM alert_state")
            await db.execute(
                "INSERT INTO silences (created_at, created_by, rule, ends_at) "
                "VALUES (?, 'alice', 'gpu_hot', ?)",
                (T0, T0 + 3600),
            )
            raise RuntimeError("boom")
    state = await store.db.execute_fetchall("SELECT rule, target, state FROM alert_state")
    assert list(state) == [("gpu_hot", "gpu-01/3", "firing")]
    assert list(await store.db.execute_fetchall("SELECT count(*) FROM silences")) == [(0,)]
    assert list(await store.db.execute_fetchall("SELECT count(*) FROM alert_events")) == [(1,)]


async def test_alert_state_rejects_unknown_state(store: Store) -> None:
    with pytest.raises(StoreError, match="CHECK constraint failed"):
        async with store.transaction() as db:
            await db.execute(
                "INSERT INTO alert_state (rule, target, state) VALUES ('r', 't', 'exploded')"
            )
