"""loguru set-up: a rotating file in the XDG state directory; stderr only for daemons.

The TUI owns the terminal, so while it runs nothing is ever logged to it.
"""

from __future__ import annotations

import sys

from loguru import logger

from tui.config import Settings


def configure_logging(settings: Settings, *, to_stderr: bool = False, level: str = "INFO") -> None:
    logger.remove()
    path = settings.log_path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        logger.add(path, level=level, rotation="10 MB", retention=3, enqueue=False)
    except OSError as error:
        if to_stderr:
            print(f"clusterdash: cannot write log file {path}: {error}", file=sys.stderr)
    if to_stderr:
        logger.add(sys.stderr, level=level, format="{time:HH:mm:ss} {level: <7} {message}")
