"""`clusterdash serve`: the same Textual app in a browser, one app process per session."""

from tui.web.command import serve_command

__all__ = ["serve_command"]
