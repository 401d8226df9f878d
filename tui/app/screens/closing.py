"""Closing a screen safely when keys arrive faster than screens change."""

from __future__ import annotations

from typing import Any

from textual.screen import Screen


def close_screen(screen: Screen[Any], result: Any = None) -> bool:
    """Dismiss `screen` only while it is on top: a late second escape must not pop another."""
    if screen.app.screen is not screen:
        return False
    screen.dismiss(result)
    return True
