"""Actions the model proposes: run only on the host's decision, audited, outcome to the model."""

from __future__ import annotations

import io
import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent_cluster import NOW, RecordingRunner, sample_snapshot
from tests.agent_server import Call, ScriptedServer, text_reply, tool_reply
from tui.actions import Action, ActionKind
from tui.agent.cli_ask import ask_main
from tui.agent.client import AgentClient, ClientSettings
from tui.agent.events import ActionDecided, ActionProposed, AgentEvent, Finished
from tui.agent.history import store_audit
from tui.agent.loop import AgentSession, DecisionCallback, confirm_then_run
from tui.agent.tool_context import ToolContext
from tui.agent.tool_registry import ACTION_TOOLS
from tui.store import Store

DRAIN = Call("drain_node", {"node": "gpu-04", "reason": "GPU 5 at 91 C"}, id="d1")


def context(readonly: bool = False) -> ToolContext:
    snapshot = sample_snapshot()
    return ToolContext(snapshot=lambda: snapshot, clock=lambda: NOW, readonly=readonly)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer([tool_reply(DRAIN), text_reply("Handled.")]) as running:
        yield running


def settings_for(server: ScriptedServer) -> ClientSettings:
    return ClientSettings(base_url=server.base_url, model=server.model, timeout_s=5)


async def run(
    server: ScriptedServer, decide: DecisionCallback | None, store: Store | None = None, **kw: Any
) -> list[AgentEvent]:
    client = AgentClient(settings_for(server))
    audit = store_audit(store, user="operator") if store is not None else None
    session = AgentSession(client, context(**kw), decide=decide, audit=audit)
    try:
        return [event async for event in session.ask("gpu-04 is hot, do something")]
    finally:
        await client.aclose()


def outcome_sent_back(server: ScriptedServer) -> dict[str, Any]:
    return json.loads(server.requests[1]["messages"][-1]["content"])


async def test_approved_action_runs_is_audited_and_reported(
    server: ScriptedServer, tmp_path: Path
) -> None:
    runner = RecordingRunner()
    asked: list[Action] = []

    async def approve(action: Action) -> bool:
        asked.append(action)
        return True

    async with await Store.open(tmp_path / "s.db") as store:
        events = await run(server, confirm_then_run(approve, runner), store)
        (entry,) = await store.list_audit()
    expected = Action(ActionKind.DRAIN, ("gpu-04",), "GPU 5 at 91 C")
    assert asked == [expected] and runner.ran == [expected]
    assert (entry.origin, entry.user, entry.action, entry.targets, entry.ok) == (
        "agent",
        "operator",
        "drain",
        ("gpu-04",),
        True,
    )
    assert ActionProposed(expected, "d1") in events
    decided = next(e for e in events if isinstance(e, ActionDecided))
    assert decided.result is not None and decided.result.ok
    assert outcome_sent_back(server)["outcome"].startswith("done: drain node gpu-04")
    assert events[-1] == Finished("Handled.")


async def test_rejected_action_does_not_run_and_the_model_is_told(
    server: ScriptedServer, tmp_path: Path
) -> None:
    runner = RecordingRunner()

    async def reject(action: Action) -> bool:
        return False

    async with await Store.open(tmp_path / "s.db") as store:
        await run(server, confirm_then_run(reject, runner), store)
        assert await store.list_audit() == []
    assert runner.ran == []
    assert outcome_sent_back(server)["outcome"] == "rejected by the operator: not run"


async def test_a_failed_action_reports_slurms_error(server: ScriptedServer) -> None:
    async def approve(action: Action) -> bool:
        return True

    await run(server, confirm_then_run(approve, RecordingRunner(ok=False)))
    assert outcome_sent_back(server)["outcome"] == "failed: slurm_update error: Invalid node"


async def test_readonly_hides_action_tools_and_refuses_them(server: ScriptedServer) -> None:
    runner = RecordingRunner()

    async def approve(action: Action) -> bool:
        return True

    events = await run(server, confirm_then_run(approve, runner), readonly=True)
    offered = {tool["function"]["name"] for tool in server.requests[0]["tools"]}
    assert offered and not offered & {spec.name for spec in ACTION_TOOLS}
    assert outcome_sent_back(server) == {"error": "actions are disabled: read-only mode"}
    assert runner.ran == [] and not any(isinstance(e, ActionProposed) for e in events)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (Call("drain_node", {"node": "gpu-04", "reason": " "}, id="x"), "a reason is required"),
        (Call("drain_node", {"node": "gpu-9;rm", "reason": "r"}, id="x"), "invalid node name"),
        (Call("cancel_job", {"job_id": "777"}, id="x"), "no job 777 in the cluster"),
    ],
)
async def test_invalid_proposals_are_errors_the_model_can_fix(call: Call, error: str) -> None:
    runner = RecordingRunner()

    async def approve(action: Action) -> bool:
        return True

    with ScriptedServer([tool_reply(call), text_reply("ok")]) as server:
        events = await run(server, confirm_then_run(approve, runner))
        assert error in outcome_sent_back(server)["error"]
    assert runner.ran == [] and not any(isinstance(e, ActionProposed) for e in events)


async def test_ask_cli_only_describes_actions(server: ScriptedServer) -> None:
    out = io.StringIO()
    code = await ask_main("gpu-04 is hot", context(), settings_for(server), out)
    assert code == 0
    text = out.getvalue()
    assert "[proposed: drain node gpu-04 (reason: GPU 5 at 91 C); not run" in text
    assert "scontrol update NodeName=gpu-04 State=DRAIN 'Reason=GPU 5 at 91 C'" in text
    assert text.endswith("Handled.\n")
    assert outcome_sent_back(server)["outcome"] == "not run: actions are only described here"


async def test_ask_cli_quotes_a_proposed_command_so_a_pasted_reason_stays_one_argument() -> None:
    hostile = Call("drain_node", {"node": "gpu-04", "reason": "xid 79; touch /tmp/x"}, id="d2")
    with ScriptedServer([tool_reply(hostile), text_reply("Proposed.")]) as running:
        out = io.StringIO()
        assert await ask_main("gpu-04 is broken", context(), settings_for(running), out) == 0
    command = out.getvalue().split("commands: ", 1)[1].split("]", 1)[0]
    assert command == "scontrol update NodeName=gpu-04 State=DRAIN 'Reason=xid 79; touch /tmp/x'"
    assert shlex.split(command)[-1] == "Reason=xid 79; touch /tmp/x"
