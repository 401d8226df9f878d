"""Entry point used by the CLI: run the app, return its exit code."""

from __future__ import annotations

from tui.app.app import ClusterDashApp
from tui.config import Settings
from tui.mode import Mode


def run_app(settings: Settings, mode: Mode) -> int:
    app = ClusterDashApp(settings, mode)
    result = app.run()
    return int(result or app.return_code or 0)
