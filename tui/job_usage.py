"""Per-job GPU usage from the history store: GPU-hours, mean utilization and memory, idle time.

Read at minute resolution from whichever tier holds each stretch of time: 10-minute rows
before the 1-minute tier begins, 1-minute rows after, and the raw samples of the minute(s)
not rolled up yet, grouped by minute exactly as the rollup would. A row counts for the part
of its interval inside the window. A 10-minute row belongs wholly to the job holding the GPU
at its latest minute, so older history is attributed to the nearest 10 minutes.

A GPU is idle in a row when its mean utilization there is under IDLE_THRESHOLD_PCT. Rows with
no utilization reading count as allocated time but neither busy nor idle: unknown is never 0.
"""

from __future__ import annotations

import math
import operator
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from tui.model import Job, JobState
from tui.store import Store, StoreError
from tui.store_schema import IDLE_THRESHOLD_PCT, JOB_USAGE_SUMS

RECENT_WINDOW_S = 600.0
_TEN_MINUTES = 600


def _tier_rows(start: str, end: str) -> tuple[str, ...]:
    """Each tier's rows inside [start, end) (two named parameters) as (job, minutes in the
    window, util, mem, mem_pct)."""
    return (
        f"""
        SELECT job, (MIN(bucket + 600, {end}) - MAX(bucket, {start})) / 60.0 AS minutes,
               utilization_pct_avg AS util, memory_used_mib_avg AS mem,
               memory_pct_avg AS mem_pct
        FROM gpu_rollups_10m
        WHERE node_id IN (SELECT id FROM nodes) AND bucket > {start} - 600 AND bucket < {end}
          AND bucket < :boundary10 AND job IS NOT NULL
        """,
        f"""
        SELECT job, (MIN(minute + 60, {end}) - MAX(minute, {start})) / 60.0 AS minutes,
               utilization_pct_avg AS util, memory_used_mib_avg AS mem,
               memory_pct_avg AS mem_pct
        FROM gpu_rollups_1m
        WHERE node_id IN (SELECT id FROM nodes) AND minute > {start} - 60 AND minute < {end}
          AND minute >= :boundary10 AND minute < :rolled AND job IS NOT NULL
        """,
        f"""
        SELECT job, (MIN(m + 60, {end}) - MAX(m, {start})) / 60.0 AS minutes, util, mem, mem_pct
        FROM (
            SELECT CAST(ts / 60 AS INTEGER) * 60 AS m, MAX(job) AS job,
                   AVG(utilization_pct) AS util, AVG(memory_used_mib) AS mem,
                   AVG(100.0 * memory_used_mib / NULLIF(memory_total_mib, 0)) AS mem_pct
            FROM gpu_samples
            WHERE node_id IN (SELECT id FROM nodes) AND ts >= MAX(:rolled, {start} - 60)
              AND ts < {end}
            GROUP BY node_id, gpu, m
        ) WHERE job IS NOT NULL AND m > {start} - 60
        """,
    )


# Per group: GPU-minutes, then (weight, weighted sum) of utilization, idle GPU-minutes, and
# (weight, weighted sum) of memory used and memory percent; the order of UsageTotals.sums
# and of the job_usage_10m columns.
_SUM_TERMS = (
    "SUM(u.minutes)",
    "SUM(CASE WHEN u.util IS NOT NULL THEN u.minutes END)",
    "SUM(u.util * u.minutes)",
    f"SUM(CASE WHEN u.util < {IDLE_THRESHOLD_PCT} THEN u.minutes END)",
    "SUM(CASE WHEN u.mem IS NOT NULL THEN u.minutes END)",
    "SUM(u.mem * u.minutes)",
    "SUM(CASE WHEN u.mem_pct IS NOT NULL THEN u.minutes END)",
    "SUM(u.mem_pct * u.minutes)",
)
_NAMED_SUMS = ", ".join(f"{term} AS s{i}" for i, term in enumerate(_SUM_TERMS))
_COLUMNS = ", ".join(JOB_USAGE_SUMS)
_DIFFERENCES = ", ".join(f"e.{c} - COALESCE(s.{c}, 0)" for c in JOB_USAGE_SUMS)

