"""Slash commands in the chat pane: the agent's tools called directly, no model needed."""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tui.agent import tools
from tui.agent.tool_context import ToolContext, ToolError

USAGE: dict[str, str] = {
    "nodes": "/nodes [state]",
    "node": "/node NAME",
    "jobs": "/jobs [user]",
    "job": "/job ID",
    "why": "/why ID",
    "gpu": "/gpu NODE [range]",
    "idle": "/idle",
    "alerts": "/alerts",
    "logs": "/logs [lines]",
    "help": "/help",
}
ONE_LINE_HELP = "commands: " + ", ".join(USAGE.values())


@dataclass(frozen=True, slots=True)
class SlashResult:
    markdown: str
    ok: bool = True


def is_slash(text: str) -> bool:
    return text.lstrip().startswith("/")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        value = "; ".join(f"{key}: {_cell(item)}" for key, item in value.items())
    elif isinstance(value, list | tuple):
        value = ", ".join(map(_cell, value))
    return str(value).replace("|", "\\|").replace("\n", " ")


def md_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "_none_"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _more(data: Mapping[str, Any]) -> str:
    return f"\n\n_{data['more']}_" if data.get("more") else ""


async def _nodes(ctx: ToolContext, args: list[str]) -> str:
    data = await tools.list_nodes(ctx, state=args[0] if args else None)
    columns = ["name", "state", "gpus", "util_avg", "temp_max", "partitions", "reason"]
    head = f"**{data['count']} node(s)**" + (f" in state {args[0]}" if args else "")
    return f"{head}\n\n{md_table(data['nodes'], columns)}{_more(data)}"


async def _node(ctx: ToolContext, args: list[str]) -> str:
    data = await tools.node_detail(ctx, args[0])
    facts = [f"**{data['name']}**: {data['state']}"]
    for key in ("reason", "partitions", "cpus", "mem_mb", "gpus_alloc", "gpu_model"):
        if key in data:
            facts.append(f"- {key}: {_cell(data[key])}")
    gpus = md_table(
        data.get("gpus", []),
        ["gpu", "util", "mem_pct", "temp", "power_w", "xid", "ecc_uncorr", "job", "user"],
    )
    jobs = md_table(data.get("jobs", []), ["id", "user", "state", "gpus", "name"])
    return "\n".join(facts) + f"\n\n**GPUs**\n\n{gpus}\n\n**Jobs**\n\n{jobs}"


async def _jobs(ctx: ToolContext, args: list[str]) -> str:
    data = await tools.list_jobs(ctx, user=args[0] if args else None)
    columns = ["id", "user", "partition", "state", "gpus", "nodes", "reason", "pending_for"]
    head = f"**{data['count']} job(s)**" + (f" of {args[0]}" if args else "")
    return f"{head}\n\n{md_table(data['jobs'], columns)}{_more(data)}"


async def _job(ctx: ToolContext, args: list[str]) -> str:
    data = await tools.job_detail(ctx, args[0])
    head = f"**job {data['id']}** {data.get('name', '')}".rstrip()
    fields = [
        {"field": key, "value": value}
        for key, value in data.items()
        if key not in ("id", "name", "reason_explained")
    ]
    text = f"{head}\n\n{md_table(fields, ['field', 'value'])}"
    if "reason_explained" in data:
        text += f"\n\n**Why pending:** {data['reason_explained']}"
    return text


async def _why(ctx: ToolContext, args: list[str]) -> str:
    data = await tools.job_detail(ctx, args[0])
    if "reason_explained" not in data:
        return f"Job {data['id']} is not pending: it is {data['state']}."
    waited = f" (pending for {data['pending_for']})" if data.get("pending_for") else ""
    return f"Job {data['id']} is pending{waited}: **{data['reason']}**. {data['reason_explained']}"


