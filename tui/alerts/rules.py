"""Alert rules as data: what a rule watches, when it matches, and where it applies."""

from __future__ import annotations

import fnmatch
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANKS[self.value]


_SEVERITY_RANKS = {"info": 0, "warning": 1, "critical": 2}


class Watch(StrEnum):
    """What a rule looks at. GPU kinds have one target per GPU, node kinds one per node..."""

    GPU_UTILIZATION = "gpu_utilization"
    GPU_MEMORY_PCT = "gpu_memory_pct"
    GPU_TEMPERATURE = "gpu_temperature"
    GPU_POWER = "gpu_power"
    GPU_XID = "gpu_xid"
    GPU_ECC = "gpu_ecc"
    GPU_ALLOCATED_IDLE = "gpu_allocated_idle"
    NODE_STATE = "node_state"
    JOB_PENDING = "job_pending"
    SOURCE_HEALTH = "source_health"

    @property
    def target_kind(self) -> str:
        if self.value.startswith("gpu_"):
            return "gpu"
        return {"node_state": "node", "job_pending": "job", "source_health": "source"}[self.value]


class Comparator(StrEnum):
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EQ = "eq"
    NE = "ne"

    @property
    def function(self) -> Callable[[float, float], bool]:
        return _COMPARATORS[self]

    @property
    def symbol(self) -> str:
        return {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "==", "ne": "!="}[self.value]


_COMPARATORS: dict[Comparator, Callable[[float, float], bool]] = {
    Comparator.GT: operator.gt,
    Comparator.GTE: operator.ge,
    Comparator.LT: operator.lt,
    Comparator.LTE: operator.le,
    Comparator.EQ: operator.eq,
    Comparator.NE: operator.ne,
}

# Node states a NODE_STATE rule can match (Node.display_state values, and flags).
NODE_STATES = frozenset(
    {
        "down",
        "not responding",
        "drained",
        "draining",
        "fail",
        "maint",
        "completing",
        "powered down",
        "error",
        "unknown",
        "idle",
        "mixed",
        "allocated",
    }
)


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a rule applies: node glob or regex, partition, GPU model (all optional)."""

    nodes: str = ""
    partition: str = ""
    gpu_model: str = ""

    def compiled_nodes(self) -> re.Pattern[str] | None:
        if not self.nodes:
            return None
        if self.nodes.startswith("~"):
            return re.compile(self.nodes[1:])
        return re.compile(fnmatch.translate(self.nodes))


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    watch: Watch
    comparator: Comparator = Comparator.GTE
    threshold: float = 0.0
    for_s: float = 0.0
    severity: Severity = Severity.WARNING
    scope: Scope = field(default_factory=Scope)
    enabled: bool = True
    description: str = ""
    # NODE_STATE: which states match; GPU_XID: which XIDs match (empty = any).
    states: frozenset[str] = frozenset()
    xids: frozenset[int] = frozenset()
    exclude_xids: frozenset[int] = frozenset()
    builtin: bool = False

    def matches_value(self, value: float) -> bool:
        return self.comparator.function(value, self.threshold)

    def condition_text(self) -> str:
        match self.watch:
            case Watch.NODE_STATE:
                return "node state in " + ", ".join(sorted(self.states))
            case Watch.GPU_XID:
                which = ", ".join(map(str, sorted(self.xids))) if self.xids else "any"
                return f"XID error ({which})"
            case _:
                return f"{self.watch.value} {self.comparator.symbol} {self.threshold:g}"


class RuleError(ValueError):
    """An invalid rule; the message says which field and why, in one line."""


# Watches whose rules compare a reading with a threshold: without one they would fire on
# every target (a GPU at 0 C is ">= 0").
THRESHOLD_WATCHES = frozenset(
    {
        Watch.GPU_UTILIZATION,
        Watch.GPU_MEMORY_PCT,
        Watch.GPU_TEMPERATURE,
        Watch.GPU_POWER,
        Watch.GPU_ECC,
        Watch.GPU_ALLOCATED_IDLE,
        Watch.JOB_PENDING,
    }
)


def validate_rule(rule: Rule) -> None:
    """Raise RuleError with the rule's first problem."""
    problems = rule_problems(rule)
    if problems:
        raise RuleError(problems[0])


def rule_problems(rule: Rule) -> list[str]:
    """Every problem of the rule, one line each; empty when it is valid."""
    problems = []
    if not rule.name or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", rule.name):
        problems.append("name must be 1-64 characters of letters, digits, _ . : -")
    if not math.isfinite(rule.for_s) or rule.for_s < 0:
        problems.append("for must be a duration, not negative")
    if not math.isfinite(rule.threshold):
        problems.append("threshold must be a finite number")
    if rule.watch is Watch.NODE_STATE:
        if not rule.states:
            problems.append("node_state rules need states (e.g. ['down', 'drained'])")
        unknown = sorted(rule.states - NODE_STATES)
        if unknown:
            problems.append(f"unknown node state {unknown[0]!r}")
    if rule.watch in (Watch.GPU_UTILIZATION, Watch.GPU_MEMORY_PCT, Watch.GPU_ALLOCATED_IDLE) and (
        not 0 <= rule.threshold <= 100
    ):
        problems.append("threshold must be a percentage between 0 and 100")
    if rule.scope.nodes:
        try:
            rule.scope.compiled_nodes()
        except re.error as error:
            problems.append(f"nodes regex is invalid: {error}")
    return problems