# Over the whole 10 minutes in [:head_end, :tail_start), from job_usage_10m and the jobs'
# spans and totals: a job wholly inside is its totals, one row read...
_INSIDE = f"""
SELECT job_id, user, account, {_COLUMNS} FROM jobs
WHERE last_bucket >= :head_end AND last_bucket < :tail_start AND first_bucket >= :head_end
  AND gpu_minutes > 0
"""

# ...and a job running across either end is its running totals at the last 10 minutes before
# :tail_start, less those at the last before :head_end.
_STRADDLING = f"""
SELECT j.job_id, j.user, j.account, {_DIFFERENCES}
FROM jobs AS j
JOIN job_usage_10m AS e ON e.job = j.id AND e.bucket = (
    SELECT MAX(bucket) FROM job_usage_10m WHERE job = j.id AND bucket < :tail_start)
LEFT JOIN job_usage_10m AS s ON s.job = j.id AND s.bucket = (
    SELECT MAX(bucket) FROM job_usage_10m WHERE job = j.id AND bucket < :head_end)
WHERE j.last_bucket >= :head_end AND j.first_bucket < :tail_start
  AND (j.last_bucket >= :tail_start OR j.first_bucket < :head_end)
  AND e.gpu_minutes - COALESCE(s.gpu_minutes, 0) > 0
"""


def _edges() -> str:
    """Per job: its sums over the head and tail windows from the tiers. Each part is summed by
    job first, so that no tier's rows are copied into a temporary table."""
    parts = [
        f"SELECT u.job AS job, {_NAMED_SUMS} FROM ({rows}) AS u WHERE u.minutes > 0 GROUP BY u.job"
        for window in ((":start", ":head_end"), (":tail_start", ":end"))
        for rows in _tier_rows(*window)
    ]
    sums = ", ".join(f"SUM(p.s{i})" for i in range(len(_SUM_TERMS)))
    return f"""
SELECT j.job_id, j.user, j.account, {sums}
FROM ({" UNION ALL ".join(parts)}) AS p JOIN jobs AS j ON j.id = p.job
GROUP BY p.job
"""


_EDGES = _edges()


# Closed minutes of the 1-minute tier, per job and minute (the jobs screen's running update).
# Each job's sums per closed minute (the jobs screen's running update), in minute order.
MINUTES_BY_JOB = f"""
SELECT j.job_id, j.user, j.account, m.minute, {", ".join(f"m.{c}" for c in JOB_USAGE_SUMS)}
FROM job_minutes AS m JOIN jobs AS j ON j.id = m.job
WHERE m.minute >= :start AND m.minute < :end
ORDER BY m.minute
"""


_tuple_new = tuple.__new__


class JobUsage(NamedTuple):
    """One job's GPU usage over a window. Means are None when nothing was measured.

    A NamedTuple: the jobs screen builds two per running job on every refresh, and one costs
    a quarter of a frozen dataclass (1.8 vs 7 us each, 10,000 per refresh at 5,000 jobs)."""

    job_id: str
    user: str
    account: str
    gpu_hours: float
    idle_gpu_hours: float
    mean_utilization_pct: float | None
    mean_memory_used_mib: float | None
    mean_memory_pct: float | None

    def cost(self, price_per_gpu_hour: float) -> float:
        return self.gpu_hours * price_per_gpu_hour

    def wasted_cost(self, price_per_gpu_hour: float) -> float:
        return self.idle_gpu_hours * price_per_gpu_hour


def job_usage(job_id: str, user: str, account: str, sums: Sequence[float]) -> JobUsage:
    """The usage behind running sums in UsageTotals.sums order."""
    minutes, util_w, util_s, idle, mem_w, mem_s, pct_w, pct_s = sums
    # tuple.__new__ directly: JobUsage(...) adds a Python-level call to each of 10,000 per refresh.
    return _tuple_new(
        JobUsage,
        (
            job_id,
            user,
            account,
            minutes / 60.0,
            idle / 60.0,
            util_s / util_w if util_w else None,
            mem_s / mem_w if mem_w else None,
            pct_s / pct_w if pct_w else None,
        ),
    )


