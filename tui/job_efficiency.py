"""Running jobs' GPU efficiency for a screen that refreshes every few seconds.

The first call reads each running job's life from the store's tiers; after that only the
minutes closed since the previous call are read, from the per-job sums the store keeps for
each minute of the last half hour (one row per job and minute; a longer gap reads the life
again), and the last ten minutes are kept per minute in memory, their sums updated as
minutes enter and leave.
Figures cover closed minutes: they move once a minute, as the 1-minute tier does, and a call
within the same minute for the same jobs returns the previous answer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from operator import add, sub

from tui.job_usage import (
    MINUTES_BY_JOB,
    RECENT_WINDOW_S,
    JobEfficiency,
    job_usage,
    read_rows,
    tier_boundaries,
    totals_by_job,
)
from tui.model import Job, JobState
from tui.store import Store
from tui.store_schema import JOB_MINUTES_KEPT_S

# Sums left by minutes that entered and then left the window are rounding noise.
_EMPTY_MINUTES = 1e-6
# Sums are added with map(add, ...) and answers built with tuple.__new__ inline: the loops
# below run for every running job on each refresh (5,000 at a time).
_tuple_new = tuple.__new__


class JobEfficiencyTracker:
    """Per-job efficiency of the running jobs, kept current from the store incrementally."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._until: float | None = None
        # job id -> (user, account), and the running sums of its life and last ten minutes.
        self._names: dict[str, tuple[str, str]] = {}
        self._life: dict[str, Sequence[float]] = {}
        self._minutes: deque[tuple[float, dict[str, Sequence[float]]]] = deque()
        self._recent: dict[str, Sequence[float]] = {}
        self._answer: tuple[frozenset[str], dict[str, JobEfficiency]] | None = None

    async def efficiency(self, jobs: Iterable[Job]) -> dict[str, JobEfficiency]:
        """job id -> life and last-ten-minute usage, for running jobs the store saw on GPUs."""
        running_jobs = [job for job in jobs if job.state is JobState.RUNNING]
        running = frozenset(job.job_id for job in running_jobs)
        boundary10, rolled = await tier_boundaries(self._store)
        if (
            self._until is None
            or self._until < max(boundary10, rolled - JOB_MINUTES_KEPT_S)
            or rolled < self._until
        ):
            starts = [job.start_time for job in running_jobs]
            known = [start for start in starts if start is not None]
            earliest = min(known) if known and len(known) == len(starts) else 0.0
            life = await totals_by_job(self._store, earliest, rolled)
            self._names = {job_id: (t.user, t.account) for job_id, t in life.items()}
            self._life = {job_id: t.sums for job_id, t in life.items()}
            self._minutes.clear()
            self._recent = {}
            await self._read_minutes(rolled - RECENT_WINDOW_S, rolled, into_life=False)
        elif rolled > self._until:
            await self._read_minutes(self._until, rolled, into_life=True)
        elif self._answer is not None and self._answer[0] == running:
            return self._answer[1]
        self._until = rolled
        recent = self._recent
        while self._minutes and self._minutes[0][0] < rolled - RECENT_WINDOW_S:
            _, leaving = self._minutes.popleft()
            for job_id, sums in leaving.items():
                left = list(map(sub, recent[job_id], sums))
                if left[0] < _EMPTY_MINUTES:
                    del recent[job_id]
                else:
                    recent[job_id] = left
        names = self._names
        self._life = life = {job_id: t for job_id, t in self._life.items() if job_id in running}
        answer = {}
        usage, recent_of = job_usage, recent.get
        for job_id, sums in life.items():
            user, account = names[job_id]
            recent_sums = recent_of(job_id)
            answer[job_id] = _tuple_new(
                JobEfficiency,
                (
                    usage(job_id, user, account, sums),
                    None if recent_sums is None else usage(job_id, user, account, recent_sums),
                ),
            )
        self._answer = (running, answer)
        return answer

    async def _read_minutes(self, start: float, end: float, *, into_life: bool) -> None:
        rows = await read_rows(self._store, MINUTES_BY_JOB, {"start": start, "end": end})
        by_minute: dict[float, dict[str, Sequence[float]]] = {}
        names, life, recent = self._names, self._life, self._recent
        minute_start, minute = None, {}
        recent_of, life_of = recent.get, life.get
        for row in rows:  # ordered by minute
            if row[3] != minute_start:
                minute_start = row[3]
                minute = by_minute[float(minute_start)] = {}
            key = row[0]
            minute[key] = sums = row[4:]
            kept = recent_of(key)
            recent[key] = sums if kept is None else list(map(add, kept, sums))
            if into_life:
                kept = life_of(key)
                if kept is None:
                    names[key] = (row[1], row[2])
                    life[key] = sums
                else:
                    life[key] = list(map(add, kept, sums))
        self._minutes.extend(by_minute.items())
