"""Prometheus text exposition format (and the OpenMetrics subset exporters emit): parse, render.

`parse_samples(text)` returns every sample in the payload; a payload that is not Prometheus
text raises ParseError, whose str() is one line naming the line number. `parse_samples_async`
does the same for a big payload (a federation dump, a test fixture) in chunks, yielding to
the event loop between them so the UI never freezes.

Written by hand rather than using prometheus_client.parser because that parser is too slow
for the scale path: on a 1,000-node x 8-GPU dcgm payload (150k lines, 28 MB) it took about
5.5 s against this module's ~0.38 s (tests/bench/test_bench_parser.py prints the figures).
The speed comes from caching parsed label blocks (a GPU's label block repeats across all
its metrics), str.find/split instead of per-character loops, and a regex only for the
label blocks not seen before.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import NamedTuple

METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# One `name="value"` pair, its optional trailing comma, and surrounding blanks.
_LABEL_PAIR_RE = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"[ \t]*')
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n"}

# Text parsed between yields in parse_samples_async: about 7 ms of work, leaving room
# for a full garbage collection (~35 ms with 120k samples alive) inside the 50 ms budget.
ASYNC_CHUNK_CHARS = 1_000_000
_EXCERPT_CHARS = 60


class Sample(NamedTuple):
    """One sample line. `labels` is a read-only mapping, shared between samples with the
    same label block. `timestamp_ms` is the optional timestamp as written (milliseconds
    since the epoch in the Prometheus text format)."""

    name: str
    labels: Mapping[str, str]
    value: float
    timestamp_ms: float | None = None


class ParseError(ValueError):
    """The payload is not Prometheus text; str() is one line: 'line N: what is wrong: excerpt'."""

    def __init__(self, line_number: int, message: str, line: str = "") -> None:
        self.line_number = line_number
        self.message = message
        excerpt = line if len(line) <= _EXCERPT_CHARS else line[: _EXCERPT_CHARS - 1] + "…"
        text = f"line {line_number}: {message}"
        if excerpt:
            text += f": {excerpt!r}"
        super().__init__(text)


NO_LABELS: Mapping[str, str] = MappingProxyType({})
# Builds a Sample without NamedTuple's Python-level __new__: 45 ms less per 120k samples.
_new_tuple = tuple.__new__


def parse_samples(text: str) -> list[Sample]:
    """Every sample in `text`, in order. Raises ParseError on the first malformed line."""
    samples: list[Sample] = []
    _Parser().feed(_split_lines(text), 1, samples)
    return samples


async def parse_samples_async(text: str, chunk_chars: int = ASYNC_CHUNK_CHARS) -> list[Sample]:
    """parse_samples for big payloads: yields to the event loop every `chunk_chars` characters."""
    samples: list[Sample] = []
    parser = _Parser()
    start = 0
    line_number = 1
    while start < len(text):
        end = text.find("\n", start + chunk_chars)
        end = len(text) if end < 0 else end + 1
        lines = _split_lines(text[start:end])
        if parser.feed(lines, line_number, samples):
            break
        line_number += len(lines) - 1
        start = end
        if start < len(text):
            await asyncio.sleep(0)
    return samples


def _split_lines(text: str) -> list[str]:
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    return text.split("\n")


class _Parser:
    """Parsing state carried across chunks: caches of label blocks and names already checked."""

    __slots__ = ("label_cache", "names")

    def __init__(self) -> None:
        self.label_cache: dict[str, Mapping[str, str]] = {}
        self.names: set[str] = set()

    def feed(self, lines: list[str], first_line_number: int, out: list[Sample]) -> bool:
        """Parse `lines` into `out`; True when an OpenMetrics `# EOF` ended the payload."""
        label_cache = self.label_cache
        names = self.names
        append = out.append
        make = _new_tuple
        for offset, line in enumerate(lines):
            # Fast path for `name{labels} value` with labels and name seen before: the
            # 150k-line dcgm payload took 405 ms through the general path alone, 330 ms with it.
            head, _, value = line.rpartition(" ")
            if head[-1:] == "}":
                brace = head.find("{")
                labels = label_cache.get(head[brace + 1 : -1])
                if labels is not None and brace > 0:
                    name = head[:brace]
                    if name in names:
                        try:
                            append(make(Sample, (name, labels, float(value), None)))
                            continue
                        except ValueError:
                            pass
            if self.parse_line(line, first_line_number + offset, out):
                return True
        return False

    def parse_line(self, line: str, line_number: int, out: list[Sample]) -> bool:
        """The general path for one line; True when it is the OpenMetrics `# EOF`."""
        line = line.strip()
        if not line:
            return False
        if line[0] == "#":
            return line == "# EOF"
        brace = line.find("{")
        if brace >= 0:
            name = line[:brace].rstrip()
            close = line.rfind("}")
            labels = self.label_cache.get(line[brace + 1 : close]) if close > brace else None
            if labels is None:
                labels, close = _parse_label_block(line, brace, line_number)
                self.label_cache[line[brace + 1 : close]] = labels
            rest = line[close + 1 :].split()
        else:
            rest = line.split()
            name = rest.pop(0)
            labels = NO_LABELS
        if name not in self.names:
            if not METRIC_NAME_RE.fullmatch(name):
                raise ParseError(line_number, "invalid metric name", line)
            self.names.add(name)
        value, timestamp = _value_and_timestamp(rest, line_number, line)
        out.append(Sample(name, labels, value, timestamp))
        return False


def _value_and_timestamp(
    fields: list[str], line_number: int, line: str
) -> tuple[float, float | None]:
    # OpenMetrics exemplar: `value [timestamp] # {labels} value [timestamp]`.
    if len(fields) > 2 and "#" in fields:
        fields = fields[: fields.index("#")]
    if not fields:
        raise ParseError(line_number, "missing value", line)
    if len(fields) > 2:
        raise ParseError(line_number, "expected 'value [timestamp]' after the metric", line)
    try:
        value = float(fields[0])
    except ValueError:
        raise ParseError(line_number, "value is not a number", line) from None
    try:
        return value, float(fields[1]) if len(fields) == 2 else None
    except ValueError:
        raise ParseError(line_number, "timestamp is not a number", line) from None


def _parse_label_block(line: str, brace: int, line_number: int) -> tuple[Mapping[str, str], int]:
    """Labels of the block opening at `brace`, and the index of its closing brace."""
    labels: dict[str, str] = {}
    position = brace + 1
    while True:
        match = _LABEL_PAIR_RE.match(line, position)
        if match is None:
            close = _skip_blanks(line, position)
            if close < len(line) and line[close] == "}":
                return MappingProxyType(labels), close
            if close >= len(line) or "}" not in line[position:]:
                raise ParseError(line_number, "label block not closed with '}'", line)
            raise ParseError(line_number, "malformed labels", line)
        key, value = match.group(1), match.group(2)
        if key in labels:
            raise ParseError(line_number, f"duplicate label {key!r}", line)
        labels[key] = _unescape(value) if "\\" in value else value
        position = match.end()
        if position < len(line) and line[position] == ",":
            position += 1
        elif position < len(line) and line[position] != "}":
            raise ParseError(line_number, "expected ',' between labels", line)


def parse_label_block(block: str) -> Mapping[str, str] | None:
    """The labels of `block` (the text between a sample's braces, braces excluded), exactly
    as parse_samples reads them; None when it is not a whole, well-formed label block."""
    line = "{" + block + "}"
    try:
        labels, close = _parse_label_block(line, 0, 0)
    except ParseError:
        return None
    return labels if close == len(line) - 1 else None


def _skip_blanks(line: str, position: int) -> int:
    while position < len(line) and line[position] in " \t":
        position += 1
    return position


def _unescape(value: str) -> str:
    """Label value escapes: \\\\, \\" and \\n; any other backslash stays as written."""
    return _ESCAPE_RE.sub(lambda m: _UNESCAPE.get(m.group(1), m.group(0)), value)


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def format_sample(sample: Sample) -> str:
    """One exposition line for `sample` (no trailing newline)."""
    text = sample.name
    if sample.labels:
        pairs = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in sample.labels.items())
        text += "{" + pairs + "}"
    text += " " + format_value(sample.value)
    if sample.timestamp_ms is not None:
        text += " " + format_value(sample.timestamp_ms)
    return text


def render(
    samples: Iterable[Sample],
    help_text: Mapping[str, str] | None = None,
    types: Mapping[str, str] | None = None,
) -> str:
    """Exposition text for `samples`, with HELP/TYPE lines before each metric's first sample."""
    help_text = help_text or {}
    types = types or {}
    lines: list[str] = []
    announced: set[str] = set()
    for sample in samples:
        if sample.name not in announced:
            announced.add(sample.name)
            if sample.name in help_text:
                doc = help_text[sample.name].replace("\\", "\\\\").replace("\n", "\\n")
                lines.append(f"# HELP {sample.name} {doc}")
            if sample.name in types:
                lines.append(f"# TYPE {sample.name} {types[sample.name]}")
        lines.append(format_sample(sample))
    return "\n".join(lines) + "\n" if lines else ""
