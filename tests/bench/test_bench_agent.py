"""What the agent loop adds per model step over the model server's own time.

The real openai client streams from the scripted server (its own process, like vLLM) over
loopback; the server times each request from receipt to its last byte, the loop's emit
callback times each step (tool calls included).
"""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any

import pytest

from tests.agent_cluster import NOW, sample_snapshot
from tests.agent_server import Call, Reply, ScriptedServerProcess, text_reply, tool_reply
from tests.bench.report import bench
from tui.agent.client import AgentClient, ClientSettings
from tui.agent.events import AgentEvent, Finished, StepStarted
from tui.agent.loop import AgentSession, LoopConfig
from tui.agent.tool_context import ToolContext

MAX_OVERHEAD_MS = 5.0
QUESTIONS = 6
STEPS = 12  # 11 tool steps and the final answer per question
ANSWER_CHUNKS = 60


def script(body: dict[str, Any]) -> Reply:
    if "tools" not in body:
        return text_reply(*(f"word{i} " for i in range(ANSWER_CHUNKS)))
    step = sum(1 for m in body["messages"] if m["role"] == "assistant")
    return tool_reply(
        Call("list_nodes", {"state": "mixed", "limit": step + 1}, id=f"a{step}"),
        Call("job_detail", {"job_id": "42"}, id=f"b{step}"),
        text="Looking. ",
        reasoning="checking nodes and the job",
    )


@pytest.mark.bench
async def test_bench_agent_loop_overhead() -> None:
    snapshot = sample_snapshot()
    context = ToolContext(snapshot=lambda: snapshot, clock=lambda: NOW)
    step_times: list[float] = []
    with ScriptedServerProcess(script) as server:
        client = AgentClient(ClientSettings(base_url=server.base_url, model=server.model))
        try:
            for question in range(QUESTIONS + 1):  # the first warms up connections and imports
                marks: list[float] = []

                def emit(event: AgentEvent, marks: list[float] = marks) -> None:
                    if isinstance(event, StepStarted | Finished):
                        marks.append(time.perf_counter())

                session = AgentSession(client, context, config=LoopConfig(max_steps=STEPS))
                await session.run(f"question {question}", emit)
                if question:
                    step_times += [b - a for a, b in itertools.pairwise(marks)]
        finally:
            await client.aclose()
    server_times = server.server_times[STEPS:]
    assert len(step_times) == len(server_times) == QUESTIONS * STEPS
    overheads_ms = [(c - s) * 1e3 for c, s in zip(step_times, server_times, strict=True)]
    overhead = statistics.median(overheads_ms)
    bench("agent_loop_overhead_ms", overhead, "ms", at_most=MAX_OVERHEAD_MS, digits=2)
    bench(
        "agent_loop_overhead_p90_ms", statistics.quantiles(overheads_ms, n=10)[-1], "ms", digits=2
    )
    bench("agent_server_ms_per_step", statistics.median(server_times) * 1e3, "ms", digits=2)
