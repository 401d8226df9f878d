"""Evaluates rules on every snapshot: pending until `for` elapses, firing, resolved.

Like Prometheus alerting: one alert per rule and target; a pending alert whose
condition clears is dropped silently; a firing one resolves only after the condition
has stayed clear for `keep_firing_s`, so flapping values do not spam.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

from tui.alerts.rules import Rule, Severity, Watch
from tui.durations import format_duration
from tui.model import ClusterSnapshot, Gpu, JobState


class AlertState(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule's condition holding for one target in one snapshot."""

    target: str
    value: float
    summary: str
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    target: str
    severity: Severity
    state: AlertState
    active_since: float
    value: float
    summary: str
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    fired_at: float | None = None
    resolved_at: float | None = None
    clear_since: float | None = None
    ack_by: str | None = None
    ack_at: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.target)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, unknown fields left out (the assistant's alerts tool)."""
        data: dict[str, object] = {
            "rule": self.rule,
            "target": self.target,
            "severity": self.severity.value,
            "state": self.state.value,
            "value": self.value,
            "summary": self.summary,
            "description": self.description,
            "labels": dict(self.labels),
            "active_since": self.active_since,
            "fired_at": self.fired_at,
            "ack_by": self.ack_by,
        }
        return {k: v for k, v in data.items() if v not in (None, "", {})}


@dataclass(frozen=True, slots=True)
class Transition:
    alert: Alert
    previous: AlertState | None


def _gpu_target(gpu: Gpu) -> str:
    return f"{gpu.node}/gpu{gpu.index}"


def _gpu_labels(gpu: Gpu) -> dict[str, str]:
    labels = {"node": gpu.node, "gpu": str(gpu.index)}
    if gpu.model:
        labels["model"] = gpu.model
    if gpu.job_id:
        labels["job"] = gpu.job_id
    if gpu.user:
        labels["user"] = gpu.user
    return labels


_GpuInputs = tuple[float, str, str | None, str | None]


class ConditionFinder:
    """Which targets match a rule in a snapshot (fast).

    A GPU condition whose inputs did not change since the previous snapshot is the same
    Condition object as before, so that an unchanged alert costs no new strings or dicts."""

    def __init__(self, gpu_hourly_price: float) -> None:
        self.gpu_hourly_price = gpu_hourly_price
        # (rule, watch) -> (node, GPU index) -> the inputs and the Condition built from them.
        self._gpu_conditions_before: dict[
            tuple[str, Watch], dict[tuple[str, int], tuple[_GpuInputs, Condition]]
        ] = {}

    def conditions(self, rule: Rule, snapshot: ClusterSnapshot) -> Iterator[Condition]:
        match rule.watch.target_kind:
            case "gpu":
                yield from self._gpu_conditions(rule, snapshot)
            case "node":
                yield from self._node_conditions(rule, snapshot)
            case "job":
                yield from self._job_conditions(rule, snapshot)
            case "source":
                yield from self._source_conditions(rule, snapshot)

    def _allowed_nodes(self, rule: Rule, snapshot: ClusterSnapshot) -> set[str] | None:
        scope = rule.scope
        if not scope.nodes and not scope.partition:
            return None
        pattern = scope.compiled_nodes()
        names = {n.name for n in snapshot.nodes} | set(snapshot.gpus_by_node)
        return {
            name
            for name in names
            if (pattern is None or pattern.fullmatch(name))
            and (not scope.partition or scope.partition in _partitions(snapshot, name))
        }

    def _gpu_conditions(self, rule: Rule, snapshot: ClusterSnapshot) -> Iterator[Condition]:
        allowed = self._allowed_nodes(rule, snapshot)
        model = rule.scope.gpu_model.lower()
        gpus = snapshot.gpus
        if allowed is not None or model:
            gpus = tuple(
                g
                for g in gpus
                if (allowed is None or g.node in allowed)
                and (not model or model in g.model.lower())
            )
        value_of = _GPU_VALUES[rule.watch]
        compare, threshold = rule.comparator.function, rule.threshold
        # One tight comprehension over every GPU, Conditions only for the few that match:
        # 17 ms -> 8 ms for the built-in rules at 8,192 GPUs (per-GPU generator before).
        if rule.watch is Watch.GPU_XID:
            hits = [
                (g, v)
                for g in gpus
                if (v := value_of(g)) is not None
                and v > 0
                and (not rule.xids or int(v) in rule.xids)
                and int(v) not in rule.exclude_xids
            ]
        else:
            hits = [
                (g, v) for g in gpus if (v := value_of(g)) is not None and compare(v, threshold)
            ]
        before = self._gpu_conditions_before.get((rule.name, rule.watch), {})
        now: dict[tuple[str, int], tuple[_GpuInputs, Condition]] = {}
        for gpu, value in hits:
            key = (gpu.node, gpu.index)
            inputs = (value, gpu.model, gpu.job_id, gpu.user)
            kept = before.get(key)
            if kept is None or kept[0] != inputs:
                kept = (
                    inputs,
                    Condition(
                        _gpu_target(gpu),
                        value,
                        self._gpu_summary(rule, gpu, value),
                        _gpu_labels(gpu),
                    ),
                )
            now[key] = kept
            yield kept[1]
        self._gpu_conditions_before[(rule.name, rule.watch)] = now

    def _gpu_summary(self, rule: Rule, gpu: Gpu, value: float) -> str:
        where = f"GPU {gpu.index} on {gpu.node}"
        match rule.watch:
            case Watch.GPU_TEMPERATURE:
                return f"{where} at {value:.0f} C"
            case Watch.GPU_MEMORY_PCT:
                return f"{where} memory {value:.1f}% used"
            case Watch.GPU_UTILIZATION:
                return f"{where} utilization {value:.0f}%"
            case Watch.GPU_POWER:
                return f"{where} drawing {value:.0f} W"
            case Watch.GPU_XID:
                return f"XID {int(value)} on {where}"
            case Watch.GPU_ECC:
                return f"{where}: {int(value)} uncorrectable ECC errors / row-remap failures"
            case Watch.GPU_ALLOCATED_IDLE:
                return (
                    f"{where} held by job {gpu.job_id} ({gpu.user or '?'}) at {value:.0f}% "
                    f"utilization, wasting ${self.gpu_hourly_price:.2f}/h"
                )
        return where  # pragma: no cover

    def _node_conditions(self, rule: Rule, snapshot: ClusterSnapshot) -> Iterator[Condition]:
        allowed = self._allowed_nodes(rule, snapshot)
        for node in snapshot.nodes:
            if allowed is not None and node.name not in allowed:
                continue
            state = node.display_state
            if state not in rule.states and not (
                "down" in rule.states and node.state.value == "DOWN"
            ):
                continue
            reason = f": {node.reason}" if node.reason else ""
            yield Condition(
                node.name,
                1.0,
                f"{node.name} is {state}{reason}",
                {"node": node.name, "state": state, "reason": node.reason},
            )

    def _job_conditions(self, rule: Rule, snapshot: ClusterSnapshot) -> Iterator[Condition]:
        partition = rule.scope.partition
        now = snapshot.taken_at
        for job in snapshot.jobs:
            if job.state is not JobState.PENDING or (partition and job.partition != partition):
                continue
            pending = job.pending_for_s(now)
            if pending is None or not rule.matches_value(pending):
                continue
            yield Condition(
                f"job/{job.job_id}",
                pending,
                f"job {job.job_id} ({job.user}) pending for {format_duration(pending)}: "
                f"{job.reason or 'no reason given'}",
                {"job": job.job_id, "user": job.user, "reason": job.reason},
            )

    def _source_conditions(self, rule: Rule, snapshot: ClusterSnapshot) -> Iterator[Condition]:
        for name, health in snapshot.health.items():
            if not health.enabled or health.ok or health.last_attempt is None:
                continue
            yield Condition(
                f"source/{name}",
                1.0,
                f"source {name} failing: {health.last_error or 'unknown error'}",
                {"source": name},
            )


def _ecc_value(gpu: Gpu) -> float | None:
    if gpu.ecc_uncorrectable is None and gpu.remapped_row_failures is None:
        return None
    return float((gpu.ecc_uncorrectable or 0) + (gpu.remapped_row_failures or 0))


def _idle_value(gpu: Gpu) -> float | None:
    """Utilization of a GPU a job holds; free GPUs are never "allocated but idle"."""
    return gpu.utilization_pct if gpu.job_id is not None else None


def _partitions(snapshot: ClusterSnapshot, node: str) -> tuple[str, ...]:
    found = snapshot.node_by_name.get(node)
    return found.partitions if found else ()


def _xid_value(gpu: Gpu) -> float | None:
    return None if gpu.last_xid is None else float(gpu.last_xid)


_GPU_VALUES: Mapping[Watch, Callable[[Gpu], float | None]] = MappingProxyType(
    {
        Watch.GPU_UTILIZATION: lambda g: g.utilization_pct,
        Watch.GPU_MEMORY_PCT: lambda g: g.memory_pct,
        Watch.GPU_TEMPERATURE: lambda g: g.temperature_c,
        Watch.GPU_POWER: lambda g: g.power_w,
        Watch.GPU_XID: _xid_value,
        Watch.GPU_ECC: _ecc_value,
        Watch.GPU_ALLOCATED_IDLE: _idle_value,
    }
)


class AlertEngine:
    """Holds alert state between snapshots; evaluate() returns what changed."""

    def __init__(
        self,
        rules: Iterable[Rule],
        *,
        keep_firing_s: float = 60.0,
        gpu_hourly_price: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.keep_firing_s = keep_firing_s
        self.finder = ConditionFinder(gpu_hourly_price)
        self._clock = clock
        self._active: dict[tuple[str, str], Alert] = {}

    @property
    def active(self) -> list[Alert]:
        """Pending and firing alerts, most severe and newest first."""
        return sorted(
            self._active.values(),
            key=lambda a: (-a.severity.rank, -(a.fired_at or a.active_since)),
        )

    @property
    def held(self) -> tuple[Alert, ...]:
        """Pending and firing alerts in no particular order (cheaper than `active`)."""
        return tuple(self._active.values())

    def firing(self) -> list[Alert]:
        return [a for a in self.active if a.state is AlertState.FIRING]

    def restore(self, alerts: Iterable[Alert]) -> None:
        """Continue from persisted pending/firing alerts (after a restart)."""
        known = {rule.name for rule in self.rules}
        for alert in alerts:
            if alert.rule in known and alert.state is not AlertState.RESOLVED:
                self._active[alert.key] = alert

    def show_only(self, alerts: Iterable[Alert]) -> None:
        """Hold exactly these alerts (a viewer following the collector's alert state)."""
        self._active = {alert.key: alert for alert in alerts}

    def set_rules(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        names = {rule.name for rule in self.rules if rule.enabled}
        for key in [k for k in self._active if k[0] not in names]:
            del self._active[key]

    def replace_alert(self, alert: Alert) -> None:
        """Record an operator change (acknowledgement) on an active alert."""
        if alert.key in self._active:
            self._active[alert.key] = alert

    def evaluate(self, snapshot: ClusterSnapshot, now: float | None = None) -> list[Transition]:
        now = self._clock() if now is None else now
        transitions: list[Transition] = []
        seen: set[tuple[str, str]] = set()
        for rule in self.rules:
            if not rule.enabled:
                continue
            if snapshot.gpus_stale and rule.watch.target_kind == "gpu":
                # Stale readings neither raise, advance nor clear a GPU alert: it holds.
                seen.update(key for key in self._active if key[0] == rule.name)
                continue
            for condition in self.finder.conditions(rule, snapshot):
                key = (rule.name, condition.target)
                seen.add(key)
                transition = self._holds(rule, condition, now)
                if transition is not None:
                    transitions.append(transition)
        for key in [k for k in self._active if k not in seen]:
            transition = self._cleared(self._active[key], now)
            if transition is not None:
                transitions.append(transition)
        return transitions

    def _holds(self, rule: Rule, condition: Condition, now: float) -> Transition | None:
        key = (rule.name, condition.target)
        current = self._active.get(key)
        if current is None:
            state = AlertState.FIRING if rule.for_s <= 0 else AlertState.PENDING
            alert = Alert(
                rule=rule.name,
                target=condition.target,
                severity=rule.severity,
                state=state,
                active_since=now,
                value=condition.value,
                summary=condition.summary,
                description=rule.description,
                labels=MappingProxyType(dict(condition.labels)),
                fired_at=now if state is AlertState.FIRING else None,
            )
            self._active[key] = alert
            return Transition(alert, None)
        unchanged = (
            current.clear_since is None
            and current.value == condition.value
            and current.summary == condition.summary
            and current.labels == condition.labels
        )
        # The same object when nothing changed: persistence skips it by identity.
        updated = (
            current
            if unchanged
            else replace(
                current,
                value=condition.value,
                summary=condition.summary,
                labels=MappingProxyType(dict(condition.labels)),
                clear_since=None,
            )
        )
        if current.state is AlertState.PENDING and now - current.active_since >= rule.for_s:
            updated = replace(updated, state=AlertState.FIRING, fired_at=now)
            self._active[key] = updated
            return Transition(updated, AlertState.PENDING)
        self._active[key] = updated
        return None

    def _cleared(self, alert: Alert, now: float) -> Transition | None:
        if alert.state is AlertState.PENDING:
            del self._active[alert.key]
            return None
        if alert.clear_since is None:
            alert = replace(alert, clear_since=now)
            self._active[alert.key] = alert
        if now - alert.clear_since >= self.keep_firing_s:  # type: ignore[operator]
            del self._active[alert.key]
            resolved = replace(alert, state=AlertState.RESOLVED, resolved_at=now)
            return Transition(resolved, AlertState.FIRING)
        return None
