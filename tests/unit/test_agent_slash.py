"""Slash commands: the same tools, straight to Markdown, no model needed."""

from __future__ import annotations

import pytest

from tests.agent_cluster import NOW, sample_snapshot
from tui.agent.slash import ONE_LINE_HELP, is_slash, run_slash
from tui.agent.tool_context import ToolContext


def ctx() -> ToolContext:
    snapshot = sample_snapshot()
    return ToolContext(snapshot=lambda: snapshot, clock=lambda: NOW, gpu_hourly_price=2.0)


async def test_nodes_by_state_is_a_markdown_table() -> None:
    result = await run_slash(ctx(), "/nodes drain")
    assert result.ok
    lines = result.markdown.splitlines()
    assert lines[0] == "**1 node(s)** in state drain"
    assert lines[2].startswith("| name | state | gpus |")
    assert "| gpu-02 | drained | 0/8 |" in result.markdown and "xid 79 on GPU 3" in result.markdown
    assert "gpu-01" not in result.markdown


async def test_why_explains_a_pending_job_in_plain_words() -> None:
    result = await run_slash(ctx(), "/why 42")
    assert result.ok
    assert result.markdown.startswith("Job 42 is pending (pending for 1h05m): **Resources**.")
    assert "not enough free" in result.markdown
    running = await run_slash(ctx(), "/why 101")
    assert running.markdown == "Job 101 is not pending: it is RUNNING."


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/node gpu-04", "| 5 | 99.0 |"),
        ("/jobs bob", "**2 job(s)** of bob"),
        ("/job 44", "| held | True |"),
        ("/idle", "costing about $8.00/hour"),
        ("/gpu gpu-01", "GPU history is not available"),
        ("/help", "`/why ID`"),
    ],
)
async def test_each_command_answers(command: str, expected: str) -> None:
    result = await run_slash(ctx(), command)
    assert result.ok and expected in result.markdown


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/frobnicate", f"unknown command /frobnicate; {ONE_LINE_HELP}"),
        ("/node", "usage: /node NAME"),
        ("/job 1 2", "usage: /job ID"),
        ("/logs many", "usage: /logs [lines]"),
        ("/node gpu-99", "no node named 'gpu-99'"),
        ("/alerts", "alerting not configured"),
        ("/logs", "no vLLM log server configured ([agent] log_url)"),
        ('/job "42', "No closing quotation"),
    ],
)
async def test_bad_commands_get_one_line(command: str, expected: str) -> None:
    result = await run_slash(ctx(), command)
    assert not result.ok and expected in result.markdown and "\n" not in result.markdown


def test_only_text_starting_with_a_slash_is_a_command() -> None:
    assert is_slash(" /nodes") and not is_slash("why is /job 42 pending?")


async def test_job_is_a_field_table_without_python_dicts() -> None:
    result = await run_slash(ctx(), "/job 101")
    assert result.ok
    assert "| field | value |" in result.markdown
    assert "| gpu_indices | gpu-01: 0, 1, 2, 3 |" in result.markdown
    assert "{" not in result.markdown and "[" not in result.markdown


async def test_alerts_are_a_table() -> None:
    from tui.alerts.engine import AlertEngine
    from tui.alerts.rules import Comparator, Rule, Watch
    from tui.model import ClusterSnapshot, Gpu

    engine = AlertEngine([Rule("hot", Watch.GPU_TEMPERATURE, Comparator.GTE, 90)])
    engine.evaluate(
        ClusterSnapshot(taken_at=NOW, gpus=(Gpu("gpu-07", 3, temperature_c=95),)), now=NOW
    )

    class View:
        active = list(engine.active)
        history: list[object] = []

    snapshot = sample_snapshot()
    context = ToolContext(snapshot=lambda: snapshot, clock=lambda: NOW, alerts=lambda: View())
    result = await run_slash(context, "/alerts")
    assert result.ok
    lines = result.markdown.splitlines()
    assert lines[0] == "**1 active alert(s)**"
    assert lines[2].startswith("| severity | state | rule | target | summary |")
    assert "| hot | gpu-07/gpu3 |" in result.markdown
    assert "{" not in result.markdown