@dataclass(slots=True)
class UsageTotals:
    """Running sums behind a JobUsage, so that usage over adjacent windows can be added."""

    user: str
    account: str
    sums: list[float]

    @classmethod
    def from_sums(cls, user: object, account: object, sums: Iterable[float | None]) -> UsageTotals:
        return cls(str(user), str(account), [float(value or 0.0) for value in sums])

    def add(self, other: UsageTotals, sign: float = 1.0) -> None:
        self.sums = add_sums(self.sums, other.sums, sign)

    def usage(self, job_id: str) -> JobUsage:
        return job_usage(job_id, self.user, self.account, self.sums)


def add_sums(sums: Sequence[float], other: Sequence[float], sign: float = 1.0) -> list[float]:
    """Element-wise sums + sign * other (map with operator: half the cost of a comprehension,
    and the jobs screen adds three per running job on each refresh)."""
    if sign == 1.0:
        return list(map(operator.add, sums, other))
    if sign == -1.0:
        return list(map(operator.sub, sums, other))
    return [a + sign * b for a, b in zip(sums, other, strict=True)]


class JobEfficiency(NamedTuple):
    """A running job's usage over its life so far and over the last ten minutes."""

    life: JobUsage
    recent: JobUsage | None


async def read_rows(store: Store, sql: str, params: Mapping[str, object]) -> list[Any]:
    try:
        return list(await store.db.execute_fetchall(sql, params))
    except sqlite3.Error as error:
        text = " ".join(str(error).split())
        raise StoreError(f"history database {store.path}: {text}") from None


def _mean(weighted_sum: float | None, weight: float | None) -> float | None:
    if not weight or weighted_sum is None:
        return None
    return weighted_sum / weight


async def _store_meta(store: Store) -> dict[str, float]:
    rows = await store.db.execute_fetchall(
        "SELECT key, value FROM store_meta WHERE key IN "
        "('minute_pruned_until', 'rolled_until', 'rolled_10m_until')"
    )
    return {str(key): float(value) for key, value in rows}


async def tier_boundaries(store: Store) -> tuple[float, float]:
    """(where the 1-minute tier starts, where raw samples not yet rolled up start)."""
    meta = await _store_meta(store)
    return meta.get("minute_pruned_until", -1.0), meta.get("rolled_until", -1.0)


async def _sums_by_job(
    store: Store, start: float, end: float
) -> tuple[list[Any], dict[str, UsageTotals]]:
    """(rows of the jobs wholly inside the whole 10 minutes of the window: job id, user,
    account and the sums; the other jobs' sums, added up), over [start, end). A job may be in
    both: its newest minutes not yet in job_usage_10m are in the tail."""
    if end <= start:
        return [], {}
    meta = await _store_meta(store)
    # Whole 10 minutes inside the window that the per-job table holds; the tiers serve the
    # rest (the head before them, the tail after them).
    head_end = math.ceil(start / _TEN_MINUTES) * _TEN_MINUTES
    tail_start = min(
        math.floor(end / _TEN_MINUTES) * _TEN_MINUTES, meta.get("rolled_10m_until", -math.inf)
    )
    if tail_start <= head_end:
        head_end = tail_start = end
    params = {
        "start": start,
        "end": end,
        "head_end": head_end,
        "tail_start": tail_start,
        "boundary10": meta.get("minute_pruned_until", -1.0),
        "rolled": meta.get("rolled_until", -1.0),
    }
    covered = tail_start > head_end
    totals: dict[str, UsageTotals] = {}
    for sql in (_STRADDLING, _EDGES) if covered else (_EDGES,):
        for job_id, user, account, *sums in await read_rows(store, sql, params):
            key = str(job_id)
            kept = totals.get(key)
            if kept is None:
                totals[key] = UsageTotals.from_sums(user, account, sums)
            else:
                kept.sums = add_sums(kept.sums, [value or 0.0 for value in sums])
    inside = await read_rows(store, _INSIDE, params) if covered else []
    return inside, totals


