"""Rules file: load, every problem with its line, built-in switches, round trip, CLI check."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.alerts.rules import Severity, Watch
from tui.alerts.rules_file import load_rules, parse_rules, save_rules
from tui.cli import main

GOOD = """
[builtin]
gpu_allocated_idle = false

[[rule]]
name = "hot_h100"
watch = "gpu_temperature"
comparator = "gte"
threshold = 80
for = "5m"
severity = "critical"
nodes = "gpu-*"
gpu_model = "H100"
description = "runbook: ops/hot-gpu"
"""

BAD = """
[[rule]]
name = "ok_rule"
watch = "gpu_power"
threshold = 600

[[rule]]
name = "bad_watch"
watch = "gpu_colour"

[[rule]]
name = "bad_for"
watch = "gpu_temperature"
threshold = 90
for = "soon"

[[rule]]
name = "bad_regex"
watch = "gpu_temperature"
threshold = 90
nodes = "~gpu-("

[[rule]]
name = "no_states"
watch = "node_state"
"""


def test_good_file_loads_with_builtins(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(GOOD)
    rules, rule_set = load_rules(path)
    assert rule_set.problems == ()
    custom = next(r for r in rules if r.name == "hot_h100")
    assert custom.watch is Watch.GPU_TEMPERATURE
    assert custom.for_s == 300
    assert custom.severity is Severity.CRITICAL
    assert custom.scope.nodes == "gpu-*"
    idle = next(r for r in rules if r.name == "gpu_allocated_idle")
    assert idle.enabled is False
    assert all(r.enabled for r in rules if r.builtin and r.name != "gpu_allocated_idle")


def test_every_invalid_rule_is_reported_with_its_line() -> None:
    rule_set = parse_rules(BAD)
    found = {(p.line, p.rule): p.message for p in rule_set.problems}
    assert [r.name for r in rule_set.rules] == ["ok_rule"]
    assert "watch must be one of" in found[(7, "bad_watch")]
    assert "for:" in found[(11, "bad_for")]
    assert "regex" in found[(17, "bad_regex")]
    assert "states" in found[(23, "no_states")]


def test_builtin_names_and_duplicates_are_problems() -> None:
    text = (
        '[builtin]\nno_such = false\n[[rule]]\nname = "node_down"\nwatch = "gpu_power"\n'
        "threshold = 700\n"
    )
    messages = [p.message for p in parse_rules(text).problems]
    assert "no such built-in rule" in messages
    assert "duplicate rule name" in messages


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    rules, rule_set = load_rules(None)
    source = tmp_path / "in.toml"
    source.write_text(GOOD)
    rules, rule_set = load_rules(source)
    out = tmp_path / "out.toml"
    save_rules(out, rules, rule_set.disabled_builtins)
    again, again_set = load_rules(out)
    assert again == rules
    assert again_set.disabled_builtins == {"gpu_allocated_idle"}


def test_rules_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD)
    assert main(["rules", "check", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4
    assert err[0].startswith(f"{bad}:7: rule 'bad_watch'")
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    assert main(["rules", "check", str(good)]) == 0
    assert "1 rules OK" in capsys.readouterr().out
    assert main(["rules", "check", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text("[[rule]\n")
    assert main(["rules", "check", str(broken)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


@pytest.mark.parametrize("watch", ["gpu_temperature", "gpu_utilization", "gpu_ecc", "job_pending"])
def test_a_rule_without_a_threshold_is_a_problem(watch: str) -> None:
    problems = parse_rules(f'[[rule]]\nname = "r"\nwatch = "{watch}"\n').problems
    assert [(p.line, p.message) for p in problems] == [(1, f"{watch} rules need a threshold")]


def test_rules_that_need_no_threshold_load_without_one() -> None:
    text = (
        '[[rule]]\nname = "x"\nwatch = "gpu_xid"\nxids = [79]\n'
        '[[rule]]\nname = "d"\nwatch = "node_state"\nstates = ["down"]\n'
        '[[rule]]\nname = "s"\nwatch = "source_health"\n'
    )
    rule_set = parse_rules(text)
    assert rule_set.problems == ()
    assert [r.name for r in rule_set.rules] == ["x", "d", "s"]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_threshold_that_is_not_a_finite_number_is_a_problem(value: str) -> None:
    text = f'[[rule]]\nname = "r"\nwatch = "gpu_power"\nthreshold = {value}\n'
    rule_set = parse_rules(text)
    assert rule_set.rules == ()
    assert [p.message for p in rule_set.problems] == ["threshold must be a finite number"]


def test_every_problem_of_one_rule_is_reported() -> None:
    text = (
        '[[rule]]\nname = "r"\nwatch = "gpu_power"\nthreshold = 1\n'
        'severity = "loud"\nfor = "soon"\ncolour = "red"\n'
    )
    messages = [p.message for p in parse_rules(text).problems]
    assert len(messages) == 3
    assert "unknown key 'colour'" in messages
    assert "severity must be info, warning or critical" in messages
    assert any(m.startswith("for:") for m in messages)


def test_unknown_builtin_switch_is_reported_on_its_line(tmp_path: Path) -> None:
    text = '[builtin]\ngpu_allocated_idle = false\n"no such" = false\nnope = "x"\n'
    problems = parse_rules(text).problems
    assert [(p.line, p.rule, p.message) for p in problems] == [
        (3, "no such", "no such built-in rule"),
        (4, "nope", "no such built-in rule"),
    ]
    path = tmp_path / "rules.toml"
    assert problems[0].format(path) == f"{path}:3: rule 'no such': no such built-in rule"


def test_an_unreadable_rules_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_bytes(b"\xff\xfe not utf-8")
    rules, rule_set = load_rules(path)
    assert rules == []
    message = rule_set.problems[0].format(path)
    assert message.startswith(f"{path}: cannot read the rules file: ")
    assert "\n" not in message
