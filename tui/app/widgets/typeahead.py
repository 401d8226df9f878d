"""Keys typed after `/` belong to the filter, however fast they arrive.

A terminal delivers pasted or typed-ahead text as one burst: the keys queue behind `/`
on the table that had focus. Textual moves focus only after the current message, so
without this those keys would run the table's bindings (`r` resume, `d` drain, `p`
group). The table opens its filter itself, focuses it at once, and hands every key
still queued on it to the filter.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input

FILTER_KEY = "slash"


def show_filter(box: Input, text: str) -> None:
    """Show the filter box holding `text` and focus it now, not after the next refresh."""
    box.add_class("-shown")
    box.value = text
    box.cursor_position = len(text)
    box.screen.set_focus(box)


def route_typeahead(box: Input, event: events.Key) -> bool:
    """Call from the table's on_key: True when the key went to the filter box."""
    if box.screen.focused is not box:
        return False
    event.stop()
    event.prevent_default()
    box.post_message(events.Key(event.key, event.character))
    return True


def is_filter_key(event: events.Key) -> bool:
    if event.key != FILTER_KEY:
        return False
    event.stop()
    event.prevent_default()
    return True
