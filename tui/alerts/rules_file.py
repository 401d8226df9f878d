"""Rules in a TOML file: load with line numbers, validate every rule, write back.

[builtin]
gpu_allocated_idle = false        # turn a built-in rule off

[[rule]]
name = "hot_h100"
watch = "gpu_temperature"         # see Watch
comparator = "gte"                # gt gte lt lte eq ne
threshold = 80
for = "5m"
severity = "warning"              # info warning critical
nodes = "gpu-*"                   # glob, or ~regex
partition = ""
gpu_model = "H100"
description = "runbook: https://wiki/ops/hot-gpu"
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tomli_w

from tui.alerts.builtin import BUILTIN_RULES
from tui.alerts.rules import Comparator, Rule, RuleError, Scope, Severity, Watch, validate_rule
from tui.durations import parse_duration

# A rule table's keys, in the order a form shows them.
RULE_KEYS: tuple[str, ...] = (
    "name",
    "watch",
    "comparator",
    "threshold",
    "for",
    "severity",
    "nodes",
    "partition",
    "gpu_model",
    "states",
    "xids",
    "description",
    "enabled",
)


@dataclass(frozen=True, slots=True)
class RuleProblem:
    line: int | None
    rule: str
    message: str

    def format(self, path: Path) -> str:
        where = f"{path}:{self.line}" if self.line else str(path)
        return (
            f"{where}: rule {self.rule!r}: {self.message}"
            if self.rule
            else f"{where}: {self.message}"
        )


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    disabled_builtins: frozenset[str]
    problems: tuple[RuleProblem, ...]


def _rule_lines(text: str) -> list[int]:
    return [
        number
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip().replace(" ", "") == "[[rule]]"
    ]


def rule_from_table(table: dict[str, Any]) -> Rule:
    unknown = sorted(set(table) - set(RULE_KEYS))
    if unknown:
        raise RuleError(f"unknown key {unknown[0]!r}")
    try:
        watch = Watch(table.get("watch", ""))
    except ValueError:
        choices = ", ".join(w.value for w in Watch)
        raise RuleError(f"watch must be one of {choices}") from None
    try:
        comparator = Comparator(table.get("comparator", "gte"))
    except ValueError:
        raise RuleError("comparator must be gt, gte, lt, lte, eq or ne") from None
    try:
        severity = Severity(table.get("severity", "warning"))
    except ValueError:
        raise RuleError("severity must be info, warning or critical") from None
    threshold = table.get("threshold", 0)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise RuleError("threshold must be a number")
    try:
        for_s = parse_duration(table.get("for", 0))
    except ValueError as error:
        raise RuleError(f"for: {error}") from None
    states = table.get("states", [])
    xids = table.get("xids", [])
    if not isinstance(states, list) or not all(isinstance(s, str) for s in states):
        raise RuleError("states must be a list of strings")
    if not isinstance(xids, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) for x in xids
    ):
        raise RuleError("xids must be a list of integers")
    for key in ("name", "nodes", "partition", "gpu_model", "description"):
        if not isinstance(table.get(key, ""), str):
            raise RuleError(f"{key} must be a string")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError("enabled must be true or false")
    rule = Rule(
        name=table.get("name", ""),
        watch=watch,
        comparator=comparator,
        threshold=float(threshold),
        for_s=for_s,
        severity=severity,
        scope=Scope(
            nodes=table.get("nodes", ""),
            partition=table.get("partition", ""),
            gpu_model=table.get("gpu_model", ""),
        ),
        enabled=enabled,
        description=table.get("description", ""),
        states=frozenset(s.lower() for s in states),
        xids=frozenset(xids),
    )
    validate_rule(rule)
    return rule


def rule_to_table(rule: Rule) -> dict[str, Any]:
    table: dict[str, Any] = {
        "name": rule.name,
        "watch": rule.watch.value,
        "comparator": rule.comparator.value,
        "threshold": rule.threshold,
        "for": f"{rule.for_s:g}s",
        "severity": rule.severity.value,
        "enabled": rule.enabled,
    }
    optional = {
        "nodes": rule.scope.nodes,
        "partition": rule.scope.partition,
        "gpu_model": rule.scope.gpu_model,
        "description": rule.description,
        "states": sorted(rule.states),
        "xids": sorted(rule.xids),
    }
    table.update({k: v for k, v in optional.items() if v})
    return table


def parse_rules(text: str) -> RuleSet:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return RuleSet((), frozenset(), (RuleProblem(None, "", f"not valid TOML: {error}"),))
    problems: list[RuleProblem] = []
    unknown = sorted(set(raw) - {"rule", "builtin"})
    for key in unknown:
        problems.append(RuleProblem(None, "", f"unknown top-level key {key!r}"))
    builtin_names = {r.name for r in BUILTIN_RULES}
    disabled: set[str] = set()
    builtin_table = raw.get("builtin", {})
    if not isinstance(builtin_table, dict):
        problems.append(RuleProblem(None, "", "[builtin] must be a table of name = true/false"))
        builtin_table = {}
    for name, on in builtin_table.items():
        if name not in builtin_names:
            problems.append(RuleProblem(None, name, "no such built-in rule"))
        elif not isinstance(on, bool):
            problems.append(RuleProblem(None, name, "built-in switch must be true or false"))
        elif not on:
            disabled.add(name)
    tables = raw.get("rule", [])
    if not isinstance(tables, list):
        tables = []
        problems.append(RuleProblem(None, "", "rules must be [[rule]] tables"))
    lines = _rule_lines(text)
    rules: list[Rule] = []
    seen: set[str] = set()
    for position, table in enumerate(tables):
        line = lines[position] if position < len(lines) else None
        name = str(table.get("name", "")) if isinstance(table, dict) else ""
        try:
            rule = rule_from_table(table)
        except RuleError as error:
            problems.append(RuleProblem(line, name, str(error)))
            continue
        if rule.name in seen or rule.name in builtin_names:
            problems.append(RuleProblem(line, name, "duplicate rule name"))
            continue
        seen.add(rule.name)
        rules.append(rule)
    return RuleSet(tuple(rules), frozenset(disabled), tuple(problems))


def load_rules(path: Path | None, *, builtin: bool = True) -> tuple[list[Rule], RuleSet]:
    """Built-in rules (minus those switched off) plus the file's; problems are returned."""
    rule_set = RuleSet((), frozenset(), ())
    if path is not None and path.exists():
        rule_set = parse_rules(path.read_text(encoding="utf-8"))
    rules = [
        replace(r, enabled=r.name not in rule_set.disabled_builtins)
        for r in (BUILTIN_RULES if builtin else ())
    ]
    return rules + list(rule_set.rules), rule_set


def save_rules(path: Path, rules: Iterable[Rule], disabled_builtins: Iterable[str]) -> None:
    """Write custom rules and built-in switches; atomically, so a crash never loses the file."""
    document: dict[str, Any] = {}
    disabled = sorted(disabled_builtins)
    if disabled:
        document["builtin"] = {name: False for name in disabled}
    document["rule"] = [rule_to_table(r) for r in rules if not r.builtin]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(tomli_w.dumps(document), encoding="utf-8")
    temporary.replace(path)


def check_rules_command(path: Path) -> int:
    """`clusterdash rules check FILE`: every invalid rule with its line; exit 2 if any."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"clusterdash: cannot read {path}: {error}", file=sys.stderr)
        return 2
    rule_set = parse_rules(text)
    for problem in rule_set.problems:
        print(problem.format(path), file=sys.stderr)
    if rule_set.problems:
        return 2
    print(f"{path}: {len(rule_set.rules)} rules OK")
    return 0
