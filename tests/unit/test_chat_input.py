"""The chat input's sent-message history and the tool-call title's argument form."""

from __future__ import annotations

from tui.app.widgets.chat_input import SentHistory
from tui.app.widgets.chat_transcript import compact_arguments


def test_history_walks_back_and_returns_to_the_draft() -> None:
    history = SentHistory()
    for text in ("one", "two", "two", "three"):
        history.add(text)
    assert history.entries == ["one", "two", "three"]
    assert history.next() is None
    assert [history.previous("draft") for _ in range(4)] == ["three", "two", "one", None]
    assert [history.next() for _ in range(4)] == ["two", "three", "draft", None]


def test_history_keeps_only_the_newest_entries() -> None:
    history = SentHistory(limit=3)
    for n in range(10):
        history.add(str(n))
    assert history.entries == ["7", "8", "9"]
    assert SentHistory().previous("x") is None


def test_compact_arguments() -> None:
    assert compact_arguments('{"node": "gpu-01", "range": "1h"}') == "node=gpu-01, range=1h"
    assert compact_arguments("") == ""
    assert compact_arguments("{not json") == "{not json"
    assert compact_arguments("[1, 2]") == "[1, 2]"
