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

import math
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from tui.alerts.builtin import BUILTIN_RULES
from tui.alerts.rules import (
    THRESHOLD_WATCHES,
    Comparator,
    Rule,
    RuleError,
    Scope,
    Severity,
    Watch,
    rule_problems,
)
from tui.durations import parse_duration
from tui.text import one_line

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


def _builtin_lines(text: str) -> dict[str, int]:
    """Built-in rule name -> the line switching it in the [builtin] table."""
    lines: dict[str, int] = {}
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped.replace(" ", "") == "[builtin]"
        elif inside and (match := _KEY_LINE.match(stripped)):
            lines.setdefault(match.group(1) or match.group(2), number)
    return lines


_KEY_LINE = re.compile(r"""(?:"([^"]*)"|([A-Za-z0-9_-]+))\s*=""")


def rule_from_table(table: dict[str, Any]) -> Rule:
    """The rule a [[rule]] table describes; RuleError with its first problem."""
    rule, problems = rule_and_problems(table)
    if rule is None or problems:
        raise RuleError(problems[0])
    return rule


def rule_and_problems(table: Any) -> tuple[Rule | None, list[str]]:
    """The rule a [[rule]] table describes, and every problem it has (one line each)."""
    if not isinstance(table, dict):
        return None, ["a rule must be a table"]
    problems = [f"unknown key {key!r}" for key in sorted(set(table) - set(RULE_KEYS))]
    watch = _choice(Watch, table.get("watch", ""), problems, "watch must be one of {}")
    comparator = _choice(
        Comparator,
        table.get("comparator", "gte"),
        problems,
        "comparator must be gt, gte, lt, lte, eq or ne",
    )
    severity = _choice(
        Severity,
        table.get("severity", "warning"),
        problems,
        "severity must be info, warning or critical",
    )
    threshold = table.get("threshold")
    if threshold is None:
        if watch in THRESHOLD_WATCHES:
            problems.append(f"{watch} rules need a threshold")
        threshold = 0
    elif isinstance(threshold, bool) or not isinstance(threshold, int | float):
        problems.append("threshold must be a number")
        threshold = 0
    elif not math.isfinite(threshold):
        problems.append("threshold must be a finite number")
        threshold = 0
    try:
        for_s = parse_duration(table.get("for", 0))
    except ValueError as error:
        problems.append(f"for: {error}")
        for_s = 0.0
    states = table.get("states", [])
    xids = table.get("xids", [])
    if not isinstance(states, list) or not all(isinstance(s, str) for s in states):
        problems.append("states must be a list of strings")
        states = []
    if not isinstance(xids, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) for x in xids
    ):
        problems.append("xids must be a list of integers")
        xids = []
    text = {}
    for key in ("name", "nodes", "partition", "gpu_model", "description"):
        value = table.get(key, "")
        if not isinstance(value, str):
            problems.append(f"{key} must be a string")
            value = ""
        text[key] = value
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append("enabled must be true or false")
        enabled = True
    if watch is None or comparator is None or severity is None:
        return None, problems
    rule = Rule(
        name=text["name"],
        watch=watch,
        comparator=comparator,
        threshold=float(threshold),
        for_s=for_s,
        severity=severity,
        scope=Scope(nodes=text["nodes"], partition=text["partition"], gpu_model=text["gpu_model"]),
        enabled=enabled,
        description=text["description"],
        states=frozenset(s.lower() for s in states),
        xids=frozenset(xids),
    )
    problems.extend(p for p in rule_problems(rule) if p not in problems)
    return rule, problems


E = TypeVar("E", Watch, Comparator, Severity)


def _choice(kind: type[E], value: Any, problems: list[str], message: str) -> E | None:
    try:
        return kind(value)
    except ValueError:
        problems.append(message.format(", ".join(member.value for member in kind)))
        return None


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
    builtin_lines = _builtin_lines(text)
    for name, on in builtin_table.items():
        line = builtin_lines.get(name)
        if name not in builtin_names:
            problems.append(RuleProblem(line, name, "no such built-in rule"))
        elif not isinstance(on, bool):
            problems.append(RuleProblem(line, name, "built-in switch must be true or false"))
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
        rule, rule_errors = rule_and_problems(table)
        problems.extend(RuleProblem(line, name, message) for message in rule_errors)
        if rule is None or rule_errors:
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
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            problem = RuleProblem(None, "", f"cannot read the rules file: {one_line(error)}")
            return [], RuleSet((), frozenset(), (problem,))
        rule_set = parse_rules(text)
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
