"""The agent loop through the real openai client against a scripted server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.agent_cluster import NOW, sample_snapshot
from tests.agent_server import (
    Call,
    Reply,
    ScriptedServer,
    http_error,
    stalled_reply,
    text_reply,
    tool_reply,
)
from tui.agent.budget import TRIMMED
from tui.agent.client import AgentClient, ClientSettings
from tui.agent.events import (
    AgentEvent,
    Failed,
    Finished,
    ReasoningDelta,
    StepStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from tui.agent.loop import CANCELLED_NOTE, FINAL_STEP_NOTE, AgentSession, LoopConfig
from tui.agent.tool_context import ToolContext
from tui.sources.base import GpuSeries


class CountingHistory:
    """GPU history that counts queries and can require N of them to overlap in time."""

    def __init__(self, overlap: int = 1) -> None:
        self.calls: list[tuple[str, str]] = []
        self._barrier = asyncio.Barrier(overlap) if overlap > 1 else None

    async def gpu_history(
        self, node: str, metric: str, start: float, end: float, max_points: int
    ) -> GpuSeries:
        self.calls.append((node, metric))
        if self._barrier is not None:
            await asyncio.wait_for(self._barrier.wait(), timeout=2)
        return {0: [(end - 60, 10.0), (end, 20.0)]}


def make_context(**kwargs: Any) -> ToolContext:
    snapshot = sample_snapshot()
    return ToolContext(snapshot=lambda: snapshot, clock=lambda: NOW, **kwargs)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ScriptedServer] = []

    def start(script: Any, **kwargs: Any) -> ScriptedServer:
        server = ScriptedServer(script, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def session_for(
    server: ScriptedServer,
    context: ToolContext | None = None,
    timeout_s: float = 10.0,
    config: LoopConfig | None = None,
    **kwargs: Any,
) -> AgentSession:
    settings = ClientSettings(base_url=server.base_url, model=server.model, timeout_s=timeout_s)
    return AgentSession(AgentClient(settings), context or make_context(), config=config, **kwargs)


async def collect(session: AgentSession, question: str) -> list[AgentEvent]:
    return [event async for event in session.ask(question)]


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


async def test_plain_text_is_streamed_and_the_prompt_carries_cluster_facts(serve: Any) -> None:
    server = serve([text_reply("All ", "nodes ", "are fine.")])
    session = session_for(server)
    events = await collect(session, "how is the cluster?")
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["All ", "nodes ", "are fine."]
    assert events[-1] == Finished("All nodes are fine.")
    sent = server.requests[0]
    assert sent["stream"] is True
    system = sent["messages"][0]["content"]
    assert "4 nodes, 32 GPUs" in system and "Slurm 23.11.4" in system
    assert "normal below 80 C" in system and "88-90 C" in system
    assert sent["messages"][-1] == {"role": "user", "content": "how is the cluster?"}
    assert {"cluster_summary", "job_detail", "drain_node"} <= {
        t["function"]["name"] for t in sent["tools"]
    }
    assert session.messages[-1] == {"role": "assistant", "content": "All nodes are fine."}


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
async def test_reasoning_is_reported_apart_from_the_answer(serve: Any, key: str) -> None:
    server = serve([text_reply("42.", reasoning=["let me ", "think"], key=key)])
    events = await collect(session_for(server), "q")
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "let me think"
    assert events[-1] == Finished("42.")


async def test_a_tool_call_split_across_chunks_runs_and_its_result_goes_back(serve: Any) -> None:
    server = serve(
        [
            tool_reply(Call("job_detail", {"job_id": "42"}, id="c1"), pieces=5),
            text_reply("Job 42 waits for resources."),
        ]
    )
    session = session_for(server)
    events = await collect(session, "why is job 42 pending?")
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert started == [ToolCallStarted("c1", "job_detail", '{"job_id": "42"}')]
    finished = next(e for e in events if isinstance(e, ToolCallFinished))
    assert finished.error is None and "Waiting for resources" in finished.full_result
    second = server.requests[1]["messages"]
    assert second[-2]["tool_calls"][0]["function"] == {
        "name": "job_detail",
        "arguments": '{"job_id": "42"}',
    }
    result = json.loads(second[-1]["content"])
    assert second[-1]["tool_call_id"] == "c1" and result["reason"] == "Resources"
    assert events[-1] == Finished("Job 42 waits for resources.")


async def test_parallel_tool_calls_run_concurrently(serve: Any) -> None:
    history = CountingHistory(overlap=2)  # times out unless both queries are in flight at once
    server = serve(
        [
            tool_reply(
                Call("gpu_history", {"node": "gpu-01"}, id="a"),
                Call("gpu_history", {"node": "gpu-04"}, id="b"),
            ),
            text_reply("done"),
        ]
    )
    events = await collect(session_for(server, make_context(history=history)), "compare")
    assert sorted(history.calls) == [("gpu-01", "utilization_pct"), ("gpu-04", "utilization_pct")]
    results = tool_messages(server.requests[1])
    assert [m["tool_call_id"] for m in results] == ["a", "b"]
    assert all("error" not in json.loads(m["content"]) for m in results)
    assert events[-1] == Finished("done")


async def test_parallel_calls_reusing_index_zero_are_told_apart_by_id(serve: Any) -> None:
    server = serve(
        [
            tool_reply(
                Call("node_detail", {"name": "gpu-02"}, id="x1"),
                Call("job_detail", {"job_id": "43"}, id="x2"),
                same_index=True,
            ),
            text_reply("ok"),
        ]
    )
    await collect(session_for(server), "q")
    results = tool_messages(server.requests[1])
    assert [m["name"] for m in results] == ["node_detail", "job_detail"]
    assert json.loads(results[0]["content"])["reason"] == "xid 79 on GPU 3"
    assert "QOS allows" in json.loads(results[1]["content"])["reason_explained"]


async def test_malformed_arguments_and_unknown_tools_are_answered_as_errors(serve: Any) -> None:
    server = serve(
        [
            tool_reply(
                Call("job_detail", '{"job_id": 42', id="bad"),
                Call("reboot_everything", {}, id="unknown"),
                Call("node_detail", {"nme": "gpu-01"}, id="typo"),
            ),
            tool_reply(Call("job_detail", {"job_id": 42}, id="fixed")),
            text_reply("fixed it"),
        ]
    )
    events = await collect(session_for(server), "q")
    errors = {e.id: e.error for e in events if isinstance(e, ToolCallFinished)}
    assert "not valid JSON" in (errors["bad"] or "")
    assert "unknown tool 'reboot_everything'" in (errors["unknown"] or "")
    assert "unknown argument(s) nme" in (errors["typo"] or "")
    assert errors["fixed"] is None  # a numeric job id is accepted
    assert events[-1] == Finished("fixed it")


async def test_an_identical_call_is_answered_from_the_first_result(serve: Any) -> None:
    history = CountingHistory()
    call = {"node": "gpu-01", "range": "1h"}
    server = serve(
        [
            tool_reply(Call("gpu_history", call, id="first")),
            tool_reply(Call("gpu_history", {"range": "1h", "node": "gpu-01"}, id="again")),
            text_reply("same"),
        ]
    )
    await collect(session_for(server, make_context(history=history)), "q")
    assert len(history.calls) == 1
    repeated = tool_messages(server.requests[2])[-1]
    assert repeated["tool_call_id"] == "again" and repeated["content"].startswith("(identical")


async def test_http_500_is_retried_then_reported_in_one_line(serve: Any) -> None:
    server = serve([http_error(500, "CUDA out of memory")] * 3)
    session = session_for(server)
    events = await collect(session, "q")
    assert len(server.requests) == 3  # the first try and two retries
    failure = events[-1]
    assert isinstance(failure, Failed)
    assert "HTTP 500" in failure.error and "CUDA out of memory" in failure.error
    assert "\n" not in failure.error


async def test_a_stalled_stream_times_out_with_a_clear_error(serve: Any) -> None:
    server = serve([stalled_reply("I am thinking")])
    session = session_for(server, timeout_s=0.3)
    started = time.monotonic()
    events = await collect(session, "q")
    assert time.monotonic() - started < 5
    failure = events[-1]
    assert isinstance(failure, Failed) and "timed out" in failure.error
    assert session.messages[-1]["role"] == "assistant"  # the conversation stays usable


async def test_a_model_that_never_stops_calling_tools_gets_a_final_step(serve: Any) -> None:
    def script(body: dict[str, Any]) -> Reply:
        if "tools" not in body:
            return text_reply("Best answer so far.")
        step = len([m for m in body["messages"] if m["role"] == "assistant"])
        return tool_reply(Call("list_nodes", {"limit": step + 1}, id=f"s{step}"))

    server = serve(script)
    events = await collect(session_for(server), "loop forever")
    assert len(server.requests) == 12
    last = server.requests[-1]
    assert "tools" not in last and last["messages"][-1]["content"] == FINAL_STEP_NOTE
    assert [e.step for e in events if isinstance(e, StepStarted)] == list(range(1, 13))
    assert events[-1] == Finished("Best answer so far.")


async def test_step_limit_is_configurable(serve: Any) -> None:
    def script(body: dict[str, Any]) -> Reply:
        if "tools" not in body:
            return text_reply("stopped")
        return tool_reply(Call("cluster_summary", {}, id=f"c{len(body['messages'])}"))

    server = serve(script)
    await collect(session_for(server, config=LoopConfig(max_steps=3)), "q")
    assert len(server.requests) == 3


async def test_big_results_are_cut_and_old_ones_trimmed(serve: Any) -> None:
    logs = "\n".join(f"INFO line {i} " + "x" * 80 for i in range(500))
    server = serve(
        [
            tool_reply(Call("vllm_logs", {"lines": 500}, id="l1")),
            tool_reply(Call("vllm_logs", {"lines": 400}, id="l2")),
            text_reply("done"),
        ],
        log_body=logs,
    )
    context = make_context(log_url=server.root_url)
    config = LoopConfig(max_result_chars=2000, context_budget_tokens=1200)
    await collect(session_for(server, context, config=config), "check the logs")
    first = tool_messages(server.requests[1])[0]["content"]
    assert len(first) <= 2000 and "Narrow the query" in first
    assert server.log_requests[0]["lines"] == ["500"]
    final_request = tool_messages(server.requests[2])
    assert final_request[0]["content"] == TRIMMED  # the older result made room
    assert "Narrow the query" in final_request[1]["content"]  # the latest one is kept


async def test_cancelling_keeps_the_conversation_consistent(serve: Any) -> None:
    slow = Reply(tuple({"content": f"word{i} "} for i in range(50)), delay_between_s=0.05)
    server = serve([slow, text_reply("second answer")])
    session = session_for(server)
    streaming = asyncio.Event()

    async def consume() -> None:
        async for event in session.ask("long question"):
            if isinstance(event, TextDelta):
                streaming.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(streaming.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert session.messages[-1]["role"] == "assistant"
    assert session.messages[-1]["content"].endswith(CANCELLED_NOTE)
    events = await collect(session, "again")
    assert events[-1] == Finished("second answer")
    roles = [m["role"] for m in server.requests[1]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


async def test_health_reports_online_model_or_a_one_line_reason(serve: Any) -> None:
    server = serve([])
    good = AgentClient(ClientSettings(base_url=server.base_url, model=server.model))
    health = await good.health()
    assert health.name == "agent" and health.ok and health.detail == server.model
    wrong = AgentClient(ClientSettings(base_url=server.base_url, model="other/model"))
    health = await wrong.health()
    assert not health.ok and "other/model not served" in (health.last_error or "")
    port = server.port
    server.stop()
    gone = AgentClient(ClientSettings(base_url=f"http://127.0.0.1:{port}/v1", max_retries=0))
    health = await gone.health()
    assert not health.ok and "cannot reach model server" in (health.last_error or "")
    for client in (good, wrong, gone):
        await client.aclose()


async def test_a_tool_error_quoting_a_huge_argument_is_capped(serve: Any) -> None:
    huge = "gpu-" + "x" * 1_000_000
    server = serve([tool_reply(Call("node_detail", {"name": huge}, id="big")), text_reply("ok")])
    config = LoopConfig(max_result_chars=2000)
    events = await collect(session_for(server, config=config), "q")
    finished = next(e for e in events if isinstance(e, ToolCallFinished))
    assert finished.error and len(finished.error) <= 500
    sent_back = tool_messages(server.requests[1])[0]["content"]
    assert len(sent_back) <= 2000 and "error" in sent_back


async def test_keep_alive_comments_do_not_extend_the_timeout(serve: Any) -> None:
    server = serve([Reply(({"content": "thinking"},), stall_after=1, keep_alive_s=0.1)])
    session = session_for(server, timeout_s=1.0)
    events = await asyncio.wait_for(collect(session, "q"), timeout=20)
    failure = events[-1]
    assert isinstance(failure, Failed)
    assert "no data for 1 s" in failure.error and "\n" not in failure.error
