"""What a screen that shows the cluster implements, so the App can hand it each snapshot."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tui.model import ClusterSnapshot


@runtime_checkable
class SnapshotView(Protocol):
    def apply_snapshot(self, snapshot: ClusterSnapshot) -> None: ...
