"""The one typed way for screens, widgets and palette providers to reach the dashboard App.

Nothing here imports the App at run time: screens stay below it (no import cycle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from textual.app import App

    from tui.app.app import ClusterDashApp


class _HasApp(Protocol):
    @property
    def app(self) -> App[Any]: ...


class DashAccess:
    """Mixin: `self.dash` is the running ClusterDashApp, typed."""

    @property
    def dash(self: _HasApp) -> ClusterDashApp:
        return cast("ClusterDashApp", self.app)
