"""Requests that widgets and screens post; the App handles each in one place.

Cluster actions are not messages: their keys are bindings to the App's own action
(`app.on_selection`), so the confirm dialog is on screen before a key typed right
after reaches anything (a queued message would let that key act first).
"""

from __future__ import annotations

from textual.message import Message


class NodeOpenRequested(Message):
    """Show one node's detail."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node
