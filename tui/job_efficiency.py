"""Running jobs' GPU efficiency for a screen that refreshes every few seconds.

The first call reads each running job's life from the store's tiers; after that only the
minutes closed since the previous call are read, from the per-job sums the store keeps for
each minute of the last half hour (one row per job and minute; a longer gap reads the life
again). The last ten minutes are the life now minus the life as it stood when they began:
the life sums are kept as they were at the end of each minute of the window.
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

# A job's GPU-minutes in the window under this are rounding noise: none.
_EMPTY_MINUTES = 1e-6
# Sums are added with map(add, ...) and answers built with tuple.__new__ inline: the loops
# below run for every running job on each refresh (5,000 at a time).
_tuple_new = tuple.__new__


Sums = Sequence[float]


class JobEfficiencyTracker:
    """Per-job efficiency of the running jobs, kept current from the store incrementally."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._until: float | None = None
        # job id -> (user, account), and the sums of its life up to `_until`.
        self._names: dict[str, tuple[str, str]] = {}
        self._life: dict[str, Sums] = {}
        # (minute end, every job's life sums then), oldest first, from the window's start on.
        # Sums lists are replaced, never changed in place, so a mark is a shallow copy.
        self._marks: deque[tuple[float, dict[str, Sums]]] = deque()
        self._answer: tuple[frozenset[str], dict[str, JobEfficiency]] | None = None

    async def efficiency(self, jobs: Iterable[Job]) -> dict[str, JobEfficiency]:
        """job id -> life and last-ten-minute usage, for running jobs the store saw on GPUs."""
        running_jobs = [job for job in jobs if job.state is JobState.RUNNING]
        running = frozenset(job.job_id for job in running_jobs)
        boundary10, rolled = await tier_boundaries(self._store)
        window_start = rolled - RECENT_WINDOW_S
        if (
            self._until is None
            or self._until < max(boundary10, rolled - JOB_MINUTES_KEPT_S)
            or rolled < self._until
        ):
            starts = [job.start_time for job in running_jobs]
            known = [start for start in starts if start is not None]
            earliest = min(known) if known and len(known) == len(starts) else 0.0
            await self._read_life(earliest, window_start, rolled)
        elif rolled > self._until:
            self._add(self._life, await self._minutes(self._until, rolled))
        elif self._answer is not None and self._answer[0] == running:
            return self._answer[1]
        self._until = rolled
        marks = self._marks
        while len(marks) > 1 and marks[1][0] <= window_start:
            marks.popleft()
        before = marks[0][1]
        names = self._names
        self._life = life = {job_id: t for job_id, t in self._life.items() if job_id in running}
        answer = {}
        usage, before_of = job_usage, before.get
        for job_id, sums in life.items():
            user, account = names[job_id]
            then = before_of(job_id)
            recent = sums if then is None else list(map(sub, sums, then))
            answer[job_id] = _tuple_new(
                JobEfficiency,
                (
                    usage(job_id, user, account, sums),
                    None if recent[0] < _EMPTY_MINUTES else usage(job_id, user, account, recent),
                ),
            )
        self._answer = (running, answer)
        return answer

    async def _read_life(self, earliest: float, window_start: float, rolled: float) -> None:
        """Every job's life from the tiers, and the marks of the window's minutes."""
        totals = await totals_by_job(self._store, earliest, rolled)
        self._names = {job_id: (t.user, t.account) for job_id, t in totals.items()}
        life: dict[str, Sums] = {job_id: t.sums for job_id, t in totals.items()}
        minutes = await self._minutes(window_start, rolled)
        at_start = dict(life)
        for _, by_job in minutes:
            for job_id, sums in by_job.items():
                then = at_start.get(job_id)
                if then is not None:
                    at_start[job_id] = list(map(sub, then, sums))
        self._marks = deque([(window_start, dict(at_start))])
        self._add(at_start, minutes)  # only its marks are kept: `life` is the tiers' own sum
        self._life = life

    def _add(self, life: dict[str, Sums], minutes: list[tuple[float, dict[str, Sums]]]) -> None:
        """Each minute's sums added into `life`, and a mark of it left at each minute's end."""
        marks, life_of = self._marks, life.get
        for minute, by_job in minutes:
            for job_id, sums in by_job.items():
                kept = life_of(job_id)
                life[job_id] = sums if kept is None else list(map(add, kept, sums))
            marks.append((minute + 60.0, dict(life)))

    async def _minutes(self, start: float, end: float) -> list[tuple[float, dict[str, Sums]]]:
        """Each closed minute in [start, end) that has rows: job id -> its sums."""
        rows = await read_rows(self._store, MINUTES_BY_JOB, {"start": start, "end": end})
        minutes: list[tuple[float, dict[str, Sums]]] = []
        names = self._names
        minute_start, by_job = None, {}
        for row in rows:  # ordered by minute
            if row[3] != minute_start:
                minute_start = row[3]
                by_job = {}
                minutes.append((float(minute_start), by_job))
            key = row[0]
            by_job[key] = row[4:]
            if key not in names:
                names[key] = (row[1], row[2])
        return minutes
