"""Tool-call fragments as different servers stream them, and the context budget."""

from __future__ import annotations

from tui.agent.budget import TRIMMED, cap_result, estimate_tokens, trim_to_budget
from tui.agent.stream import ToolCallAssembler, delta_reasoning


def test_fragments_without_ids_join_the_call_at_their_index() -> None:
    calls = ToolCallAssembler()
    calls.add(0, "a", "node_detail", '{"na')
    calls.add(1, "b", "job_detail", '{"job_id"')
    calls.add(0, None, None, 'me": "gpu-01"}')
    calls.add(1, None, None, ': "42"}')
    assert [(c.id, c.name, c.arguments) for c in calls.finished()] == [
        ("a", "node_detail", '{"name": "gpu-01"}'),
        ("b", "job_detail", '{"job_id": "42"}'),
    ]


def test_a_new_id_at_a_reused_index_starts_a_new_call() -> None:
    calls = ToolCallAssembler()
    calls.add(0, "a", "alerts", "{}")
    calls.add(0, "b", "idle_gpus", "{")
    calls.add(0, None, None, "}")
    assert [(c.id, c.name, c.arguments) for c in calls.finished()] == [
        ("a", "alerts", "{}"),
        ("b", "idle_gpus", "{}"),
    ]


def test_a_missing_id_is_made_up_and_replaced_when_it_arrives() -> None:
    calls = ToolCallAssembler()
    calls.add(None, None, "cluster_summary", "")
    assert calls.finished()[0].id == "call_0"
    calls.add(None, "real-id", None, "{}")
    assert [(c.id, c.arguments) for c in calls.finished()] == [("real-id", "{}")]


def test_reasoning_under_either_key() -> None:
    assert delta_reasoning({"reasoning_content": "a"}) == "a"
    assert delta_reasoning({"reasoning": "b", "content": "x"}) == "b"
    assert delta_reasoning({"content": "x"}) == ""


def test_results_are_capped_with_a_marker() -> None:
    assert cap_result("short", 100) == "short"
    cut = cap_result("x" * 10_000, 500)
    assert len(cut) <= 500 and "Narrow the query" in cut


def test_oldest_tool_results_are_trimmed_first_and_the_latest_kept() -> None:
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "content": "a" * 4000},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "content": "b" * 4000},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "content": "c" * 4000},
    ]
    trimmed = trim_to_budget(messages, budget_tokens=3000)
    assert [m["content"][:1] for m in trimmed if m["role"] == "tool"] == ["[", "b", "c"]
    assert trimmed[2]["content"] == TRIMMED and messages[2]["content"] == "a" * 4000
    assert estimate_tokens(trim_to_budget(messages, budget_tokens=100_000)) > 2500
