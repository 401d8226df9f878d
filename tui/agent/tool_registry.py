"""The tool registry: each tool's schema and argument checker, built from its declaration.

A tool is declared once in tools.py as a typed function with a docstring. `declare` turns
the parameters after the ToolContext into a pydantic model: its JSON schema is what the
model (and an MCP client) is sent, and the same model checks the arguments that come back,
so the schema and the checks cannot drift apart.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import PydanticUndefined, core_schema

from tui.actions import Action
from tui.agent import tools
from tui.agent.tool_context import ToolContext, ToolError
from tui.agent.usage_tool import gpu_usage_report
from tui.text import one_line

ACTION_NOTE = " Only proposes it: the operator confirms or rejects; you get the outcome."


class _CompactSchema(GenerateJsonSchema):
    """JSON schema without titles, with `T | None` as plain `T` and no null defaults.

    An optional argument is one left out of `required`; the model reads fewer tokens.
    """

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        result = super().default_schema(schema)
        if result.get("default") is None:
            result.pop("default", None)
        return result

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


@dataclass(frozen=True)
class ToolSpec:
    """One tool as the assistant and the MCP server offer it."""

    name: str
    description: str
    # JSON schema of the arguments (an object), generated from `arguments`.
    parameters: Mapping[str, Any]
    arguments: type[BaseModel]
    # Read tools: async (ctx, **arguments) -> data. Action tools: (**arguments) -> Action.
    func: Callable[..., Any]
    # Action tools only propose; the host asks the operator before anything runs.
    action: bool = False

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-calling form."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }

    async def run(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> Any:
        """Call a read tool with already checked arguments."""
        if self.action:
            raise ToolError(f"{self.name} is an action: it is proposed, not run")
        result: Awaitable[Any] = self.func(ctx, **arguments)
        return await result

    def propose(self, arguments: Mapping[str, Any]) -> Action:
        """The validated Action an action tool proposes; ToolError when it cannot run."""
        if not self.action:
            raise ToolError(f"{self.name} is not an action")
        action: Action = self.func(**arguments)
        try:
            action.validate()
        except ValueError as error:
            raise ToolError(one_line(error)) from None
        return action


def declare(func: Callable[..., Any], *, action: bool = False) -> ToolSpec:
    """A ToolSpec from a typed function: name, docstring, and every parameter but the context."""
    hints = get_type_hints(func, include_extras=True)
    fields: dict[str, Any] = {}
    for param in inspect.signature(func).parameters.values():
        if hints.get(param.name) is ToolContext:
            continue
        default = PydanticUndefined if param.default is param.empty else param.default
        fields[param.name] = (hints[param.name], default)
    model = create_model(
        f"{func.__name__}_arguments",
        __config__=ConfigDict(extra="forbid", coerce_numbers_to_str=True),
        **fields,
    )
    parameters = model.model_json_schema(schema_generator=_CompactSchema)
    parameters.pop("title", None)
    description = " ".join((inspect.getdoc(func) or "").split("\n\n")[0].split())
    return ToolSpec(
        name=func.__name__,
        description=description + (ACTION_NOTE if action else ""),
        parameters=parameters,
        arguments=model,
        func=func,
        action=action,
    )


READ_TOOLS: tuple[ToolSpec, ...] = tuple(
    declare(func)
    for func in (
        tools.cluster_summary,
        tools.list_nodes,
        tools.node_detail,
        tools.list_jobs,
        tools.job_detail,
        tools.gpu_history,
        tools.idle_gpus,
        tools.alerts,
        tools.source_health,
        tools.vllm_logs,
        gpu_usage_report,
    )
)

ACTION_TOOLS: tuple[ToolSpec, ...] = tuple(
    declare(func, action=True)
    for func in (
        tools.drain_node,
        tools.resume_node,
        tools.cancel_job,
        tools.requeue_job,
        tools.hold_job,
        tools.release_job,
    )
)

ALL_TOOLS: Mapping[str, ToolSpec] = {spec.name: spec for spec in READ_TOOLS + ACTION_TOOLS}


def serialise(data: Any) -> str:
    """A tool's result as the model (or an MCP client) reads it: text as is, data as JSON."""
    if isinstance(data, str):
        return data
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def offered_tools(readonly: bool) -> list[ToolSpec]:
    """The tools the model is told about: no action tools at all in read-only mode."""
    return list(READ_TOOLS) if readonly else list(READ_TOOLS + ACTION_TOOLS)


def check_arguments(spec: ToolSpec, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments checked by the tool's own model; ToolError says in one line what to fix.

    Null means "not given". Numbers are accepted for strings (job ids arrive as numbers
    from some models) and digit strings for integers; true and false only for booleans.
    """
    given = {name: value for name, value in arguments.items() if value is not None}
    properties: Mapping[str, Any] = spec.parameters.get("properties", {})
    for name, value in given.items():
        kind = properties.get(name, {}).get("type", "boolean")
        if isinstance(value, bool) and kind != "boolean":  # pydantic would take True as 1
            raise ToolError(f"{spec.name}: argument {name} must be of type {kind}, got {value!r}")
    try:
        checked = spec.arguments.model_validate(given)
    except ValidationError as error:
        raise ToolError(_one_line(spec, error)) from None
    return {name: getattr(checked, name) for name in given}


def _one_line(spec: ToolSpec, error: ValidationError) -> str:
    problems = error.errors(include_url=False)
    by_kind: dict[str, list[str]] = {}
    for problem in problems:
        by_kind.setdefault(problem["type"], []).append(str(problem["loc"][0]))
    properties: Mapping[str, Any] = spec.parameters.get("properties", {})
    if "extra_forbidden" in by_kind:
        return (
            f"{spec.name}: unknown argument(s) {', '.join(sorted(by_kind['extra_forbidden']))}; "
            f"accepted: {', '.join(properties) or 'none'}"
        )
    if "missing" in by_kind:
        return f"{spec.name}: missing required argument(s) {', '.join(by_kind['missing'])}"
    problem = problems[0]
    name = str(problem["loc"][0])
    enum: Sequence[Any] = properties.get(name, {}).get("enum", ())
    if enum:
        return f"{spec.name}: {name} must be one of {', '.join(map(str, enum))}"
    kind = properties.get(name, {}).get("type", "a valid value")
    return f"{spec.name}: argument {name} must be of type {kind}, got {problem['input']!r}"
