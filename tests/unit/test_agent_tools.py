"""The agent's tools on a fixed snapshot, the pending-reason table and the system prompt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import Field

from tests.agent_cluster import NOW, AlertsBoard, sample_snapshot
from tests.agent_server import ScriptedServer
from tui.actions import Action, ActionKind
from tui.agent import tools
from tui.agent.prompts import system_prompt, thermals_for
from tui.agent.reasons import explain_reason
from tui.agent.tool_context import ToolContext, ToolError
from tui.agent.tool_registry import ALL_TOOLS, check_arguments, declare, offered_tools
from tui.store import Store


def ctx(**kwargs: Any) -> ToolContext:
    snapshot = sample_snapshot()
    return ToolContext(snapshot=lambda: snapshot, clock=lambda: NOW, **kwargs)


async def test_summary_counts_what_an_operator_looks_at_first() -> None:
    summary = await tools.cluster_summary(ctx())
    assert summary["nodes"] == 4 and summary["gpus_total"] == 32 and summary["gpus_allocated"] == 14
    assert summary["node_states"] == {"mixed": 1, "drained": 1, "down": 1, "allocated": 1}
    assert summary["jobs"] == {"RUNNING": 3, "PENDING": 3}
    assert summary["gpus_allocated_idle"] == 4 and summary["gpu_temp_max"] == 91.0
    assert summary["sources_failing"] == ["gpu"]


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        ({"state": "drain"}, ["gpu-02"]),
        ({"state": "down"}, ["gpu-03"]),
        ({"state": "mixed"}, ["gpu-01"]),
        ({"name": "gpu-0[34]"}, ["gpu-03", "gpu-04"]),
        ({"partition": "cpu"}, []),
    ],
)
async def test_nodes_filter_like_sinfo(filters: dict[str, str], names: list[str]) -> None:
    result = await tools.list_nodes(ctx(), **filters)
    assert [n["name"] for n in result["nodes"]] == names


async def test_long_lists_say_how_to_narrow_them() -> None:
    result = await tools.list_nodes(ctx(), limit=2)
    assert result["count"] == 4 and len(result["nodes"]) == 2 and "filter" in result["more"]


async def test_node_detail_shows_gpus_and_jobs_and_suggests_names() -> None:
    detail = await tools.node_detail(ctx(), "gpu-04")
    hot = next(g for g in detail["gpus"] if g["gpu"] == 5)
    assert hot["temp"] == 91.0 and hot["job"] == "103" and hot["user"] == "carol"
    assert [j["id"] for j in detail["jobs"]] == ["103"]
    with pytest.raises(ToolError, match="similar: gpu-01"):
        await tools.node_detail(ctx(), "gpu-0")


async def test_jobs_filter_and_job_detail_explains_pending_reason() -> None:
    mine = await tools.list_jobs(ctx(), user="alice")
    assert [j["id"] for j in mine["jobs"]] == ["101", "42"]
    pending = await tools.list_jobs(ctx(), state="pending")
    assert [j["id"] for j in pending["jobs"]] == ["42", "43", "44"]
    with pytest.raises(ToolError, match="unknown job state 'stuck'"):
        await tools.list_jobs(ctx(), state="stuck")
    detail = await tools.job_detail(ctx(), "43")
    assert detail["reason"] == "QOSMaxGRESPerUser" and detail["pending_for"] == "10m"
    assert "most GPUs (GRES) their QOS allows" in detail["reason_explained"]
    running = await tools.job_detail(ctx(), "101")
    assert "reason_explained" not in running and running["running_for"] == "1h56m"
    with pytest.raises(ToolError, match="no job 999"):
        await tools.job_detail(ctx(), "999")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Resources", "not enough free"),
        ("(Priority)", "higher priority"),
        ("Dependency", "depends on"),
        ("JobHeldUser", "Held by its owner"),
        ("JobHeldAdmin", "administrator"),
        ("ReqNodeNotAvail, UnavailableNodes:gpu-[02-03]", "UnavailableNodes:gpu-[02-03]"),
        ("PartitionTimeLimit", "never start"),
        ("AssocGrpGRES", "group GPU"),
        ("SomethingNew", "Slurm reason 'SomethingNew'"),
    ],
)
def test_pending_reasons_in_plain_words(raw: str, expected: str) -> None:
    assert expected in explain_reason(raw)


async def test_idle_gpus_cost_money_per_hour() -> None:
    result = await tools.idle_gpus(ctx(gpu_hourly_price=2.5))
    assert result["count"] == 4 and result["cost_per_hour_usd"] == 10.0
    assert result["by_job"] == [{"job": "101", "user": "alice", "idle_gpus": 4}]


async def test_gpu_history_from_the_real_store(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "h.db") as store:
        for minutes_ago, util in ((30, 10.0), (20, 50.0), (10, 90.0)):
            snap = sample_snapshot(taken_at=NOW - minutes_ago * 60)
            gpus = tuple(g for g in snap.gpus if g.node == "gpu-04")
            await store.write_snapshot(
                type(snap)(
                    taken_at=snap.taken_at,
                    gpus=tuple(type(g)(g.node, g.index, utilization_pct=util) for g in gpus),
                )
            )
        result = await tools.gpu_history(ctx(history=store), "gpu-04", gpu=2, range="1h")
        (row,) = result["gpus"]
        assert (row["gpu"], row["min"], row["max"], row["last"]) == (2, 10.0, 90.0, 90.0)
        with pytest.raises(ToolError, match="range"):
            await tools.gpu_history(ctx(history=store), "gpu-04", range="soon")
        with pytest.raises(ToolError, match="no node named 'gpu-99'"):
            await tools.gpu_history(ctx(history=store), "gpu-99")
    with pytest.raises(ToolError, match="not available"):
        await tools.gpu_history(ctx(), "gpu-04")


async def test_alerts_from_a_provider_or_not_configured() -> None:
    board = AlertsBoard(active=[{"rule": "gpu_hot", "target": "gpu-04/5", "value": 91}])

    async def provider() -> AlertsBoard:
        return board

    result = await tools.alerts(ctx(alerts=provider))
    assert result["active"] == [{"rule": "gpu_hot", "target": "gpu-04/5", "value": 91}]
    with pytest.raises(ToolError, match="alerting not configured"):
        await tools.alerts(ctx())


async def test_source_health_and_no_data_yet() -> None:
    health = await tools.source_health(ctx())
    assert health["gpu"]["error"] == "gpu-03: connection refused" and health["slurm"]["ok"]
    empty = ToolContext(snapshot=lambda: None)
    with pytest.raises(ToolError, match="no cluster data yet"):
        await tools.cluster_summary(empty)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("l1\nERROR l2\nl3\n", "text/plain"),
        (json.dumps({"lines": ["l1", "ERROR l2", "l3"]}), "application/json"),
    ],
)
async def test_vllm_log_tail_accepts_text_or_json(body: str, content_type: str) -> None:
    with ScriptedServer([], log_body=body, log_content_type=content_type) as server:
        context = ctx(log_url=server.root_url)
        assert await tools.vllm_logs(context, lines=2) == "ERROR l2\nl3"
        assert await tools.vllm_logs(context, contains="error") == "ERROR l2"
        assert server.log_requests[0]["lines"] == ["2"]
    with pytest.raises(ToolError, match="log server"):
        await tools.vllm_logs(ctx(log_url=server.root_url))
    with pytest.raises(ToolError, match="no vLLM log server configured"):
        await tools.vllm_logs(ctx())


def test_readonly_offers_no_action_tools_and_schemas_are_openai_format() -> None:
    names = {spec.name for spec in offered_tools(readonly=True)}
    assert "drain_node" not in names and "cluster_summary" in names
    schema = offered_tools(readonly=False)[-1].schema()
    assert schema["type"] == "function" and schema["function"]["parameters"]["type"] == "object"


def test_arguments_are_checked_against_the_schema() -> None:
    spec = ALL_TOOLS["list_nodes"]
    assert check_arguments(spec, {"limit": "5", "state": None}) == {"limit": 5}
    with pytest.raises(ToolError, match="argument limit must be of type integer"):
        check_arguments(spec, {"limit": "many"})
    with pytest.raises(ToolError, match="argument limit must be of type integer, got True"):
        check_arguments(spec, {"limit": True})
    with pytest.raises(ToolError, match=r"unknown argument\(s\) color; accepted: state, partition"):
        check_arguments(spec, {"color": "red"})
    with pytest.raises(ToolError, match="missing required argument"):
        check_arguments(ALL_TOOLS["node_detail"], {})
    with pytest.raises(ToolError, match="metric must be one of utilization_pct, memory_used_mib"):
        check_arguments(ALL_TOOLS["gpu_history"], {"node": "gpu-01", "metric": "fan"})
    assert check_arguments(ALL_TOOLS["cancel_job"], {"job_id": 42}) == {"job_id": "42"}


async def example_tool(
    ctx: ToolContext,
    node: Annotated[str, Field(description="node name")],
    hours: int = 1,
    verbose: bool | None = None,
) -> dict[str, Any]:
    """Says what a declaration turns into.

    Only the first paragraph is the description.
    """
    return {"node": node, "hours": hours, "verbose": verbose}


async def test_a_declaration_is_the_schema_the_check_and_the_call() -> None:
    spec = declare(example_tool)
    assert spec.schema()["function"] == {
        "name": "example_tool",
        "description": "Says what a declaration turns into.",
        "parameters": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "node": {"type": "string", "description": "node name"},
                "hours": {"type": "integer", "default": 1},
                "verbose": {"type": "boolean"},
            },
            "required": ["node"],
        },
    }
    arguments = check_arguments(spec, {"node": "gpu-01", "hours": "3"})
    assert await spec.run(ctx(), arguments) == {"node": "gpu-01", "hours": 3, "verbose": None}
    with pytest.raises(ToolError, match="example_tool: argument verbose must be of type boolean"):
        check_arguments(spec, {"node": "gpu-01", "verbose": "maybe"})


def test_action_tools_build_the_action_they_propose() -> None:
    names = [spec.name for spec in offered_tools(readonly=False) if spec.action]
    assert names == [
        "drain_node",
        "resume_node",
        "cancel_job",
        "requeue_job",
        "hold_job",
        "release_job",
    ]
    drain = ALL_TOOLS["drain_node"]
    action = drain.propose(check_arguments(drain, {"node": "gpu-02", "reason": " bad fan "}))
    assert action == Action(ActionKind.DRAIN, ("gpu-02",), "bad fan")
    with pytest.raises(ToolError, match="invalid job id"):
        ALL_TOOLS["hold_job"].propose({"job_id": "42;rm"})


def test_system_prompt_states_the_clusters_facts() -> None:
    prompt = system_prompt(sample_snapshot(), readonly=True)
    assert "4 nodes, 32 GPUs" in prompt and "partitions: gpu" in prompt
    assert "A100-SXM4-80GB: normal below 80 C" in prompt and "Read-only mode" in prompt
    assert "treat > 85 C as hot" in thermals_for("Tesla K80")
    assert "no data collected yet" in system_prompt(None, readonly=False)


# Every reason Slurm's job_reason_string() returns (22.05-23.11), as squeue prints them.
_SLURM_REASONS = """
None Prolog Priority Dependency Resources PartitionNodeLimit PartitionTimeLimit PartitionDown
PartitionInactive JobHeldAdmin JobHeldUser BeginTime Licenses AssociationJobLimit
AssociationResourceLimit AssociationTimeLimit Reservation ReqNodeNotAvail FrontEndDown NodeDown
BadConstraints SystemFailure JobLaunchFailure NonZeroExitCode TimeLimit InactiveLimit
InvalidAccount InvalidQOS QOSUsageThreshold QOSJobLimit QOSResourceLimit QOSTimeLimit
BlockMaxError BlockFreeAction Cleaning QOSNotAllowed AccountNotAllowed DependencyNeverSatisfied
QOSGrpCpuLimit QOSGrpCPUMinutesLimit QOSGrpCPURunMinutesLimit QOSGrpJobsLimit QOSGrpMemLimit
QOSGrpNodeLimit QOSGrpSubmitJobsLimit QOSGrpWallLimit QOSMaxCpuPerJobLimit
QOSMaxCpuMinutesPerJobLimit QOSMaxNodePerJobLimit QOSMaxWallDurationPerJobLimit
QOSMaxCpuPerUserLimit QOSMaxJobsPerUserLimit QOSMaxNodePerUserLimit QOSMaxSubmitJobPerUserLimit
QOSMinCpuNotSatisfied AssocGrpCpuLimit AssocGrpCPUMinutesLimit AssocGrpCPURunMinutesLimit
AssocGrpJobsLimit AssocGrpMemLimit AssocGrpNodeLimit AssocGrpSubmitJobsLimit AssocGrpWallLimit
AssocMaxJobsLimit AssocMaxCpuPerJobLimit AssocMaxCpuMinutesPerJobLimit AssocMaxNodePerJobLimit
AssocMaxWallDurationPerJobLimit AssocMaxSubmitJobLimit JobHoldMaxRequeue JobArrayTaskLimit
BurstBufferResources BurstBufferStageIn BurstBufferOperation PowerNotAvail PowerReserved
AssocGrpUnknown AssocGrpUnknownMinutes AssocGrpUnknownRunMinutes AssocMaxUnknownPerJob
AssocMaxUnknownPerNode AssocMaxUnknownMinutesPerJob AssocMaxCpuPerNode AssocGrpMemMinutes
AssocGrpMemRunMinutes AssocMaxMemPerJob AssocMaxMemPerNode AssocMaxMemMinutesPerJob
AssocGrpNodeMinutes AssocGrpNodeRunMinutes AssocMaxNodeMinutesPerJob AssocGrpEnergy
AssocGrpEnergyMinutes AssocGrpEnergyRunMinutes AssocMaxEnergyPerJob AssocMaxEnergyPerNode
AssocMaxEnergyMinutesPerJob AssocGrpGRES AssocGrpGRESMinutes AssocGrpGRESRunMinutes
AssocMaxGRESPerJob AssocMaxGRESPerNode AssocMaxGRESMinutesPerJob AssocGrpLicense
AssocGrpLicenseMinutes AssocGrpLicenseRunMinutes AssocMaxLicensePerJob
AssocMaxLicenseMinutesPerJob AssocGrpBB AssocGrpBBMinutes AssocGrpBBRunMinutes AssocMaxBBPerJob
AssocMaxBBPerNode AssocMaxBBMinutesPerJob QOSGrpUnknown QOSGrpUnknownMinutes
QOSGrpUnknownRunMinutes QOSMaxUnknownPerJob QOSMaxUnknownPerNode QOSMaxUnknownPerUser
QOSMaxUnknownMinutesPerJob QOSMinUnknown QOSMaxCpuPerNode QOSGrpMemoryMinutes
QOSGrpMemoryRunMinutes QOSMaxMemoryPerJob QOSMaxMemoryPerNode QOSMaxMemoryPerUser
QOSMaxMemoryMinutesPerJob QOSMinMemory QOSGrpNodeMinutes QOSGrpNodeRunMinutes
QOSMaxNodeMinutesPerJob QOSMinNode QOSGrpEnergy QOSGrpEnergyMinutes QOSGrpEnergyRunMinutes
QOSMaxEnergyPerJob QOSMaxEnergyPerNode QOSMaxEnergyPerUser QOSMaxEnergyMinutesPerJob
QOSMinEnergy QOSGrpGRES QOSGrpGRESMinutes QOSGrpGRESRunMinutes QOSMaxGRESPerJob
QOSMaxGRESPerNode QOSMaxGRESPerUser QOSMaxGRESMinutesPerJob QOSMinGRES QOSGrpLicense
QOSGrpLicenseMinutes QOSGrpLicenseRunMinutes QOSMaxLicensePerJob QOSMaxLicensePerUser
QOSMaxLicenseMinutesPerJob QOSMinLicense QOSGrpBB QOSGrpBBMinutes QOSGrpBBRunMinutes
QOSMaxBBPerJob QOSMaxBBPerNode QOSMaxBBPerUser QOSMinBB DeadLine MaxBBPerAccount
MaxCpuPerAccount MaxEnergyPerAccount MaxGRESPerAccount MaxNodePerAccount MaxLicensePerAccount
MaxMemoryPerAccount MaxUnknownPerAccount MaxJobsPerAccount MaxSubmitJobsPerAccount
PartitionConfig WaitingForScheduling SchedDefer ResvDeleted OutOfMemory MaxMemPerLimit
Nodes_required_for_job_are_DOWN,_DRAINED_or_reserved_for_jobs_in_higher_priority_partitions
"""
SLURM_REASON_CODES = _SLURM_REASONS.split()


@pytest.mark.parametrize("code", SLURM_REASON_CODES)
def test_every_slurm_reason_code_has_plain_words(code: str) -> None:
    explained = explain_reason(f"({code})")
    assert "no plain-words explanation" not in explained
    assert explained.endswith(".") and len(explained) > 20


def test_composed_limit_reasons_name_who_and_what() -> None:
    assert "account (association) as a whole" in explain_reason("AssocGrpGRESRunMinutes")
    assert "GPUs (GRES)-minutes of running jobs" in explain_reason("AssocGrpGRESRunMinutes")
    assert "more memory per node than the QOS" in explain_reason("QOSMaxMemoryPerNode")
    assert "higher-priority partition" in explain_reason(
        "Nodes_required_for_job_are_DOWN,_DRAINED_or_reserved_for_jobs_in_higher_priority_partitions"
    )
