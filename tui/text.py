"""Text for one line of a terminal, a log or an error report."""

from __future__ import annotations

ELLIPSIS = "…"


def truncate(text: str, width: int) -> str:
    """`text` cut to `width` characters, the last one an ellipsis when anything was cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + ELLIPSIS


def one_line(error: BaseException | str, limit: int = 300) -> str:
    """Text or an exception as one readable line (type name only when the message is empty)."""
    text = (
        str(error) if not isinstance(error, BaseException) else (str(error) or type(error).__name__)
    )
    return truncate(" ".join(text.split()), limit)
