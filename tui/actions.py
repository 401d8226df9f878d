"""Cluster actions (drain, resume, cancel, requeue, hold, release) as data.

An Action is validated before anything runs and renders to argv lists (never shell
strings), so a confirmation dialog can show exactly what will run. The Slurm source
and the simulator both execute Actions through the ActionRunner protocol.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from loguru import logger

from tui.audit_record import AuditRecord
from tui.text import one_line

# Slurm node names: letters, digits, '-', '_', '.'; no hostlist brackets or spaces.
# \A..\Z, not ^..$: "$" also matches before a trailing newline.
NODE_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
# Job ids: 42, array task 42_7, heterogeneous component 42+1.
JOB_ID_RE = re.compile(r"\A[0-9]{1,10}(?:_[0-9]{1,10}|\+[0-9]{1,4})?\Z")
MAX_REASON_LEN = 200


class ActionError(ValueError):
    """Raised for an action that must not run; the message is one line for the user."""


class ActionKind(StrEnum):
    DRAIN = "drain"
    RESUME = "resume"
    CANCEL = "cancel"
    REQUEUE = "requeue"
    HOLD = "hold"
    RELEASE = "release"

    @property
    def targets_nodes(self) -> bool:
        return self in (ActionKind.DRAIN, ActionKind.RESUME)

    @property
    def destructive(self) -> bool:
        return self in (ActionKind.DRAIN, ActionKind.CANCEL, ActionKind.REQUEUE, ActionKind.HOLD)


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    targets: tuple[str, ...]
    reason: str = ""

    def validate(self) -> None:
        if not self.targets:
            raise ActionError(f"{self.kind}: no target given")
        pattern, what = (
            (NODE_NAME_RE, "node name") if self.kind.targets_nodes else (JOB_ID_RE, "job id")
        )
        for target in self.targets:
            if not pattern.match(target):
                raise ActionError(f"{self.kind}: invalid {what} {target!r}")
        if self.kind is ActionKind.DRAIN:
            reason = self.reason.strip()
            if not reason:
                raise ActionError("drain: a reason is required")
            # isprintable() also refuses DEL, C1 controls and Unicode line/paragraph breaks.
            if len(reason) > MAX_REASON_LEN or not reason.isprintable():
                raise ActionError(
                    f"drain: reason must be one printable line, at most {MAX_REASON_LEN} chars"
                )

    def argv(self) -> list[list[str]]:
        """The exact commands that carry this action out."""
        self.validate()
        targets = list(self.targets)
        match self.kind:
            case ActionKind.DRAIN:
                return [
                    [
                        "scontrol",
                        "update",
                        f"NodeName={','.join(targets)}",
                        "State=DRAIN",
                        f"Reason={self.reason.strip()}",
                    ]
                ]
            case ActionKind.RESUME:
                return [["scontrol", "update", f"NodeName={','.join(targets)}", "State=RESUME"]]
            case ActionKind.CANCEL:
                # scancel exits 0 for an unknown job id and prints the error only when verbose.
                return [["scancel", "--verbose", *targets]]
            case ActionKind.REQUEUE:
                return [["scontrol", "requeue", ",".join(targets)]]
            case ActionKind.HOLD:
                return [["scontrol", "hold", ",".join(targets)]]
            case ActionKind.RELEASE:
                return [["scontrol", "release", ",".join(targets)]]
        raise ActionError(f"unknown action {self.kind}")  # pragma: no cover

    def describe(self) -> str:
        noun = "node" if self.kind.targets_nodes else "job"
        plural = "s" if len(self.targets) != 1 else ""
        text = f"{self.kind.value} {noun}{plural} {', '.join(self.targets)}"
        return f"{text} (reason: {self.reason.strip()})" if self.reason.strip() else text


@dataclass(frozen=True, slots=True)
class ActionResult:
    action: Action
    ok: bool
    # On failure: Slurm's own error text, verbatim. On success: a short confirmation.
    message: str


class ActionRunner(Protocol):
    async def run_action(self, action: Action) -> ActionResult: ...


async def run_reported(runner: ActionRunner, action: Action) -> ActionResult:
    """Run one action; a refusal or Slurm's failure comes back as a failed result, never raised."""
    try:
        return await runner.run_action(action)
    except ActionError as error:
        return ActionResult(action, ok=False, message=one_line(error))
    except Exception as error:
        logger.exception("action {} failed", action.describe())
        return ActionResult(action, ok=False, message=one_line(error))


def audit_record(
    result: ActionResult, origin: str, user: str, ts: float | None = None
) -> AuditRecord:
    """The audit log's row for one action that ran."""
    action = result.action
    return AuditRecord(
        user=user,
        origin=origin,
        action=action.kind.value,
        targets=tuple(action.targets),
        ok=result.ok,
        reason=action.reason,
        message=result.message,
        ts=ts,
    )


def current_user() -> str:
    """Who runs actions from this process (Slurm's permissions apply), for the audit log."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"
