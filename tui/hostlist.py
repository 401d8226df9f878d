"""Slurm hostlist expressions, written as Slurm writes them: gpu-01..04 and 07 -> `gpu-[01-04,07]`.

`compress_hostlist` matches `scontrol show hostlistsorted` (the form squeue prints a job's
nodes in): names sorted by prefix, digit count, then number; a range only joins numbers
printed at the same zero-padded width (`n1` and `n01` stay apart; `gpu-99` and `gpu-100` join).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_NUMBERED = re.compile(r"^(.*?)(\d+)$")


@dataclass(slots=True)
class _Range:
    low: int
    high: int
    width: int

    def takes(self, number: int, digits: str) -> bool:
        return number == self.high + 1 and f"{number:0{self.width}d}" == digits

    def text(self) -> str:
        low = f"{self.low:0{self.width}d}"
        return low if self.low == self.high else f"{low}-{self.high:0{self.width}d}"


def _sort_key(name: str) -> tuple[str, int, int, str]:
    """Slurm's order: `gpu-[87,028,107]`, so `gpu-99` and `gpu-100` stay neighbours."""
    match = _NUMBERED.match(name)
    if match is None:
        return (name, -1, 0, name)
    prefix, digits = match.groups()
    return (prefix, len(digits), int(digits), name)


def compress_hostlist(names: Iterable[str]) -> str:
    """Node names -> one Slurm hostlist expression, sorted, duplicates dropped; '' for none."""
    groups: list[tuple[str, list[_Range]]] = []
    for name in sorted(set(names), key=_sort_key):
        match = _NUMBERED.match(name)
        if match is None:
            groups.append((name, []))
            continue
        prefix, digits = match.groups()
        number = int(digits)
        if groups and groups[-1][1] and groups[-1][0] == prefix:
            ranges = groups[-1][1]
            if ranges[-1].takes(number, digits):
                ranges[-1].high = number
            else:
                ranges.append(_Range(number, number, len(digits)))
        else:
            groups.append((prefix, [_Range(number, number, len(digits))]))
    parts: list[str] = []
    for prefix, ranges in groups:
        if not ranges:
            parts.append(prefix)
        elif len(ranges) == 1 and ranges[0].low == ranges[0].high:
            parts.append(prefix + ranges[0].text())
        else:
            parts.append(f"{prefix}[{','.join(r.text() for r in ranges)}]")
    return ",".join(parts)


def parse_index_set(text: str) -> tuple[int, ...] | None:
    """'[1-3,7%2]', '5' or '1-3' -> sorted unique numbers; None when it is not one."""
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    body = body.split("%", 1)[0]  # squeue's array throttle: `[1-20%4]`
    numbers: set[int] = set()
    for part in body.split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            return None
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            return None
        numbers.update(range(first, last + 1))
    return tuple(sorted(numbers))


def compress_indices(numbers: Iterable[int]) -> str:
    """[1, 2, 3, 7] -> '1-3,7'."""
    ranges: list[list[int]] = []
    for number in sorted(set(numbers)):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
