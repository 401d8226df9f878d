"""`clusterdash report`: GPU usage and cost per user, account and job over a period.

Built from the history store (tui/job_usage.py) and written as a table, Markdown, CSV or
JSON. The JSON carries REPORT_SCHEMA_VERSION; its fields only ever grow.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tui.durations import format_duration
from tui.job_usage import (
    IDLE_THRESHOLD_PCT,
    GroupUsage,
    JobUsage,
    group_usage,
    most_wasteful,
    usage_by_job,
    usage_mapping,
)
from tui.store import Store

REPORT_SCHEMA_VERSION = 1
REPORT_FORMATS = ("table", "markdown", "csv", "json")
TOP_WASTERS = 10


@dataclass(frozen=True, slots=True)
class UsageReport:
    start: float
    end: float
    price: float
    jobs: tuple[JobUsage, ...]
    users: tuple[GroupUsage, ...]
    accounts: tuple[GroupUsage, ...]
    top_wasting: tuple[JobUsage, ...]

    @property
    def empty(self) -> bool:
        return not self.jobs


async def build_report(
    store: Store, since_s: float, price: float, now: float | None = None
) -> UsageReport:
    end = time.time() if now is None else now
    start = end - since_s
    jobs = sorted(await usage_by_job(store, start, end), key=lambda u: (-u.gpu_hours, u.job_id))
    return UsageReport(
        start=start,
        end=end,
        price=price,
        jobs=tuple(jobs),
        users=tuple(group_usage(jobs, "user")),
        accounts=tuple(group_usage(jobs, "account")),
        top_wasting=tuple(most_wasteful(jobs, TOP_WASTERS)),
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pct(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f}"


def _group_row(group: GroupUsage, price: float) -> list[str]:
    return [
        group.name or "(none)",
        str(group.jobs),
        f"{group.gpu_hours:.2f}",
        _pct(group.mean_utilization_pct),
        f"{group.idle_gpu_hours:.2f}",
        f"{group.gpu_hours * price:.2f}",
        f"{group.idle_gpu_hours * price:.2f}",
    ]


def _job_row(job: JobUsage, price: float) -> list[str]:
    return [
        job.job_id,
        job.user or "(none)",
        job.account or "(none)",
        f"{job.gpu_hours:.2f}",
        _pct(job.mean_utilization_pct),
        f"{job.idle_gpu_hours:.2f}",
        f"{job.cost(price):.2f}",
        f"{job.wasted_cost(price):.2f}",
    ]


_MEASURES = ["GPU-h", "mean util %", "idle GPU-h", "cost $", "wasted $"]
_GROUP_HEADER = ["jobs", *_MEASURES]
_JOB_HEADER = ["job", "user", "account", *_MEASURES]


def _sections(report: UsageReport) -> list[tuple[str, list[str], list[list[str]]]]:
    price = report.price
    return [
        ("Top wasting jobs", _JOB_HEADER, [_job_row(j, price) for j in report.top_wasting]),
        ("Users", ["user", *_GROUP_HEADER], [_group_row(g, price) for g in report.users]),
        ("Accounts", ["account", *_GROUP_HEADER], [_group_row(g, price) for g in report.accounts]),
        ("Jobs", _JOB_HEADER, [_job_row(j, price) for j in report.jobs]),
    ]


def _title(report: UsageReport) -> str:
    return (
        f"GPU usage {_iso(report.start)} to {_iso(report.end)} "
        f"({format_duration(report.end - report.start)}) at ${report.price:g} per GPU-hour"
    )


def _empty_line(report: UsageReport) -> str:
    return f"No job held a GPU in the history from {_iso(report.start)} to {_iso(report.end)}."


def as_table(report: UsageReport) -> str:
    lines = [_title(report)]
    if report.empty:
        return "\n".join([*lines, _empty_line(report)])
    for name, header, rows in _sections(report):
        widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
        lines += ["", name]
        for row in (header, *rows):
            cells = [
                cell.rjust(width) if heading in _GROUP_HEADER else cell.ljust(width)
                for heading, cell, width in zip(header, row, widths, strict=True)
            ]
            lines.append("  ".join(cells).rstrip())
        if not rows:
            lines.append("(none)")
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def as_markdown(report: UsageReport) -> str:
    lines = [f"# {_title(report)}"]
    if report.empty:
        return "\n".join([*lines, "", _empty_line(report)])
    for name, header, rows in _sections(report):
        lines += ["", f"## {name}", ""]
        if not rows:
            lines.append("(none)")
            continue
        lines.append("| " + " | ".join(header) + " |")
        lines.append(
            "|"
            + "|".join("---:" if heading in _GROUP_HEADER else "---" for heading in header)
            + "|"
        )
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


CSV_HEADER = (
    "section",
    "name",
    "user",
    "account",
    "jobs",
    "gpu_hours",
    "mean_utilization_pct",
    "idle_gpu_hours",
    "cost",
    "wasted_cost",
)


def as_csv(report: UsageReport) -> str:
    """One row per user, account and job; `section` says which. Unknown means are empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    price = report.price

    def number(value: float | None, digits: int) -> str:
        return "" if value is None else f"{value:.{digits}f}"

    for section, groups in (("user", report.users), ("account", report.accounts)):
        for g in groups:
            user, account = (g.name, "") if section == "user" else ("", g.name)
            writer.writerow(
                [
                    section,
                    g.name,
                    user,
                    account,
                    g.jobs,
                    number(g.gpu_hours, 4),
                    number(g.mean_utilization_pct, 2),
                    number(g.idle_gpu_hours, 4),
                    number(g.gpu_hours * price, 2),
                    number(g.idle_gpu_hours * price, 2),
                ]
            )
    for j in report.jobs:
        writer.writerow(
            [
                "job",
                j.job_id,
                j.user,
                j.account,
                1,
                number(j.gpu_hours, 4),
                number(j.mean_utilization_pct, 2),
                number(j.idle_gpu_hours, 4),
                number(j.cost(price), 2),
                number(j.wasted_cost(price), 2),
            ]
        )
    return out.getvalue().rstrip("\n")