async def _gpu(ctx: ToolContext, args: list[str]) -> str:
    detail = await tools.node_detail(ctx, args[0])
    now = md_table(detail.get("gpus", []), ["gpu", "util", "mem_pct", "temp", "power_w", "job"])
    span = args[1] if len(args) > 1 else "1h"
    try:
        history = await tools.gpu_history(ctx, args[0], range=span)
    except ToolError as error:
        past = f"_{error}_"
    else:
        past = md_table(history["gpus"], ["gpu", "min", "avg", "max", "last"])
    return f"**{detail['name']} GPUs now**\n\n{now}\n\n**Utilization, last {span}**\n\n{past}"


async def _idle(ctx: ToolContext, args: list[str]) -> str:
    data = await tools.idle_gpus(ctx)
    head = (
        f"**{data['count']} allocated GPU(s) below {data['threshold_pct']:g}% use**, "
        f"costing about ${data['cost_per_hour_usd']:.2f}/hour "
        f"(${data['price_per_gpu_hour_usd']:.2f} per GPU-hour)"
    )
    return f"{head}\n\n{md_table(data['gpus'], ['node', 'gpu', 'job', 'user', 'util'])}"


ALERT_COLUMNS = ("severity", "state", "rule", "target", "summary", "fired_at", "ack_by")


def _alert_table(alerts: Sequence[Any]) -> str:
    rows = [a if isinstance(a, Mapping) else {"summary": a} for a in alerts]
    columns = [c for c in ALERT_COLUMNS if any(c in row for row in rows)] or ["summary"]
    return md_table(rows, columns)


async def _alerts(ctx: ToolContext, args: list[str]) -> str:
    data = await tools.alerts(ctx)
    active = data["active"]
    text = f"**{len(active)} active alert(s)**\n\n{_alert_table(active)}"
    history = data.get("history", [])
    if history:
        text += f"\n\n**Recent**\n\n{_alert_table(history[-10:])}"
    return text


async def _logs(ctx: ToolContext, args: list[str]) -> str:
    count = int(args[0]) if args else 50
    text = await tools.vllm_logs(ctx, lines=count)
    fenced = text.replace("```", "'''")
    return f"```\n{fenced}\n```"


async def _help(ctx: ToolContext, args: list[str]) -> str:
    return "\n".join(f"- `{usage}`" for usage in USAGE.values()) + (
        "\n\nAnything else is a question for the assistant."
    )


Handler = Callable[[ToolContext, list[str]], Awaitable[str]]
# name -> (handler, minimum args, maximum args)
COMMANDS: dict[str, tuple[Handler, int, int]] = {
    "nodes": (_nodes, 0, 1),
    "node": (_node, 1, 1),
    "jobs": (_jobs, 0, 1),
    "job": (_job, 1, 1),
    "why": (_why, 1, 1),
    "gpu": (_gpu, 1, 2),
    "idle": (_idle, 0, 0),
    "alerts": (_alerts, 0, 0),
    "logs": (_logs, 0, 1),
    "help": (_help, 0, 0),
}


async def run_slash(ctx: ToolContext, text: str) -> SlashResult:
    """Run one slash command; errors come back as one line, never an exception."""
    try:
        words = shlex.split(text.strip().lstrip("/"))
    except ValueError as error:
        return SlashResult(f"{error}; {ONE_LINE_HELP}", ok=False)
    if not words:
        return SlashResult(ONE_LINE_HELP, ok=False)
    name, args = words[0].lower(), words[1:]
    entry = COMMANDS.get(name)
    if entry is None:
        return SlashResult(f"unknown command /{name}; {ONE_LINE_HELP}", ok=False)
    handler, least, most = entry
    if not least <= len(args) <= most or (name == "logs" and args and not args[0].isdigit()):
        return SlashResult(f"usage: {USAGE[name]}", ok=False)
    try:
        return SlashResult(await handler(ctx, args))
    except ToolError as error:
        return SlashResult(str(error), ok=False)
