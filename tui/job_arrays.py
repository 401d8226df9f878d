"""Array jobs grouped as one row, the way squeue writes a pending array: `1234_[1-20]`.

squeue lists an array's running tasks one by one (`1234_3`) and its pending rest as one
record (`1234_[4-20%4]`); `group_arrays` folds all of them into one group per array, which an
action on the collapsed row targets as a whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from tui.hostlist import compress_indices, parse_index_set
from tui.model import Job

_ARRAY_TASK = re.compile(r"^(\d+)_(\d+|\[[^\]]*\])$")


def split_array_id(job_id: str) -> tuple[str, tuple[int, ...]] | None:
    """'1234_7' -> ('1234', (7,)); '1234_[4-6%2]' -> ('1234', (4, 5, 6)); others None."""
    match = _ARRAY_TASK.match(job_id)
    if match is None:
        return None
    tasks = parse_index_set(match.group(2))
    return None if tasks is None else (match.group(1), tasks)


@dataclass(frozen=True, slots=True)
class JobGroup:
    """One row: a plain job, or every listed task of one array."""

    job_id: str
    jobs: tuple[Job, ...]
    array_job_id: str | None = None
    tasks: tuple[int, ...] = ()

    @property
    def is_array(self) -> bool:
        return self.array_job_id is not None

    @property
    def task_count(self) -> int:
        return len(self.tasks) if self.is_array else 1


def array_display_id(array_job_id: str, tasks: Iterable[int]) -> str:
    ordered = sorted(set(tasks))
    if len(ordered) == 1:
        return f"{array_job_id}_{ordered[0]}"
    return f"{array_job_id}_[{compress_indices(ordered)}]"


def group_arrays(jobs: Iterable[Job]) -> list[JobGroup]:
    """Jobs in their order, each array's tasks folded into one group where it first appears."""
    order: list[str] = []
    plain: dict[str, Job] = {}
    members: dict[str, list[Job]] = {}
    tasks: dict[str, set[int]] = {}
    for job in jobs:
        split = split_array_id(job.job_id)
        if split is None:
            order.append(job.job_id)
            plain[job.job_id] = job
            continue
        array_id, numbers = split
        key = f"array:{array_id}"
        if key not in members:
            order.append(key)
            members[key], tasks[key] = [], set()
        members[key].append(job)
        tasks[key].update(numbers)
    groups: list[JobGroup] = []
    for key in order:
        if key in plain:
            groups.append(JobGroup(key, (plain[key],)))
            continue
        array_id = key.removeprefix("array:")
        numbers = tuple(sorted(tasks[key]))
        groups.append(
            JobGroup(array_display_id(array_id, numbers), tuple(members[key]), array_id, numbers)
        )
    return groups


def array_task_counts(jobs: Iterable[Job]) -> dict[str, int]:
    """array id -> how many of its tasks Slurm lists (running ones and the pending rest)."""
    return {
        str(group.array_job_id): group.task_count for group in group_arrays(jobs) if group.is_array
    }
