"""'Who wasted the most GPU time this week?' answered from the history, through the real loop."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

import pytest

from tests.agent_server import Call, ScriptedServer, text_reply, tool_reply
from tui.agent.client import AgentClient, ClientSettings
from tui.agent.loop import AgentSession
from tui.agent.tool_context import ToolContext, ToolError
from tui.agent.tool_registry import ALL_TOOLS, check_arguments
from tui.agent.usage_tool import gpu_usage_report
from tui.model import ClusterSnapshot, Gpu, Job, JobState
from tui.store import Store

NOW = 1_800_003_600.0
PRICE = 2.0


def running(job_id: str, user: str, node: str) -> Job:
    return Job(
        job_id=job_id,
        user=user,
        account="ml",
        state=JobState.RUNNING,
        nodes=(node,),
        gpu_indices=MappingProxyType({node: (0, 1)}),
    )


async def idle_alice_busy_bob(store: Store) -> None:
    """Ten minutes: alice's job 7 holds two idle GPUs, bob's job 9 two busy ones."""
    jobs = (running("7", "alice", "gpu-01"), running("9", "bob", "gpu-02"))
    for k in range(20):
        gpus = tuple(Gpu("gpu-01", i, utilization_pct=0.0) for i in range(2)) + tuple(
            Gpu("gpu-02", i, utilization_pct=95.0) for i in range(2)
        )
        ts = NOW - 600 + 30 * k
        await store.write_snapshot(ClusterSnapshot(taken_at=ts, gpus=gpus, jobs=jobs))


def context(store: Store | None) -> ToolContext:
    return ToolContext(
        snapshot=lambda: ClusterSnapshot(taken_at=NOW),
        history=store,
        gpu_hourly_price=PRICE,
        clock=lambda: NOW,
    )


async def test_the_assistant_names_the_user_who_wasted_most(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "h.db") as store:
        await idle_alice_busy_bob(store)
        script = [
            tool_reply(Call("gpu_usage_report", {"since": "7d"}, id="u1")),
            text_reply("alice wasted the most."),
        ]
        with ScriptedServer(script) as server:
            client = AgentClient(ClientSettings(base_url=server.base_url, model=server.model))
            session = AgentSession(client, context(store))
            _ = [event async for event in session.ask("who wasted the most GPU time this week?")]
            tool = next(m for m in server.requests[1]["messages"] if m["role"] == "tool")
        result = json.loads(tool["content"])
        assert result["users"][0]["name"] == "alice"
        assert result["users"][0]["idle_gpu_hours"] == pytest.approx(2 * 10 / 60, abs=1e-3)
        assert result["users"][0]["wasted_cost"] == pytest.approx(2 * 10 / 60 * PRICE, abs=0.01)
        assert [job["job_id"] for job in result["top_wasting_jobs"]] == ["7"]
        assert result["idle_gpu_hours_total"] == pytest.approx(0.33, abs=0.01)


async def test_bad_arguments_and_no_history_are_one_line_errors(tmp_path: Path) -> None:
    spec = ALL_TOOLS["gpu_usage_report"]
    assert check_arguments(spec, {"since": "24h", "limit": "3"}) == {"since": "24h", "limit": 3}
    with pytest.raises(ToolError, match="since"):
        await gpu_usage_report(context(None), since="a while")
    with pytest.raises(ToolError, match="no history database"):
        await gpu_usage_report(context(None))
