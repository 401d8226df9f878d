"""`clusterdash mcp --demo` spoken to by the SDK's own client over stdio."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

import pytest

pytest.importorskip("mcp", reason="the mcp extra is not installed")

import mcp_types as types
from mcp import Client
from mcp.client.context import ClientRequestContext

from tests.mcp_support import ONE_CYCLE, REPO, mcp_session, payload, server_parameters, text_of
from tui.actions import Action, ActionKind
from tui.agent.slash import run_slash
from tui.agent.tool_context import ToolContext
from tui.agent.tool_registry import ACTION_TOOLS, READ_TOOLS
from tui.config import load_settings
from tui.mcp_server.server import CANNOT_ASK, DECLINED, NOT_OFFERED, TOOL_TIME_META
from tui.mode import store_path_for
from tui.services import build_alerting, build_services
from tui.store import AuditEntry, Store

DEMO = ["--demo", "--nodes", "16", "--seed", "7"]
# Fields that say how long ago something happened: they differ between two processes.
WHEN = {"data_age", "pending_for", "running_for", "last_success_ago", "latency_ms"}


def without_times(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: without_times(v) for k, v in data.items() if k not in WHEN}
    if isinstance(data, list):
        return [without_times(item) for item in data]
    return data


async def local_context() -> tuple[ToolContext, Any]:
    """The same simulated cluster (seed 7, first cycle) in this process, as the chat reads it."""
    settings = load_settings(None, overrides={"demo": {"nodes": 16, "seed": 7}})
    services = await build_services(settings, "demo", with_store=False)
    alerting = await build_alerting(settings, None, services.cluster_name, services.closers)
    services.collector.subscribe(alerting.on_snapshot)
    snapshot = await services.collector.collect_once()
    context = ToolContext.from_settings(settings, lambda: snapshot, alerts=alerting.overview)
    return context, services


async def test_tools_are_listed_with_the_schemas_the_assistant_sends() -> None:
    async with mcp_session(DEMO) as session:
        listed = (await session.list_tools()).tools
    assert [tool.name for tool in listed] == [spec.name for spec in READ_TOOLS]
    for tool, spec in zip(listed, READ_TOOLS, strict=True):
        sent_to_model = spec.schema()["function"]
        assert tool.description == sent_to_model["description"]
        assert tool.input_schema == sent_to_model["parameters"]
        assert tool.annotations is not None and tool.annotations.read_only_hint


async def test_each_read_tool_answers_what_the_chat_and_its_slash_commands_show() -> None:
    context, services = await local_context()
    try:
        snapshot = context.require_snapshot()
        job = snapshot.jobs[0]
        node = snapshot.nodes[0].name
        calls: dict[str, dict[str, Any]] = {
            "cluster_summary": {},
            "list_nodes": {},
            "node_detail": {"name": node},
            "list_jobs": {},
            "job_detail": {"job_id": job.job_id},
            "gpu_history": {"node": node},
            "idle_gpus": {},
            "alerts": {},
            "source_health": {},
            "vllm_logs": {},
            "gpu_usage_report": {"since": "1h"},
        }
        assert set(calls) == {spec.name for spec in READ_TOOLS}
        answers: dict[str, types.CallToolResult] = {}
        async with mcp_session(DEMO, env=ONE_CYCLE) as session:
            for name, arguments in calls.items():
                answers[name] = await session.call_tool(name, arguments)
        for spec in READ_TOOLS:
            answer = answers[spec.name]
            if spec.name == "gpu_history":  # the server records its own history as it collects
                history = payload(answer)
                assert not answer.is_error and history["node"] == node and history["gpus"]
                continue
            if spec.name == "gpu_usage_report":  # read from the server's own history too
                report = payload(answer)
                assert not answer.is_error and {"users", "top_wasting_jobs"} <= set(report)
                continue
            try:
                expected: Any = await spec.run(context, calls[spec.name])
            except Exception as error:  # the same one-line refusal, as an error result
                assert answer.is_error and text_of(answer) == str(error), spec.name
                continue
            assert not answer.is_error, text_of(answer)
            got = payload(answer)
            if spec.name == "alerts":  # each engine's pending/firing clock started on its own
                got, expected = (
                    sorted((a["rule"], a["target"]) for a in data["active"])
                    for data in (got, expected)
                )
                assert got, "the simulated cluster starts with alerts active"
            if spec.name == "source_health":  # the server also has its history database
                assert got.pop("store")["ok"]
            assert without_times(got) == without_times(expected), spec.name
        rows = payload(answers["list_nodes"])["nodes"]
        markdown = (await run_slash(context, "/nodes")).markdown
        assert [line.split(" | ")[0].lstrip("| ") for line in markdown.splitlines()[4:]] == [
            row["name"] for row in rows
        ]
        detail = payload(answers["job_detail"])
        shown = (await run_slash(context, f"/job {job.job_id}")).markdown
        assert f"**job {detail['id']}** {detail['name']}" in shown
        assert f"| user | {detail['user']} |" in shown and f"| nodes | {detail['nodes']} |" in shown
    finally:
        await services.aclose()


async def test_the_snapshot_resource_is_the_snapshot_json() -> None:
    async with mcp_session(DEMO, env=ONE_CYCLE) as session:
        uris = [str(r.uri) for r in (await session.list_resources()).resources]
        snapshot = await session.read_resource("cluster://snapshot")
        alerts = await session.read_resource("cluster://alerts")
    assert uris == ["cluster://snapshot", "cluster://alerts"]
    [content] = snapshot.contents
    assert isinstance(content, types.TextResourceContents)
    data = json.loads(content.text)
    assert data["schema"] == "clusterdash.snapshot/1" and data["demo"] is True
    assert len(data["nodes"]) == 16 and data["summary"]["gpus_total"] == 128
    [listed] = alerts.contents
    assert isinstance(listed, types.TextResourceContents) and '"active"' in listed.text


BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("list_nodes", {"limit": "many"}, "list_nodes: argument limit must be of type integer"),
    ("node_detail", {}, "node_detail: missing required argument(s) name"),
    ("list_jobs", {"colour": "red"}, "list_jobs: unknown argument(s) colour; accepted:"),
    ("node_detail", {"name": "gpu-99"}, "no node named 'gpu-99'"),
    ("gpu_history", {"node": "gpu-01", "metric": "fan"}, "metric must be one of"),
    ("explode", {}, "unknown tool 'explode'; available: cluster_summary"),
]


async def test_bad_arguments_get_the_tools_one_line_error() -> None:
    async with mcp_session(DEMO) as session:
        results = [await session.call_tool(tool, arguments) for tool, arguments, _ in BAD_CALLS]
    for (tool, _, message), result in zip(BAD_CALLS, results, strict=True):
        text = text_of(result)
        assert result.is_error and message in text, tool
        assert "\n" not in text and "Traceback" not in text


async def test_a_read_answer_says_how_long_the_tool_itself_ran() -> None:
    async with mcp_session(DEMO, env=ONE_CYCLE) as session:
        await session.call_tool("cluster_summary", {})  # the first waits for the first cycle
        started = time.perf_counter()
        result = await session.call_tool("list_nodes", {})
        round_trip_ms = (time.perf_counter() - started) * 1e3
        refused = await session.call_tool("node_detail", {"name": "no-such-node"})
    assert not result.is_error and result.meta is not None
    own_ms = result.meta[TOOL_TIME_META]
    assert isinstance(own_ms, float) and 0 < own_ms < round_trip_ms
    assert refused.is_error and not (refused.meta or {}).get(TOOL_TIME_META)


async def audit_rows(mode: str) -> list[AuditEntry]:
    store = await Store.open(store_path_for(load_settings(None), mode), readonly=True)
    try:
        return await store.list_audit()
    finally:
        await store.close()


async def node_state(session: Any, node: str) -> str:
    return str(payload(await session.call_tool("node_detail", {"name": node}))["state"])


async def undrained_node(session: Any) -> tuple[str, str]:
    """A node no one has drained yet, and its state."""
    rows = payload(await session.call_tool("list_nodes", {}))["nodes"]
    row = next(row for row in rows if row["state"] in ("idle", "mixed", "allocated"))
    return str(row["name"]), str(row["state"])


async def test_without_allow_actions_actions_are_not_listed_and_refused() -> None:
    async with mcp_session(DEMO) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        node, before = await undrained_node(session)
        result = await session.call_tool("drain_node", {"node": node, "reason": "bad fan"})
        state = await node_state(session, node)
    assert not names & {spec.name for spec in ACTION_TOOLS}
    assert result.is_error and text_of(result) == NOT_OFFERED
    assert state == before


async def test_declined_confirmation_runs_nothing_and_shows_the_exact_command() -> None:
    asked: list[str] = []

    async def decline(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="decline")

    async with mcp_session([*DEMO, "--allow-actions"], elicitation=decline) as session:
        listed = {tool.name for tool in (await session.list_tools()).tools}
        node, before = await undrained_node(session)
        result = await session.call_tool("drain_node", {"node": node, "reason": "bad fan"})
        state = await node_state(session, node)
    assert listed >= {"drain_node", "resume_node", "cancel_job", "requeue_job", "hold_job"}
    command = shlex.join(Action(ActionKind.DRAIN, (node,), "bad fan").argv()[0])
    assert len(asked) == 1 and command in asked[0]
    assert command == f"scontrol update NodeName={node} State=DRAIN 'Reason=bad fan'"
    assert not result.is_error and payload(result)["outcome"] == DECLINED
    assert state == before
    assert await audit_rows("demo") == []


async def test_a_client_that_cannot_confirm_gets_a_refusal() -> None:
    async with mcp_session([*DEMO, "--allow-actions"]) as session:
        node, before = await undrained_node(session)
        result = await session.call_tool("drain_node", {"node": node, "reason": "bad fan"})
        state = await node_state(session, node)
    assert result.is_error and text_of(result) == CANNOT_ASK
    assert state == before


async def test_newer_protocol_clients_confirm_by_answering_and_calling_again() -> None:
    """2026-07-28 clients get an InputRequiredResult; the SDK's Client answers and retries."""
    asked: list[str] = []

    async def accept(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    async with Client(
        server_parameters([*DEMO, "--allow-actions"]), elicitation_callback=accept
    ) as client:
        assert client.session.protocol_version == "2026-07-28"
        rows = payload(await client.call_tool("list_nodes", {}))["nodes"]
        node = next(row["name"] for row in rows if row["state"] in ("idle", "mixed"))
        result = await client.call_tool("drain_node", {"node": node, "reason": "bad fan"})
        state = payload(await client.call_tool("node_detail", {"name": node}))["state"]
    assert len(asked) == 1 and f"NodeName={node} State=DRAIN" in asked[0]
    assert payload(result)["outcome"].startswith("done")
    assert state in ("drained", "draining")
    [entry] = await audit_rows("demo")
    assert (entry.origin, entry.action, entry.targets, entry.ok) == ("mcp", "drain", (node,), True)


def run_cli(*args: str, python_prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"{python_prelude}\nimport sys\nfrom tui.cli import main\nsys.exit(main({list(args)!r}))"
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=os.environ.copy(),
        stdin=subprocess.DEVNULL,
    )


def test_readonly_forbids_allow_actions_in_one_line() -> None:
    done = run_cli("mcp", "--demo", "--readonly", "--allow-actions")
    assert done.returncode == 2
    assert done.stderr == "clusterdash: --readonly forbids --allow-actions\n"


def test_without_the_sdk_it_names_the_extra_to_install() -> None:
    done = run_cli("mcp", "--demo", python_prelude="import sys\nsys.modules['mcp'] = None")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "pip install 'clusterdash[mcp]'" in done.stderr
