"""Running jobs' GPU efficiency for a screen that refreshes every few seconds.

The first call reads each running job's life from the store's tiers; after that only the
minutes closed since the previous call are read (8,192 rows a minute for 1,024 nodes), and the
last ten minutes are kept per minute in memory. Figures cover closed minutes: they move once a
minute, as the 1-minute tier does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from tui.job_usage import (
    MINUTES_BY_JOB,
    RECENT_WINDOW_S,
    JobEfficiency,
    UsageTotals,
    read_rows,
    tier_boundaries,
    totals_by_job,
)
from tui.model import Job, JobState
from tui.store import Store

_MINUTE = 60.0


class JobEfficiencyTracker:
    """Per-job efficiency of the running jobs, kept current from the store incrementally."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._until: float | None = None
        self._life: dict[str, UsageTotals] = {}
        self._recent: deque[tuple[float, dict[str, UsageTotals]]] = deque()

    async def efficiency(self, jobs: Iterable[Job]) -> dict[str, JobEfficiency]:
        """job id -> life and last-ten-minute usage, for running jobs the store saw on GPUs."""
        running = {job.job_id: job for job in jobs if job.state is JobState.RUNNING}
        boundary10, rolled = await tier_boundaries(self._store)
        if self._until is None or self._until < boundary10 or rolled < self._until:
            await self._read_lives(running.values(), rolled)
        elif rolled > self._until:
            await self._read_minutes(self._until, rolled, into_life=True)
        self._until = rolled
        while self._recent and self._recent[0][0] < rolled - RECENT_WINDOW_S:
            self._recent.popleft()
        self._life = {job_id: t for job_id, t in self._life.items() if job_id in running}
        recent: dict[str, UsageTotals] = {}
        for _, minute in self._recent:
            for job_id, totals in minute.items():
                if job_id not in running:
                    continue
                if job_id in recent:
                    recent[job_id].add(totals)
                else:
                    recent[job_id] = UsageTotals(totals.user, totals.account, list(totals.sums))
        return {
            job_id: JobEfficiency(
                life=totals.usage(job_id),
                recent=recent[job_id].usage(job_id) if job_id in recent else None,
            )
            for job_id, totals in self._life.items()
        }

    async def _read_lives(self, running: Iterable[Job], rolled: float) -> None:
        starts = [job.start_time for job in running]
        known = [start for start in starts if start is not None]
        earliest = min(known) if known and len(known) == len(starts) else 0.0
        self._life = await totals_by_job(self._store, earliest, rolled)
        self._recent.clear()
        await self._read_minutes(rolled - RECENT_WINDOW_S, rolled, into_life=False)

    async def _read_minutes(self, start: float, end: float, *, into_life: bool) -> None:
        rows = await read_rows(self._store, MINUTES_BY_JOB, {"start": start, "end": end})
        by_minute: dict[float, dict[str, UsageTotals]] = {}
        for job_id, user, account, minute, *sums in rows:
            totals = UsageTotals.from_sums(user, account, sums)
            by_minute.setdefault(float(minute), {})[str(job_id)] = totals
            if into_life:
                life = self._life.get(str(job_id))
                if life is None:
                    self._life[str(job_id)] = UsageTotals(user, account, list(totals.sums))
                else:
                    life.add(totals)
        self._recent.extend(sorted(by_minute.items()))
