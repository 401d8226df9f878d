"""Keeping the model's context small: capped tool results, oldest results trimmed first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_MAX_RESULT_CHARS = 8_000
DEFAULT_CONTEXT_BUDGET_TOKENS = 24_000
# Trim once the estimate passes this share of the budget, so the reply still fits.
NEAR_BUDGET = 0.8
CUT_MARKER = (
    "\n[cut: {hidden} more characters not shown. Narrow the query "
    "(filters, a name, a smaller range, fewer lines) to see the rest.]"
)
TRIMMED = "[older tool result removed to save context; call the tool again if it is needed]"


def cap_result(text: str, max_chars: int = DEFAULT_MAX_RESULT_CHARS) -> str:
    """At most max_chars of a tool result, with a marker telling the model to narrow down."""
    if len(text) <= max_chars:
        return text
    keep = max(0, max_chars - len(CUT_MARKER) - 8)
    return text[:keep] + CUT_MARKER.format(hidden=len(text) - keep)


def _chars(message: Mapping[str, Any]) -> int:
    total = len(str(message.get("content") or ""))
    for call in message.get("tool_calls") or ():
        function = call.get("function", {})
        total += len(function.get("name", "")) + len(function.get("arguments", ""))
    return total + 16  # role and framing


def estimate_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """About one token per four characters: close enough to decide when to trim."""
    return sum(_chars(message) for message in messages) // 4


def trim_to_budget(
    messages: Sequence[Mapping[str, Any]], budget_tokens: int = DEFAULT_CONTEXT_BUDGET_TOKENS
) -> list[dict[str, Any]]:
    """A copy where the oldest tool results are replaced by a short note until under budget.

    The results of the latest step (after the last assistant message) are never trimmed.
    """
    result = [dict(message) for message in messages]
    limit = int(budget_tokens * NEAR_BUDGET)
    total = estimate_tokens(result)
    if total <= limit:
        return result
    last_assistant = max(
        (i for i, m in enumerate(result) if m.get("role") == "assistant"), default=len(result)
    )
    for index in range(last_assistant):
        message = result[index]
        if message.get("role") != "tool" or message.get("content") == TRIMMED:
            continue
        saved = (len(str(message.get("content") or "")) - len(TRIMMED)) // 4
        if saved <= 0:
            continue
        message["content"] = TRIMMED
        total -= saved
        if total <= limit:
            break
    return result
