"""What an agent run reports, as it happens. The TUI pane and the `ask` CLI both consume these."""

from __future__ import annotations

from dataclasses import dataclass

from tui.actions import Action, ActionResult


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the assistant's visible answer."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning (shown dimmed or folded, never as the answer)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    id: str
    name: str
    # The arguments as the model sent them (JSON text, possibly malformed).
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    id: str
    name: str
    # One line for a collapsed view; full_result is what the model received.
    result_preview: str
    full_result: str
    # One-line error when the call failed (bad arguments, unknown tool, no data); else None.
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ActionProposed:
    """The model proposes a cluster action; the host's decision callback is being awaited."""

    action: Action
    call_id: str


@dataclass(frozen=True, slots=True)
class ActionDecided:
    """The outcome of a proposal: result is None when it was not run (rejected or describe-only)."""

    action: Action
    call_id: str
    result: ActionResult | None
    message: str


@dataclass(frozen=True, slots=True)
class StepStarted:
    """A model request begins (1-based); `final` when tools are withheld to force an answer."""

    step: int
    final: bool = False


@dataclass(frozen=True, slots=True)
class Finished:
    text: str


@dataclass(frozen=True, slots=True)
class Failed:
    """The run stopped; error is one line for the user."""

    error: str


AgentEvent = (
    TextDelta
    | ReasoningDelta
    | ToolCallStarted
    | ToolCallFinished
    | ActionProposed
    | ActionDecided
    | StepStarted
    | Finished
    | Failed
)
