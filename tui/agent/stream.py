"""Assembling one streamed model reply: text, reasoning, and tool calls split across chunks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class AssembledCall:
    id: str
    name: str = ""
    arguments: str = ""
    # True while the id is our own stand-in because the server has not sent one yet.
    generated_id: bool = False

    def as_message_part(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass
class ToolCallAssembler:
    """Tool-call fragments keyed by index; a new id at a used index starts a new call.

    Some servers send every parallel call at index 0, each with its own id, so the index
    alone cannot tell calls apart.
    """

    id_prefix: str = "call"
    calls: list[AssembledCall] = field(default_factory=list)
    _current: dict[int, AssembledCall] = field(default_factory=dict)

    def add(
        self, index: int | None, call_id: str | None, name: str | None, args: str | None
    ) -> None:
        slot = index if index is not None else 0
        current = self._current.get(slot)
        if current is None or (call_id and call_id != current.id and not current.generated_id):
            current = AssembledCall(
                id=call_id or f"{self.id_prefix}_{len(self.calls)}", generated_id=not call_id
            )
            self.calls.append(current)
            self._current[slot] = current
        elif call_id and current.generated_id:
            current.id, current.generated_id = call_id, False
        if name and name != current.name:
            current.name += name
        if args:
            current.arguments += args

    def finished(self) -> list[AssembledCall]:
        return [call for call in self.calls if call.name or call.arguments]


def delta_reasoning(delta: Mapping[str, Any]) -> str:
    """vLLM's reasoning parsers send `reasoning_content` (newer builds: `reasoning`)."""
    for key in ("reasoning_content", "reasoning"):
        value = delta.get(key)
        if isinstance(value, str) and value:
            return value
    return ""
