"""Running jobs' GPU efficiency for a screen that refreshes every few seconds.

The first call reads each running job's life from the store's tiers; after that only the
minutes closed since the previous call are read (8,192 rows a minute for 1,024 nodes), and the
last ten minutes are kept per minute in memory, their sums updated as minutes enter and leave.
Figures cover closed minutes: they move once a minute, as the 1-minute tier does, and a call
within the same minute for the same jobs returns the previous answer.
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

# Sums left by minutes that entered and then left the window are rounding noise.
_EMPTY_MINUTES = 1e-6


class JobEfficiencyTracker:
    """Per-job efficiency of the running jobs, kept current from the store incrementally."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._until: float | None = None
        self._life: dict[str, UsageTotals] = {}
        self._minutes: deque[tuple[float, dict[str, UsageTotals]]] = deque()
        self._recent: dict[str, UsageTotals] = {}
        self._answer: tuple[frozenset[str], dict[str, JobEfficiency]] | None = None

    async def efficiency(self, jobs: Iterable[Job]) -> dict[str, JobEfficiency]:
        """job id -> life and last-ten-minute usage, for running jobs the store saw on GPUs."""
        running = frozenset(job.job_id for job in jobs if job.state is JobState.RUNNING)
        starts = [job.start_time for job in jobs if job.state is JobState.RUNNING]
        boundary10, rolled = await tier_boundaries(self._store)
        if self._until is None or self._until < boundary10 or rolled < self._until:
            known = [start for start in starts if start is not None]
            earliest = min(known) if known and len(known) == len(starts) else 0.0
            self._life = await totals_by_job(self._store, earliest, rolled)
            self._minutes.clear()
            self._recent = {}
            await self._read_minutes(rolled - RECENT_WINDOW_S, rolled, into_life=False)
        elif rolled > self._until:
            await self._read_minutes(self._until, rolled, into_life=True)
        elif self._answer is not None and self._answer[0] == running:
            return self._answer[1]
        self._until = rolled
        while self._minutes and self._minutes[0][0] < rolled - RECENT_WINDOW_S:
            _, leaving = self._minutes.popleft()
            for job_id, totals in leaving.items():
                recent = self._recent[job_id]
                recent.add(totals, -1.0)
                if recent.sums[0] < _EMPTY_MINUTES:
                    del self._recent[job_id]
        self._life = {job_id: t for job_id, t in self._life.items() if job_id in running}
        answer = {
            job_id: JobEfficiency(
                life=totals.usage(job_id),
                recent=self._recent[job_id].usage(job_id) if job_id in self._recent else None,
            )
            for job_id, totals in self._life.items()
        }
        self._answer = (running, answer)
        return answer

    async def _read_minutes(self, start: float, end: float, *, into_life: bool) -> None:
        rows = await read_rows(self._store, MINUTES_BY_JOB, {"start": start, "end": end})
        by_minute: dict[float, dict[str, UsageTotals]] = {}
        for job_id, user, account, minute, *sums in rows:
            key = str(job_id)
            totals = UsageTotals.from_sums(user, account, sums)
            by_minute.setdefault(float(minute), {})[key] = totals
            for kept in (self._life, self._recent) if into_life else (self._recent,):
                if key in kept:
                    kept[key].add(totals)
                else:
                    kept[key] = UsageTotals(totals.user, totals.account, list(totals.sums))
        self._minutes.extend(sorted(by_minute.items()))
