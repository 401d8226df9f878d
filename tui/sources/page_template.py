"""Reading an exporter's page again from what its last reading learnt: the page template.

From one scrape to the next a dcgm-exporter page keeps its shape: the same lines in the
same order, only the numbers after each `}` change (until a GPU's job or a label does).
PageTemplate keeps that shape (the page's bytes less those numbers: its length and hash, a
few bytes rather than the 50 KiB of the page) and where each number goes. The next page is
split at its numbers with one regex call; when the rest is the same (same length and hash),
its numbers are read with float() and put in place, with no per-line work.

Measured need: reading one cycle's 1,024 simulator pages (52 KiB, 27 families of which 10
are shown, every reading changed) took 611-712 ms of CPU with DcgmFastPath and its line
cache warm, 204-240 ms with templates (0.29-0.39x, same runs, 2 loaded cores;
tests/bench/test_bench_page_read.py).

A page is read the same as DcgmFastPath (and so the general parser) would read it, or not
at all: `read` answers None whenever the page differs in anything but numbers, or a number
is not one, and the caller then reads the page in full.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING

from tui.model import Gpu

if TYPE_CHECKING:
    from tui.sources.exporters import _GpuDraft

# `} number\n`: the end of a sample line with labels, its value, the line break. A value
# holding anything but printable ASCII other than a backslash stays in the page's shape (so
# no earlier page matches it), as do timestamps and exemplars (a second blank).
_VALUE_RE = re.compile(rb"\} ([!-\[\]-~]*)\n")
# The same on the decoded text of a UTF-8 page: its matches are the same, since UTF-8 bytes
# of characters past ASCII are never ASCII bytes.
_TEXT_VALUE_RE = re.compile(r"\} ([!-\[\]-~]*)\n")

# Where a number goes: (its position among the page's sample values, the GPU's slot, the
# field or derived reading it fills).
Placement = tuple[int, int, str]


def _picker(positions: Sequence[int]) -> Callable[[list[bytes]], Sequence[bytes]]:
    """A function taking the items at `positions` of a list, as a sequence."""
    if len(positions) == 1:
        only = positions[0]
        return lambda items: (items[only],)
    return itemgetter(*positions)  # type: ignore[return-value]


class PageTemplate:
    """One target's page shape and where its numbers go (see the module docstring)."""

    __slots__ = (
        "_blank",
        "_comments",
        "_drafts",
        "_indices",
        "_pick_comments",
        "_pick_samples",
        "_placements",
        "_shape",
        "charset",
    )

    def __init__(
        self,
        shape: bytes,
        tokens: int,
        sample_positions: list[int],
        comments: list[tuple[int, bytes]],
        placements: list[Placement],
        drafts: list[_GpuDraft],
        indices: list[int],
        charset: str | None,
        blank: float,
    ) -> None:
        self._shape = (len(shape), hash(shape), tokens)
        self._pick_samples = None if len(sample_positions) == tokens else sample_positions
        self._pick_comments = _picker([i for i, _ in comments]) if comments else None
        self._comments = tuple(token for _, token in comments)
        self._placements = placements
        self._drafts = drafts
        self._indices = indices
        self._blank = blank
        self.charset = charset

    @classmethod
    def learn(
        cls,
        body: bytes,
        charset: str | None,
        meaning_of: Callable[[str], tuple[str | None, _GpuDraft | None] | None],
        drafts: Sequence[_GpuDraft],
        blank: float,
    ) -> PageTemplate | None:
        """The template of a page DcgmFastPath has just read in full; None when some sample
        line would escape it (one without labels, with a timestamp, with odd bytes).

        `meaning_of(head)` is what the fast path made of a sample line's head
        (`name{labels}`): the field it fills and its GPU's draft (None for either when it
        fills none), or None when the head is unknown to it. `drafts` are the page's GPUs
        in the order the fast path returns them.
        """
        if charset is not None and charset.lower().replace("-", "") != "utf8":
            return None  # split at ASCII bytes only where those are whole characters
        try:
            text = body.decode()
        except UnicodeDecodeError:
            return None
        parts = _VALUE_RE.split(body)
        shape = parts[0::2]
        tokens = parts[1::2]
        pieces = _TEXT_VALUE_RE.split(text)[0::2]
        if len(pieces) != len(shape):
            return None
        slot_of = {id(draft): slot for slot, draft in enumerate(drafts)}
        sample_positions: list[int] = []
        comments: list[tuple[int, bytes]] = []
        placements: list[Placement] = []
        last = len(tokens)
        for position, piece in enumerate(pieces):
            cut = piece.rfind("\n")
            head = piece[cut + 1 :] if position < last else ""
            # Lines before the value's own have none: only comments or blank lines.
            if cut > 0 or position == last:
                for line in piece[: cut if position < last else None].split("\n"):
                    if line and line[0] != "#":
                        return None  # a sample line no value token ends
            if position == last:
                break
            if not head or head[0] == "#":
                comments.append((position, tokens[position]))
                continue
            meaning = meaning_of(head + "}")
            if meaning is None:
                return None
            target, draft = meaning
            if target is not None and draft is not None:
                placements.append((len(sample_positions), slot_of[id(draft)], target))
            sample_positions.append(position)
        indices = [draft.index for draft in drafts]
        if not drafts or None in indices:
            return None
        return cls(
            b"".join(shape),
            len(tokens),
            sample_positions,
            comments,
            placements,
            list(drafts),
            [index for index in indices if index is not None],
            charset,
            blank,
        )

    def read(self, body: bytes) -> list[Gpu] | None:
        """The page's GPUs, or None when the page is not this shape with numbers in it."""
        parts = _VALUE_RE.split(body)
        shape = b"".join(parts[0::2])
        tokens = parts[1::2]
        if (len(shape), hash(shape), len(tokens)) != self._shape:
            return None
        if self._pick_comments is not None and self._pick_comments(tokens) != self._comments:
            return None
        samples = tokens if self._pick_samples is None else [tokens[i] for i in self._pick_samples]
        try:
            numbers = list(map(float, samples))
        except ValueError:
            return None
        blank = self._blank
        readings: list[dict[str, float | None]] = [{} for _ in self._drafts]
        for position, slot, target in self._placements:
            number = numbers[position]
            # dcgm_value inlined: NaN, infinities, negatives and dcgm's blanks are None.
            readings[slot][target] = None if not 0 <= number < blank else number
        return [
            draft.build_with(index, values)
            for draft, index, values in zip(self._drafts, self._indices, readings, strict=True)
        ]
