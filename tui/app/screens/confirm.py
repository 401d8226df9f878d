"""Confirmation before a cluster action: exactly what will run; drain asks for a reason.

Enter and `y` confirm, Escape and `n` cancel (in the drain dialog `y` and `n` type into
the reason). No confirm key counts until the dialog has been on screen for SETTLE_S: a
key typed ahead, or pasted, before the operator could read the dialog confirms nothing.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from tui.actions import Action, ActionError, ActionKind
from tui.app.screens.closing import close_screen
from tui.app.screens.form_dialog import FormDialog
from tui.job_arrays import array_task_counts
from tui.model import ClusterSnapshot, Job

SETTLE_S = 0.3


def targets_text(action: Action, jobs: Iterable[Job]) -> str:
    """The targets; a job target that is a whole array says how many tasks it holds."""
    if action.kind.targets_nodes:
        return ", ".join(action.targets)
    tasks = array_task_counts(jobs)
    return ", ".join(
        f"{t} (array: all {tasks[t]} array tasks)" if t in tasks else t for t in action.targets
    )


def commands_text(action: Action) -> str:
    """The argv lists as a reader would type them (quoted), one per line."""
    return "\n".join("$ " + shlex.join(argv) for argv in action.argv())


class ConfirmActionScreen(FormDialog[Action]):
    """Returns the (possibly reason-completed) Action to run, or None when cancelled."""

    SUBMIT_BUTTON = "confirm"

    DEFAULT_CSS = """
    ConfirmActionScreen { align: center middle; }
    ConfirmActionScreen > Vertical {
        width: 90%; max-width: 100; height: auto; max-height: 90%;
        border: thick $warning; background: $panel; padding: 1 2;
    }
    ConfirmActionScreen #confirm-targets { max-height: 8; }
    ConfirmActionScreen #confirm-commands { color: $text-accent; margin: 1 0; }
    ConfirmActionScreen #confirm-error { color: $error; }
    ConfirmActionScreen Horizontal { height: auto; align-horizontal: right; }
    ConfirmActionScreen Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding(
            "escape", "cancel", "Cancel", tooltip="in the drain dialog n types into the reason"
        ),
        Binding(
            "enter",
            "confirm",
            "Confirm",
            tooltip="once the dialog has been on screen 0.3 s (keys typed before are ignored);"
            " in the drain dialog y types into the reason",
        ),
        Binding("y", "confirm", "Yes", show=False),
        Binding("n", "cancel", "No", show=False),
    ]

    def __init__(self, action: Action, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.action_to_run = action
        self.clock = clock
        self.painted_at: float | None = None
        self.ignored_keys = 0

    def accepts_confirm(self) -> bool:
        """True once the dialog has been on screen long enough to have been read."""
        return self.painted_at is not None and self.clock() - self.painted_at >= SETTLE_S

    def _painted(self) -> None:
        if self.painted_at is None:
            self.painted_at = self.clock()

    @property
    def needs_reason(self) -> bool:
        return self.action_to_run.kind is ActionKind.DRAIN

    def compose(self) -> ComposeResult:
        action = self.action_to_run
        noun = "node" if action.kind.targets_nodes else "job"
        plural = "s" if len(action.targets) != 1 else ""
        with Vertical():
            yield Label(
                Text(
                    f"{action.kind.value.upper()} {len(action.targets)} {noun}{plural}?",
                    style="bold",
                )
            )
            snapshot = getattr(self.app, "snapshot", None)
            jobs = snapshot.jobs if isinstance(snapshot, ClusterSnapshot) else ()
            yield Static(targets_text(action, jobs), id="confirm-targets", markup=False)
            if self.needs_reason:
                yield Input(
                    value=action.reason,
                    placeholder="reason (required), e.g. bad GPU 3, XID 79",
                    id="confirm-reason",
                )
            yield Static("", id="confirm-commands", markup=False)
            yield Static("", id="confirm-error", markup=False)
            with Horizontal():
                # Not focusable: enter always confirms and escape cancels; a click works.
                cancel = Button("Cancel  esc/n", id="cancel")
                cancel.can_focus = False
                yield cancel
                variant = "error" if action.kind.destructive else "primary"
                run = Button(f"Run {action.kind.value}  enter/y", id="confirm", variant=variant)
                run.can_focus = False
                yield run

    def on_mount(self) -> None:
        self._show_commands()
        if self.needs_reason:
            self.query_one("#confirm-reason", Input).focus()
        self.call_after_refresh(self._painted)

    def _current(self) -> Action:
        if not self.needs_reason:
            return self.action_to_run
        reason = self.query_one("#confirm-reason", Input).value
        return Action(self.action_to_run.kind, self.action_to_run.targets, reason)

    def _show_commands(self) -> bool:
        commands = self.query_one("#confirm-commands", Static)
        error = self.query_one("#confirm-error", Static)
        try:
            commands.update(commands_text(self._current()))
            error.update("")
            return True
        except ActionError as problem:
            commands.update("")
            error.update(str(problem))
            return False

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show_commands()

    def action_confirm(self) -> None:
        if not self.accepts_confirm():
            self.ignored_keys += 1  # typed before the operator could see the dialog
            return
        if self._show_commands():
            close_screen(self, self._current())
        else:
            self.query_one("#confirm-reason", Input).focus()

    def submit(self) -> None:
        self.action_confirm()
