"""The chat pane with a model endpoint: a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.agent_server import Call, ScriptedServer, text_reply, tool_reply
from tests.ui.conftest import make_app
from tui.actions import ActionKind
from tui.app.screens.confirm import ConfirmActionScreen
from tui.config import AgentSettings, Settings

pytestmark = pytest.mark.timeout(60)


async def wait_for(pilot: Any, condition: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def test_agent_proposal_goes_through_the_same_dialog_and_audit(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    script = [
        tool_reply(Call("drain_node", {"node": "gpu-02", "reason": "agent says"})),
        text_reply("Drained gpu-02."),
    ]
    with ScriptedServer(script) as server:
        settings = replace(
            Settings(), agent=AgentSettings(base_url=server.base_url, model="test/scripted-model")
        )
        app = make_app(tmp_path, holder=holder, settings=settings)
        async with app.run_test(size=(200, 50)) as pilot:
            chat = app.screen.query_one("#chat")
            await wait_for(pilot, lambda: chat.session is not None)
            await pilot.press("4", *"drain gpu-02 please", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmActionScreen))
            assert "NodeName=gpu-02" in str(app.screen.query_one("#confirm-commands").render())
            await pilot.press("enter")
            log = app.screen.query_one("#chat-log") if False else chat.query_one("#chat-log")
            await wait_for(
                pilot, lambda: "Drained gpu-02." in "\n".join(str(line.text) for line in log.lines)
            )
        actions = holder["services"].workload.actions
        assert [(a.kind, a.targets, a.reason) for a in actions] == [
            (ActionKind.DRAIN, ("gpu-02",), "agent says")
        ]
