"""Reading an instant query's answer without decoding its JSON, from the series it has seen.

Prometheus writes an instant vector as `{"metric":{labels},"value":[time,"number"]}` per
series, the same label text every time a series comes back. `SeriesReader` splits the answer
at its values with one regex call; each series' text before its value (its labels, with the
`,` or answer head before them) is a key into what that label set meant the last time it
was seen (`meaning_of(labels)`, run once per label set), and the values are read with
float(). A label set seen for the first time is decoded alone.

Measured need: one family's answer at 1,024 nodes (8,192 series, 1.9 MB) took 44 ms to
decode with json.loads, and 11 ms to split and look up here (the same run, 2 loaded cores).

An answer is read here only when it has Prometheus' own layout (no spaces, `metric` before
`value`, nothing after the result list); anything else (another server's layout, warnings,
native histograms, an error) makes `read` answer None, and the caller decodes the answer in
full.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")

# `},"value":[time,"number"]}`: the end of a series' labels, its value, the end of the series.
# A JSON string never holds an unescaped `"`, so this text only appears where a series'
# value is written. Starting at the `}` makes the split 10% faster than starting at the `"`
# (a JSON answer has many more quotes than braces).
_VALUE_RE = re.compile(rb'\},"value":\[[^,\]"]*,"([^"]*)"\]\}')
_HEAD = b'{"status":"success","data":{"resultType":"vector","result":['
_FIRST_LEAD = _HEAD + b'{"metric":'
_NEXT_LEAD = b',{"metric":'
_TAIL = b"]}}"
_EMPTY = _HEAD + b"]}}"
# Label sets remembered beyond twice those of a cycle.
_SPARE_ENTRIES = 1024


class SeriesReader(Generic[T]):
    """Instant-query answers read through a cache of label-set text -> meaning_of(labels),
    which is never None."""

    __slots__ = ("_known", "_meaning_of", "_seen")

    def __init__(self, meaning_of: Callable[[Mapping[str, str]], T]) -> None:
        self._meaning_of = meaning_of
        self._known: dict[bytes, T] = {}
        self._seen = 0

    def __len__(self) -> int:
        return len(self._known)

    def new_cycle(self) -> None:
        """Forget every label set when most of those remembered were not seen last cycle."""
        if len(self._known) > 2 * self._seen + _SPARE_ENTRIES:
            self._known.clear()
        self._seen = 0

    def read(self, body: bytes) -> tuple[list[T], list[float]] | None:
        """Each series' meaning and value, in the answer's order; None when the body is not
        a successful vector in Prometheus' own layout (the caller then decodes it)."""
        parts = _VALUE_RE.split(body)
        if len(parts) == 1:
            return ([], []) if body == _EMPTY else None
        if parts[-1] != _TAIL:
            return None
        pieces = parts[0:-1:2]
        known = self._known
        meanings = list(map(known.get, pieces))
        if None in meanings:
            for position, piece in enumerate(pieces):
                if meanings[position] is None:
                    labels = _labels_of(piece)
                    if labels is None:
                        return None
                    meanings[position] = known[piece] = self._meaning_of(labels)
        try:
            values = list(map(float, parts[1::2]))
        except ValueError:
            return None
        self._seen += len(pieces)
        return meanings, values  # type: ignore[return-value]


def _labels_of(piece: bytes) -> dict[str, str] | None:
    """The labels of the series whose text before its value is `piece` (its label object
    less the closing brace), or None."""
    if piece.startswith(_NEXT_LEAD):
        start = len(_NEXT_LEAD)
    elif piece.startswith(_FIRST_LEAD):
        start = len(_FIRST_LEAD)
    else:
        return None
    try:
        labels = json.loads(piece[start:] + b"}")
    except ValueError:
        return None
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        return None
    return labels
