"""Actions the model proposes: the keyboard's confirmation dialog, the audit log, the outcome
sent back to the model; nothing at all in read-only mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.agent_server import Call, text_reply, tool_reply
from tests.ui.chat_support import chat_app, tool_messages, wait_for
from tests.ui.conftest import dialog_ready, notifications
from tui.actions import ActionKind
from tui.app.screens.confirm import ConfirmActionScreen

pytestmark = pytest.mark.timeout(60)

DRAIN = Call("drain_node", {"node": "gpu-02", "reason": "XID 79 on GPU 3"})


async def test_approved_proposal_runs_is_audited_and_reported_to_the_model(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    script = [tool_reply(DRAIN), text_reply("Drained gpu-02.")]
    async with chat_app(tmp_path, script, holder=holder) as chat:
        await chat.ask("drain gpu-02 please")
        await wait_for(chat.pilot, lambda: isinstance(chat.app.screen, ConfirmActionScreen))
        dialog = chat.app.screen
        assert "NodeName=gpu-02" in str(dialog.query_one("#confirm-commands").render())
        assert "waiting for your decision" in chat.text()
        await dialog_ready(chat.pilot)
        await chat.pilot.press("enter")
        await chat.settle()
        # Markdown streams finish their last append after the answer's worker ends.
        await wait_for(chat.pilot, lambda: "Drained gpu-02." in chat.text())
        assert "done: " in chat.text()
        services = holder["services"]
        assert [(a.kind, a.targets, a.reason) for a in services.workload.actions] == [
            (ActionKind.DRAIN, ("gpu-02",), "XID 79 on GPU 3")
        ]
        audit = await services.store.list_audit()
        assert [(e.origin, e.action, e.targets, e.ok) for e in audit] == [
            ("agent", "drain", ("gpu-02",), True)
        ]
        # The keyboard's path: the same toast as a drain typed by the operator.
        assert any("drain node gpu-02" in m for m in notifications(chat.app))
        assert chat.server is not None
        assert '"outcome":"done: ' in tool_messages(chat.server.requests[1])[0]


async def test_rejected_proposal_runs_nothing_and_the_model_is_told(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    script = [tool_reply(DRAIN), text_reply("Understood, gpu-02 stays up.")]
    async with chat_app(tmp_path, script, holder=holder) as chat:
        await chat.ask("drain gpu-02 please")
        await wait_for(chat.pilot, lambda: isinstance(chat.app.screen, ConfirmActionScreen))
        await chat.pilot.press("escape")
        await chat.settle()
        await wait_for(chat.pilot, lambda: "gpu-02 stays up" in chat.text())
        services = holder["services"]
        assert services.workload.actions == []
        assert await services.store.list_audit() == []
        assert chat.server is not None
        assert "rejected by the operator" in tool_messages(chat.server.requests[1])[0]


async def test_readonly_offers_no_action_tools_and_runs_nothing(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    script = [tool_reply(DRAIN), text_reply("I cannot drain in read-only mode.")]
    async with chat_app(tmp_path, script, holder=holder, readonly=True) as chat:
        assert "read-only" in chat.text()
        await chat.ask("drain gpu-02 please")
        await chat.settle()
        assert not isinstance(chat.app.screen, ConfirmActionScreen)
        assert "read-only mode" in chat.text()
        assert holder["services"].workload.actions == []
        assert await holder["services"].store.list_audit() == []
        assert chat.server is not None
        offered = {tool["function"]["name"] for tool in chat.server.requests[0]["tools"]}
        assert "list_nodes" in offered
        assert not offered & {"drain_node", "resume_node", "cancel_job", "requeue_job"}
        assert "read-only" in tool_messages(chat.server.requests[1])[0]
