"""The rule form's parsing, rules-file editing and silence requests, without a screen."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.alerts.rules import Rule, Scope, Severity, Watch
from tui.alerts.rules_file import load_rules
from tui.app.rule_form import FieldError, form_to_rule, rule_to_form
from tui.app.rules_editor import (
    RulesFileError,
    read_rule_set,
    with_rule,
    with_toggled,
    write_rule_set,
)
from tui.app.screens.silences import silence_request

HOT = Rule(
    name="hot_h100",
    watch=Watch.GPU_TEMPERATURE,
    threshold=80,
    for_s=300,
    severity=Severity.CRITICAL,
    scope=Scope(nodes="~gpu-0[1-4]", gpu_model="H100"),
    description="runbook: wiki/hot",
)


def test_form_round_trips_a_rule() -> None:
    assert form_to_rule(rule_to_form(HOT)) == HOT
    xid = Rule(name="nvlink", watch=Watch.GPU_XID, xids=frozenset({74, 79}))
    assert form_to_rule(rule_to_form(xid)) == xid


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "has space"}, "name"),
        ({"threshold": "nan"}, "threshold"),
        ({"for": "-5m"}, "for"),
        ({"watch": "gpu_magic"}, "watch"),
        ({"watch": "node_state", "states": "sleepy"}, "states"),
        ({"watch": "node_state", "states": ""}, "states"),
        ({"watch": "gpu_xid", "xids": "79, seventy"}, "xids"),
    ],
)
def test_form_names_the_wrong_field(change: dict[str, str], field: str) -> None:
    with pytest.raises(FieldError) as caught:
        form_to_rule(rule_to_form(HOT) | change)
    assert caught.value.field == field and "\n" not in caught.value.message


def test_editing_keeps_hand_written_rules_and_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    original = "# ours\n[[rule]]\nname = 'mine'\nwatch = 'gpu_power'\nthreshold = 500\n"
    path.write_text(original)
    rule_set = with_toggled(with_rule(read_rule_set(path), HOT), "gpu_xid")
    write_rule_set(path, with_toggled(rule_set, "mine"))
    rules, parsed = load_rules(path)
    assert [r.name for r in parsed.rules] == ["mine", "hot_h100"]
    assert not parsed.rules[0].enabled and parsed.rules[1] == HOT
    assert parsed.disabled_builtins == {"gpu_xid"}
    assert not next(r for r in rules if r.name == "gpu_xid").enabled
    assert (tmp_path / "rules.toml.bak").read_text() == original


def test_duplicate_names_and_broken_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    with pytest.raises(FieldError, match="already exists"):
        with_rule(read_rule_set(path), Rule(name="node_down", watch=Watch.GPU_POWER))
    renamed = with_rule(
        with_rule(read_rule_set(path), HOT), Rule("cool", Watch.GPU_POWER), "hot_h100"
    )
    assert [r.name for r in renamed.rules] == ["cool"]
    path.write_text("[[rule]]\nname = 'x'\nwatch = 'nope'\n")
    with pytest.raises(RulesFileError, match=r"rules.toml:1: rule 'x': watch must be one of"):
        read_rule_set(path)


def test_silence_request_from_the_dialog() -> None:
    request = silence_request(
        "node_down", "gpu-01", by_rule=False, by_target=True, duration="4h", comment=" OPS-1 "
    )
    assert (request.rule, request.target, request.duration_s, request.comment) == (
        None,
        "gpu-01",
        4 * 3600.0,
        "OPS-1",
    )
    for duration in ("0m", "later", "40d"):
        with pytest.raises(ValueError, match="duration"):
            silence_request("r", "t", by_rule=True, by_target=True, duration=duration, comment="")
