"""Who holds the GPUs now: per user and account, as pure functions over one snapshot."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text

from tui.app import format as fmt
from tui.app.job_rows import UNKNOWN, record_tasks
from tui.job_usage import IDLE_THRESHOLD_PCT
from tui.model import ClusterSnapshot, Gpu, JobState

USER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("user", "USER"),
    ("account", "ACCOUNT"),
    ("gpus", "GPUS NOW"),
    ("util", "MEAN UTIL"),
    ("cost", "COST"),
    ("wasted", "WASTED"),
    ("running", "RUNNING"),
    ("pending", "PENDING"),
)
_HOLDING = (JobState.RUNNING, JobState.COMPLETING, JobState.SUSPENDED)


@dataclass
class UserUsage:
    """One user's jobs in one account, now."""

    user: str
    account: str
    gpus: int = 0
    running: int = 0
    pending: int = 0
    readings: list[float] = field(default_factory=list)
    idle: int = 0

    @property
    def key(self) -> str:
        return f"{self.user}\t{self.account}"

    @property
    def mean_utilization_pct(self) -> float | None:
        return sum(self.readings) / len(self.readings) if self.readings else None

    def cost_per_hour(self, price: float) -> float:
        return self.gpus * price

    def wasted_per_hour(self, price: float) -> float | None:
        return None if not self.readings else self.idle * price


def user_usage(snapshot: ClusterSnapshot) -> list[UserUsage]:
    """Per (user, account) with a job listed: GPUs held now, their readings, job counts."""
    gpus: Mapping[tuple[str, int], Gpu] = (
        {} if snapshot.gpus_stale else {gpu.key: gpu for gpu in snapshot.gpus}
    )
    by_key: dict[tuple[str, str], UserUsage] = {}
    for job in snapshot.jobs:
        usage = by_key.setdefault((job.user, job.account), UserUsage(job.user, job.account))
        if job.state is JobState.PENDING:
            usage.pending += record_tasks(job)
            continue
        if job.state not in _HOLDING:
            continue
        usage.running += 1
        usage.gpus += job.gpu_count
        for node, indices in job.gpu_indices.items():
            for index in indices:
                gpu = gpus.get((node, index))
                if gpu is not None and gpu.utilization_pct is not None:
                    usage.readings.append(gpu.utilization_pct)
                    usage.idle += gpu.utilization_pct < IDLE_THRESHOLD_PCT
    return list(by_key.values())


@dataclass(frozen=True, slots=True)
class UserRow:
    key: str
    user: str
    account: str
    cells: tuple[Text, ...]
    sort_values: Mapping[str, Any]


def user_rows(usages: Iterable[UserUsage], price: float) -> list[UserRow]:
    rows = []
    for usage in usages:
        util = usage.mean_utilization_pct
        wasted = usage.wasted_per_hour(price)
        held = bool(usage.gpus)
        cells = (
            Text(usage.user),
            Text(usage.account),
            Text(str(usage.gpus)),
            Text("" if not held else UNKNOWN if util is None else f"{util:.0f}%"),
            Text(fmt.money(usage.cost_per_hour(price)) if held else ""),
            Text("")
            if not held
            else Text(UNKNOWN, style="dim")
            if wasted is None
            else Text(fmt.money(wasted), style="bold yellow" if wasted else ""),
            Text(str(usage.running)),
            Text(str(usage.pending), style="yellow" if usage.pending else ""),
        )
        sort_values = {
            "user": usage.user,
            "account": usage.account,
            "gpus": usage.gpus,
            "util": util,
            "cost": usage.cost_per_hour(price),
            "wasted": wasted,
            "running": usage.running,
            "pending": usage.pending,
        }
        rows.append(UserRow(usage.key, usage.user, usage.account, cells, sort_values))
    return rows
