"""The rule form's values (strings and a switch) to a Rule and back; errors name one field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from tui.alerts.rules import (
    NODE_STATES,
    Comparator,
    Rule,
    RuleError,
    Scope,
    Severity,
    Watch,
    validate_rule,
)
from tui.alerts.rules_file import RULE_KEYS
from tui.durations import format_duration, parse_duration

FIELDS = RULE_KEYS
# Kinds whose condition is a comparison with a threshold (not a set of states or XIDs).
COMPARES = frozenset(set(Watch) - {Watch.NODE_STATE, Watch.GPU_XID})

FormValues = Mapping[str, str | bool]
_E = TypeVar("_E", Watch, Comparator, Severity)


@dataclass(frozen=True)
class FieldError(ValueError):
    """Invalid input in one field of the form; `message` is one line."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def fields_for(watch: Watch) -> frozenset[str]:
    """Which fields mean something for a kind of rule (the others are hidden)."""
    shown = set(FIELDS) - {"comparator", "threshold", "states", "xids"}
    if watch in COMPARES:
        shown |= {"comparator", "threshold"}
    if watch is Watch.NODE_STATE:
        shown.add("states")
    if watch is Watch.GPU_XID:
        shown.add("xids")
    if watch.target_kind != "gpu":
        shown.discard("gpu_model")
    return frozenset(shown)


def rule_to_form(rule: Rule) -> dict[str, str | bool]:
    return {
        "name": rule.name,
        "watch": rule.watch.value,
        "comparator": rule.comparator.value,
        "threshold": f"{rule.threshold:g}",
        "for": format_duration(rule.for_s) if rule.for_s else "0s",
        "severity": rule.severity.value,
        "nodes": rule.scope.nodes,
        "partition": rule.scope.partition,
        "gpu_model": rule.scope.gpu_model,
        "states": ", ".join(sorted(rule.states)),
        "xids": ", ".join(str(x) for x in sorted(rule.xids)),
        "description": rule.description,
        "enabled": rule.enabled,
    }


def _text(values: FormValues, field: str) -> str:
    value = values.get(field, "")
    return value.strip() if isinstance(value, str) else ""


def _choice(values: FormValues, field: str, kind: type[_E]) -> _E:
    try:
        return kind(_text(values, field))
    except ValueError:
        raise FieldError(field, "choose one of " + ", ".join(k.value for k in kind)) from None


def _items(text: str) -> list[str]:
    return [item.strip() for item in re.split(r"[,\s]+", text) if item.strip()]


def form_to_rule(values: FormValues) -> Rule:
    """The rule the form describes, or FieldError for the first field that is wrong."""
    name = _text(values, "name")
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", name):
        raise FieldError("name", "1-64 characters of letters, digits, _ . : -")
    watch = _choice(values, "watch", Watch)
    shown = fields_for(watch)
    comparator = Comparator.GTE
    threshold = 0.0
    if "threshold" in shown:
        comparator = _choice(values, "comparator", Comparator)
        try:
            threshold = float(_text(values, "threshold"))
        except ValueError:
            raise FieldError("threshold", "must be a number, e.g. 85 or 0.5") from None
        if threshold != threshold or threshold in (float("inf"), float("-inf")):
            raise FieldError("threshold", "must be a finite number")
    try:
        for_s = parse_duration(_text(values, "for") or "0s")
    except ValueError as error:
        raise FieldError("for", str(error)) from None
    severity = _choice(values, "severity", Severity)
    nodes = _text(values, "nodes")
    if nodes.startswith("~"):
        try:
            re.compile(nodes[1:])
        except re.error as error:
            raise FieldError("nodes", f"invalid regex: {error}") from None
    states: frozenset[str] = frozenset()
    if "states" in shown:
        states = frozenset(s.lower() for s in re.split(r"\s*,\s*", _text(values, "states")) if s)
        if not states:
            raise FieldError("states", "name at least one state, e.g. down, drained")
        unknown = sorted(states - NODE_STATES)
        if unknown:
            raise FieldError("states", f"unknown state {unknown[0]!r}")
    xids: frozenset[int] = frozenset()
    if "xids" in shown:
        try:
            xids = frozenset(int(x) for x in _items(_text(values, "xids")))
        except ValueError:
            raise FieldError("xids", "XIDs are whole numbers, e.g. 48, 79 (empty: any)") from None
    rule = Rule(
        name=name,
        watch=watch,
        comparator=comparator,
        threshold=threshold,
        for_s=for_s,
        severity=severity,
        scope=Scope(
            nodes=nodes,
            partition=_text(values, "partition"),
            gpu_model=_text(values, "gpu_model") if "gpu_model" in shown else "",
        ),
        enabled=bool(values.get("enabled", True)),
        description=_text(values, "description"),
        states=states,
        xids=xids,
    )
    try:
        validate_rule(rule)
    except RuleError as error:
        message = str(error)
        field = next((f for f in FIELDS if message.startswith(f)), "name")
        if "percentage" in message:
            field = "threshold"
        raise FieldError(field, message) from None
    return rule
