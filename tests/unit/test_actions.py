"""What an action accepts before anything runs: names, ids and reasons Slurm reads as-is."""

from __future__ import annotations

import pytest

from tui.actions import Action, ActionError, ActionKind


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        (ActionKind.DRAIN, "gpu-01\n"),
        (ActionKind.RESUME, "gpu-01\n"),
        (ActionKind.CANCEL, "42\n"),
        (ActionKind.REQUEUE, "42_7\n"),
    ],
)
def test_a_trailing_newline_is_not_part_of_a_valid_target(kind: ActionKind, target: str) -> None:
    with pytest.raises(ActionError, match="invalid"):
        Action(kind, (target,), reason="maintenance").validate()
    Action(kind, (target.rstrip("\n"),), reason="maintenance").validate()


@pytest.mark.parametrize("reason", ["fan\x7fnoise", "fan\u2028noise", "fan\x85noise", "a\nb"])
def test_drain_reason_must_be_one_printable_line(reason: str) -> None:
    with pytest.raises(ActionError, match="one printable line"):
        Action(ActionKind.DRAIN, ("gpu-01",), reason=reason).validate()


def test_drain_reason_may_hold_any_printable_text() -> None:
    Action(ActionKind.DRAIN, ("gpu-01",), reason="fan noise — RMA #4, ticket 'é'").validate()
