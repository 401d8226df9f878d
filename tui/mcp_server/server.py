"""The MCP server: the assistant's tools, their schemas and the snapshot, over the protocol.

Built on the SDK's low-level Server so that each tool is listed with exactly the schema the
assistant sends its model (tool_registry) and called through the same argument check. Read
tools answer with their JSON; action tools (only with --allow-actions) ask the operator
through elicitation with the exact commands, then run as this process's user and are
audited with origin "mcp".
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from loguru import logger
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from tui.actions import Action, ActionError, ActionResult, current_user
from tui.agent.tool_context import ToolContext, ToolError
from tui.agent.tool_helpers import check_targets_exist
from tui.agent.tool_registry import ALL_TOOLS, ToolSpec, check_arguments, offered_tools, serialise
from tui.agent.tools import alerts
from tui.mcp_server.confirm import Answer, Confirmer
from tui.mcp_server.reader import ClusterReader
from tui.snapshot_output import snapshot_json
from tui.text import one_line

SERVER_NAME = "clusterdash"
SNAPSHOT_URI = "cluster://snapshot"
ALERTS_URI = "cluster://alerts"
# A tool called before the first collection cycle ends waits this long for it.
FIRST_CYCLE_WAIT_S = 30.0
# A read tool's answer carries, in its _meta, how long the tool itself ran in this process.
TOOL_TIME_META = "clusterdash/tool_ms"

NOT_OFFERED = "actions are not offered: start the server with clusterdash mcp --allow-actions"
CANNOT_ASK = (
    "refused: this MCP client cannot ask the operator to confirm (no elicitation support); "
    "nothing was run"
)
DECLINED = "declined by the operator: nothing was run"
NO_RUNNER = "actions need the cluster's workload source (Slurm); nothing was run"

ToolReply = types.CallToolResult | types.InputRequiredResult


def _result(data: Any, *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=serialise(data))],
        structured_content=data if isinstance(data, dict) else None,
        is_error=error,
    )


def _error(message: str) -> types.CallToolResult:
    return _result(message, error=True)


def describe_commands(action: Action) -> str:
    return "\n".join(shlex.join(argv) for argv in action.argv())


def confirmation_message(action: Action, cluster: str, user: str) -> str:
    return (
        f"clusterdash on cluster {cluster} asks to {action.describe()}, running as {user}:\n\n"
        f"{describe_commands(action)}\n\nRun it?"
    )


@dataclass
class ClusterMcp:
    """The handlers behind `clusterdash mcp`; `server()` wires them into the SDK's Server."""

    context: ToolContext
    reader: ClusterReader
    allow_actions: bool = False
    confirmer: Confirmer = field(default_factory=Confirmer)

    @property
    def tools(self) -> Sequence[ToolSpec]:
        return offered_tools(readonly=not self.allow_actions)

    def server(self, version: str = "") -> Server[Any]:
        return Server(
            SERVER_NAME,
            version=version,
            instructions=(
                "Read-only tools over the Slurm GPU cluster's live state; start with "
                "cluster_summary."
                + ("" if not self.allow_actions else " Actions ask the operator first.")
            ),
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            on_list_resources=self.list_resources,
            on_read_resource=self.read_resource,
        )

    # ------------------------------------------------------------ tools

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=spec.name,
                    description=spec.description,
                    input_schema=dict(spec.parameters),
                    annotations=types.ToolAnnotations(
                        read_only_hint=not spec.action,
                        destructive_hint=spec.action,
                        open_world_hint=False,
                    ),
                )
                for spec in self.tools
            ]
        )

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> ToolReply:
        name = params.name
        spec = ALL_TOOLS.get(name)
        if spec is None:
            offered = ", ".join(s.name for s in self.tools)
            return _error(f"unknown tool {name!r}; available: {offered}")
        if spec.action and not self.allow_actions:
            return _error(NOT_OFFERED)
        try:
            arguments = check_arguments(spec, params.arguments or {})
            if spec.action:
                return await self._act(ctx, params, spec.propose(arguments))
            await self.reader.ready(FIRST_CYCLE_WAIT_S)
            started = time.perf_counter()
            data = await spec.run(self.context, arguments)
            own_ms = (time.perf_counter() - started) * 1e3
            result = _result(data)
            result.meta = {TOOL_TIME_META: round(own_ms, 3)}
            return result
        except ToolError as error:
            return _error(str(error))
        except Exception as error:
            logger.exception("tool {} failed", name)
            return _error(f"{name} failed: {one_line(error)}")

    async def _act(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams, action: Action
    ) -> ToolReply:
        runner = self.reader.runner
        if runner is None:
            return _error(NO_RUNNER)
        await self.reader.ready(FIRST_CYCLE_WAIT_S)
        snapshot = self.context.snapshot()
        check_targets_exist(snapshot, action)
        user = current_user()
        cluster = snapshot.cluster_name if snapshot is not None else "?"
        answer = await self.confirmer.ask(ctx, params, confirmation_message(action, cluster, user))
        if isinstance(answer, types.InputRequiredResult):
            return answer
        outcome = {"action": action.describe(), "commands": describe_commands(action)}
        if answer is Answer.CANNOT_ASK:
            return _error(CANNOT_ASK)
        if answer is Answer.DECLINED:
            logger.info("mcp: {} declined", action.describe())
            return _result(outcome | {"outcome": DECLINED})
        logger.info("mcp: {} confirmed by {}; running", action.describe(), user)
        try:
            result = await runner.run_action(action)
        except ActionError as error:
            result = ActionResult(action, ok=False, message=one_line(error))
        except Exception as error:  # Slurm's failure goes back to the client
            logger.exception("action {} failed", action.describe())
            result = ActionResult(action, ok=False, message=one_line(error))
        await self._audit(action, result)
        if result.ok:
            await self.reader.reread(action)
        if not result.ok:
            return _result(outcome | {"outcome": f"failed: {result.message}"}, error=True)
        return _result(outcome | {"outcome": f"done: {result.message}"})

    async def _audit(self, action: Action, result: ActionResult) -> None:
        try:
            await self.reader.audit(action, result)
        except Exception:
            logger.exception("could not audit {}", action.describe())

    # ------------------------------------------------------------ resources

    async def list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=SNAPSHOT_URI,
                    name="snapshot",
                    title="Cluster snapshot",
                    description="Nodes, GPUs, jobs and source health now: the same JSON as "
                    "clusterdash snapshot --json",
                    mime_type="application/json",
                ),
                types.Resource(
                    uri=ALERTS_URI,
                    name="alerts",
                    title="Alerts",
                    description="Alerts firing now and recent alert history",
                    mime_type="application/json",
                ),
            ]
        )

    async def read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        if uri == SNAPSHOT_URI:
            await self.reader.ready(FIRST_CYCLE_WAIT_S)
            snapshot = self.context.snapshot()
            if snapshot is None:
                raise MCPError(types.INTERNAL_ERROR, "no cluster data yet")
            text = snapshot_json(snapshot, self.context.gpu_hourly_price)
        elif uri == ALERTS_URI:
            try:
                text = json.dumps(await alerts(self.context), indent=2, default=str)
            except ToolError as error:
                raise MCPError(types.INTERNAL_ERROR, str(error)) from None
        else:
            raise MCPError(
                types.INVALID_PARAMS, f"unknown resource {uri}; use {SNAPSHOT_URI} or {ALERTS_URI}"
            )
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type="application/json", text=text)]
        )
