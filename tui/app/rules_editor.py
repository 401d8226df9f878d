"""Changing the rules file from the dashboard without ever losing what the user wrote.

Every change re-reads the file first (it may have been edited by hand since), refuses
to touch a file that does not parse, keeps the previous version as `<file>.bak` and
writes atomically (save_rules).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from tui.alerts.builtin import BUILTIN_RULES
from tui.alerts.rules import Rule
from tui.alerts.rules_file import RuleSet, parse_rules, save_rules
from tui.app.rule_form import FieldError
from tui.config import Settings

BUILTIN_NAMES = frozenset(rule.name for rule in BUILTIN_RULES)


class RulesFileError(Exception):
    """The rules file cannot be read or does not parse; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class RulesLocation:
    path: Path
    configured: bool  # False: alerts.rules_file is empty and the default path is used


def rules_location(settings: Settings) -> RulesLocation:
    return RulesLocation(settings.rules_path, bool(settings.alerts.rules_file))


def read_rule_set(path: Path) -> RuleSet:
    """The file's rules; an absent file is an empty one."""
    if not path.exists():
        return RuleSet((), frozenset(), ())
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RulesFileError(f"cannot read {path}: {error}") from None
    rule_set = parse_rules(text)
    if rule_set.problems:
        more = len(rule_set.problems) - 1
        extra = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise RulesFileError(
            f"{rule_set.problems[0].format(path)}{extra}; fix the file, nothing was changed"
        )
    return rule_set


def effective_rules(rule_set: RuleSet, *, builtin: bool) -> list[Rule]:
    """What the engine runs: built-ins (with their switches) then the file's own rules."""
    builtins = [
        replace(rule, enabled=rule.name not in rule_set.disabled_builtins)
        for rule in (BUILTIN_RULES if builtin else ())
    ]
    return builtins + list(rule_set.rules)


def with_toggled(rule_set: RuleSet, name: str) -> RuleSet:
    """The rule set with one rule switched on or off (built-ins through [builtin])."""
    if name in BUILTIN_NAMES:
        disabled = set(rule_set.disabled_builtins)
        disabled.symmetric_difference_update({name})
        return replace(rule_set, disabled_builtins=frozenset(disabled))
    if not any(rule.name == name for rule in rule_set.rules):
        raise KeyError(name)
    rules = tuple(
        replace(r, enabled=not r.enabled) if r.name == name else r for r in rule_set.rules
    )
    return replace(rule_set, rules=rules)


def with_rule(rule_set: RuleSet, rule: Rule, replacing: str | None = None) -> RuleSet:
    """The rule set with `rule` added, or put in place of the rule named `replacing`."""
    taken = BUILTIN_NAMES | {r.name for r in rule_set.rules if r.name != replacing}
    if rule.name in taken:
        raise FieldError("name", f"a rule named {rule.name!r} already exists")
    if replacing is None:
        return replace(rule_set, rules=(*rule_set.rules, rule))
    if not any(r.name == replacing for r in rule_set.rules):
        raise FieldError("name", f"rule {replacing!r} is no longer in the file")
    rules = tuple(rule if r.name == replacing else r for r in rule_set.rules)
    return replace(rule_set, rules=rules)


def write_rule_set(path: Path, rule_set: RuleSet) -> None:
    """Keep the previous file as <file>.bak (hand-written comments live there), then save."""
    try:
        if path.exists():
            shutil.copy2(path, path.with_suffix(path.suffix + ".bak"))
        save_rules(path, rule_set.rules, rule_set.disabled_builtins)
    except OSError as error:
        raise RulesFileError(f"cannot write {path}: {error.strerror or error}") from None
