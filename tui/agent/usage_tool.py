"""The assistant's usage report: "who wasted the most GPU time this week?" from the history."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from tui.agent.tool_context import ToolContext, ToolError
from tui.agent.tool_helpers import positive_duration
from tui.store import Store, StoreError
from tui.usage_report import build_report, report_mapping

MAX_ROWS = 50


async def gpu_usage_report(
    ctx: ToolContext,
    since: Annotated[str, Field(description="period, like 24h or 7d (default 7d)")] = "7d",
    limit: Annotated[int, Field(description="rows per list (default 10)")] = 10,
) -> dict[str, Any]:
    """GPU usage over a period from the history: per user, account and job, the GPU-hours
    held, mean utilization, GPU-hours idle (under 5 %) and their cost and wasted cost;
    the most wasteful first. Answers "who wasted the most GPU time this week?"."""
    since_s = positive_duration("since", since, "since must be longer than 0, like 24h or 7d")
    if limit < 1:
        raise ToolError("limit must be at least 1")
    store = ctx.history
    if not isinstance(store, Store):
        raise ToolError("no history database here: usage reports need the collector's history")
    try:
        report = await build_report(store, since_s, ctx.gpu_hourly_price, now=ctx.clock())
    except StoreError as error:
        raise ToolError(str(error)) from None
    data = report_mapping(report)
    rows = min(limit, MAX_ROWS)
    shown = {key: data[key][:rows] for key in ("users", "accounts", "top_wasting_jobs")}
    return {
        **{key: data[key] for key in ("start", "end", "gpu_hourly_price", "empty")},
        "jobs_in_period": len(report.jobs),
        "gpu_hours_total": round(sum(job.gpu_hours for job in report.jobs), 2),
        "idle_gpu_hours_total": round(sum(job.idle_gpu_hours for job in report.jobs), 2),
        **shown,
    }