async def totals_by_job(store: Store, start: float, end: float) -> dict[str, UsageTotals]:
    """job id -> the sums behind its usage in [start, end), for every job that held a GPU."""
    inside, totals = await _sums_by_job(store, start, end)
    for job_id, user, account, *sums in inside:
        key = str(job_id)
        kept = totals.get(key)
        if kept is None:
            totals[key] = UsageTotals(str(user), str(account), sums)
        else:
            kept.sums = add_sums(kept.sums, sums)
    return totals


async def usage_by_job(store: Store, start: float, end: float) -> list[JobUsage]:
    """Every job that held a GPU in [start, end), with its usage inside that window."""
    inside, totals = await _sums_by_job(store, start, end)
    usages = []
    for row in inside:
        key = str(row[0])
        kept = totals.get(key)
        if kept is None:
            usages.append(job_usage(key, row[1], row[2], row[3:]))
        else:
            kept.sums = add_sums(kept.sums, row[3:])
    usages += [job_totals.usage(job_id) for job_id, job_totals in totals.items()]
    return usages


async def running_job_efficiency(
    store: Store, jobs: Iterable[Job], now: float
) -> dict[str, JobEfficiency]:
    """job id -> efficiency, for the running jobs the store has seen holding GPUs.

    A job's life starts at its Slurm start time (the whole stored history when unknown).
    """
    running = {job.job_id: job for job in jobs if job.state is JobState.RUNNING}
    if not running:
        return {}
    starts = [job.start_time for job in running.values()]
    known = [start for start in starts if start is not None]
    earliest = min(known) if known and len(known) == len(starts) else -math.inf
    life = {u.job_id: u for u in await usage_by_job(store, max(earliest, 0.0), now)}
    recent = {u.job_id: u for u in await usage_by_job(store, now - RECENT_WINDOW_S, now)}
    return {
        job_id: JobEfficiency(life=usage, recent=recent.get(job_id))
        for job_id, usage in life.items()
        if job_id in running
    }


@dataclass(frozen=True, slots=True)
class GroupUsage:
    """Usage summed over the jobs of one user or one account."""

    name: str
    jobs: int
    gpu_hours: float
    idle_gpu_hours: float
    mean_utilization_pct: float | None


def group_usage(usages: Iterable[JobUsage], key: str) -> list[GroupUsage]:
    """Per `key` ("user" or "account"), most idle GPU-hours first."""
    field = JobUsage._fields.index(key)
    totals: dict[str, list[float]] = {}
    for usage in usages:
        name = usage[field]
        total = totals.get(name)
        if total is None:
            total = totals[name] = [0, 0.0, 0.0, 0.0, 0.0]
        hours = usage.gpu_hours
        total[0] += 1
        total[1] += hours
        total[2] += usage.idle_gpu_hours
        util = usage.mean_utilization_pct
        if util is not None:
            total[3] += util * hours
            total[4] += hours
    groups = [
        GroupUsage(name, int(n), hours, idle, _mean(util_s, util_w))
        for name, (n, hours, idle, util_s, util_w) in totals.items()
    ]
    return sorted(groups, key=lambda g: (-g.idle_gpu_hours, -g.gpu_hours, g.name))


def most_wasteful(usages: Iterable[JobUsage], count: int = 10) -> list[JobUsage]:
    """The `count` jobs with the most idle GPU-hours (ties: more GPU-hours first)."""
    wasting = [usage for usage in usages if usage.idle_gpu_hours > 0]
    wasting.sort(key=lambda u: (-u.idle_gpu_hours, -u.gpu_hours, u.job_id))
    return wasting[:count]


def usage_mapping(usage: JobUsage, price: float) -> Mapping[str, object]:
    """A job's usage as plain values (JSON, CSV, agent tools)."""
    return {
        "job_id": usage.job_id,
        "user": usage.user,
        "account": usage.account,
        "gpu_hours": round(usage.gpu_hours, 4),
        "mean_utilization_pct": _rounded(usage.mean_utilization_pct),
        "mean_memory_used_mib": _rounded(usage.mean_memory_used_mib),
        "idle_gpu_hours": round(usage.idle_gpu_hours, 4),
        "cost": round(usage.cost(price), 2),
        "wasted_cost": round(usage.wasted_cost(price), 2),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