def report_mapping(report: UsageReport) -> dict[str, Any]:
    price = report.price

    def group(g: GroupUsage) -> dict[str, object]:
        return {
            "name": g.name,
            "jobs": g.jobs,
            "gpu_hours": round(g.gpu_hours, 4),
            "mean_utilization_pct": None
            if g.mean_utilization_pct is None
            else round(g.mean_utilization_pct, 2),
            "idle_gpu_hours": round(g.idle_gpu_hours, 4),
            "cost": round(g.gpu_hours * price, 2),
            "wasted_cost": round(g.idle_gpu_hours * price, 2),
        }

    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "start": _iso(report.start),
        "end": _iso(report.end),
        "gpu_hourly_price": price,
        "idle_threshold_pct": IDLE_THRESHOLD_PCT,
        "empty": report.empty,
        "users": [group(g) for g in report.users],
        "accounts": [group(g) for g in report.accounts],
        "jobs": [usage_mapping(j, price) for j in report.jobs],
        "top_wasting_jobs": [usage_mapping(j, price) for j in report.top_wasting],
    }


def as_json(report: UsageReport) -> str:
    return json.dumps(report_mapping(report), indent=2)


FORMATTERS: dict[str, Callable[[UsageReport], str]] = {
    "table": as_table,
    "markdown": as_markdown,
    "csv": as_csv,
    "json": as_json,
}


def render(report: UsageReport, fmt: str) -> str:
    return FORMATTERS[fmt](report)


def check_format(fmt: str, choices: Sequence[str] = REPORT_FORMATS) -> str:
    if fmt not in choices:
        raise ValueError(f"--format {fmt!r}: expected one of {', '.join(choices)}")
    return fmt
