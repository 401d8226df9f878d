"""Slurm's small value languages, shared by the JSON and text parsers.

Hostlists (gpu-[01-03,05]), GRES strings (gpu:a100:8(S:0-1), gpu:a100:2(IDX:0-1)),
time limits (1-02:00:00, UNLIMITED), node states (IDLE+DRAIN, or "idle" plus flags)
and the rules that turn raw fields into model objects.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from types import MappingProxyType
from typing import TypeVar

from loguru import logger

from tui.model import JobState, Node, NodeBaseState
from tui.text import one_line

T = TypeVar("T")
R = TypeVar("R")

# How long a parse on the event loop runs before letting other work in (collect_yielding).
YIELD_EVERY_S = 0.004
# Values Slurm prints for "nothing here".
NULL_VALUES = frozenset({"", "(null)", "N/A", "n/a", "None", "none", "Unknown", "(none)"})
HOLD_REASONS = frozenset({"JobHeldUser", "JobHeldAdmin"})
# States squeue lists by default; finished jobs linger in slurmctld for MinJobAge only.
ACTIVE_JOB_STATES = frozenset(
    {
        JobState.PENDING,
        JobState.RUNNING,
        JobState.SUSPENDED,
        JobState.COMPLETING,
        JobState.CONFIGURING,
        JobState.REQUEUED,
    }
)
# Job state flags that squeue shows instead of the base state.
JOB_STATE_OVERRIDES = ("COMPLETING", "CONFIGURING", "REQUEUED")

# One TRES count, as in ReqTRES/AllocTRES: gres/gpu=16 or gres/gpu:h100=16.
_TRES_COUNT_GPU_RE = re.compile(r"(?:^|,)gres/gpu(?P<typed>:[^,=]+)?=(?P<count>\d+)")


def clean(value: object) -> str:
    """A Slurm string field with its 'no value' spellings turned into ''."""
    if value is None:
        return ""
    text = str(value).strip()
    return "" if text in NULL_VALUES else text


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside [] and () (hostlists and GRES extras contain commas)."""
    if sep not in text:
        return [text.strip()] if text.strip() else []
    if "[" not in text and "(" not in text:
        return [p.strip() for p in text.split(sep) if p.strip()]
    parts: list[str] = []
    depth = 0
    start = 0
    for i, char in enumerate(text):
        if char in "[(":
            depth += 1
        elif char in "])":
            depth = max(0, depth - 1)
        elif char == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def expand_ranges(spec: str) -> list[str]:
    """'01-03,05' -> ['01', '02', '03', '05'], keeping zero padding."""
    values: list[str] = []
    for part in spec.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdecimal() or (dash and not high.isdecimal()):
            raise ValueError(f"bad range {part!r}")
        if not dash:
            values.append(low)
            continue
        width = len(low) if low.startswith("0") or len(low) == len(high) else 0
        values.extend(str(n).zfill(width) for n in range(int(low), int(high) + 1))
    return values


def _expand_one(pattern: str) -> Iterator[str]:
    pieces: list[list[str]] = []
    rest = pattern
    while "[" in rest:
        head, _, tail = rest.partition("[")
        spec, closed, rest = tail.partition("]")
        if not closed:
            raise ValueError(f"unbalanced bracket in hostlist {pattern!r}")
        pieces += [[head], expand_ranges(spec)]
    pieces.append([rest])
    for combo in product(*pieces):
        yield "".join(combo)


def expand_hostlist(hostlist: str | Sequence[str] | None) -> tuple[str, ...]:
    """'gpu-[01-03,05],cpu-1' -> ('gpu-01', 'gpu-02', 'gpu-03', 'gpu-05', 'cpu-1')."""
    if hostlist is None:
        return ()
    if not isinstance(hostlist, str):
        return tuple(name for item in hostlist for name in expand_hostlist(item))
    text = clean(hostlist)
    if not text:
        return ()
    if "[" not in text:
        return tuple(name.strip() for name in text.split(",") if name.strip())
    return tuple(name for part in split_top_level(text) for name in _expand_one(part))


def parse_index_list(spec: str) -> tuple[int, ...]:
    """'0-1,4' -> (0, 1, 4); 'N/A' -> ()."""
    if clean(spec) == "":
        return ()
    return tuple(int(v) for v in expand_ranges(spec))


@dataclass(frozen=True, slots=True)
class GresEntry:
    name: str
    type: str
    count: int
    indices: tuple[int, ...] | None  # from (IDX:...), None when not given


def parse_gres(text: str | None) -> list[GresEntry]:
    """'gpu:a100:8(S:0-1),gpu:h100:2(IDX:0-1)' -> entries. Unparseable parts are skipped."""
    entries = (_gres_entry(part) for part in split_top_level(clean(text)))
    return [entry for entry in entries if entry is not None]


def _gres_entry(part: str) -> GresEntry | None:
    # String methods, not a regex: 8.5 vs 13 us an entry, for every node group of every job.
    # The type may be Slurm's "(null)" (gres.conf without Type=): gpu:(null):3(IDX:0-2).
    body, paren, extra = part.replace("(null)", "").partition("(")
    if paren:
        if not extra.endswith(")") or "(" in extra or ")" in extra[:-1]:
            return None
        extra = extra[:-1]
    elif ")" in body:
        return None
    fields = body.split(":")
    if fields[0].startswith("gres/"):
        fields[0] = fields[0][5:]
    count = 1
    if len(fields) > 1 and fields[-1].isdecimal():
        count = int(fields.pop())
    indices = None
    if extra.startswith("IDX:"):
        try:
            indices = parse_index_list(extra[4:])
        except ValueError:
            indices = None
    return GresEntry(fields[0], clean(":".join(fields[1:])), count, indices)


def gpu_entries(text: str | None) -> list[GresEntry]:
    return [e for e in parse_gres(text) if e.name == "gpu"]


def gpu_count(text: str | None) -> int:
    return sum(e.count for e in gpu_entries(text))


def gpu_model(text: str | None) -> str:
    return next((e.type for e in gpu_entries(text) if e.type), "")


def gpu_indices(text: str | None) -> tuple[int, ...]:
    found: list[int] = []
    for entry in gpu_entries(text):
        found.extend(entry.indices or ())
    return tuple(sorted(set(found)))


def gpus_per_request(text: str | None) -> int:
    """GPUs in a TresPerJob/TresPerNode/TresPerTask value; 0 when none are asked for.

    23.11 writes 'gres/gpu:8', 'gres/gpu:h100:8' or plain 'gres/gpu' (one); 22.05 wrote
    'gres:gpu:8'. Several types in one request add up ('gres/gpu:a100:2,gres/gpu:h100:2').
    """
    total = 0
    for part in split_top_level(clean(text)):
        body = part.removeprefix("gres/").removeprefix("gres:")
        fields = body.split(":")
        if fields[0] != "gpu":
            continue
        total += int(fields[-1]) if len(fields) > 1 and fields[-1].isdigit() else 1
    return total


def gpus_from_tres_counts(text: str | None) -> int:
    """GPUs in a ReqTRES/AllocTRES list ('cpu=4,...,gres/gpu=16,gres/gpu:h100=16' -> 16).

    With typed GPUs tracked in AccountingStorageTRES, Slurm lists the same GPUs twice: the
    untyped total and one entry per type. The total wins; typed entries add up without it.
    """
    untyped = typed = 0
    for match in _TRES_COUNT_GPU_RE.finditer(clean(text)):
        if match.group("typed"):
            typed += int(match.group("count"))
        else:
            untyped += int(match.group("count"))
    return untyped or typed


def node_count(text: str | None) -> int:
    """NumNodes as scontrol prints it: '4', or '4-4' / '2-8' (min-max) for a pending job."""
    value = clean(text).partition("-")[0].partition(":")[0]
    return int(value) if value.isdigit() else 0


def gpus_requested(
    *,
    req_tres: str | None,
    per_job: str | None,
    per_node: str | None,
    per_task: str | None,
    nodes: int,
    tasks: int,
) -> int:
    """All the GPUs a job asked for: ReqTRES when accounting tracks gres/gpu, else its requests."""
    from_tres = gpus_from_tres_counts(req_tres)
    if from_tres:
        return from_tres
    return (
        gpus_per_request(per_job)
        + gpus_per_request(per_node) * max(nodes, 1)
        + gpus_per_request(per_task) * max(tasks, 1)
    )


def parse_time_limit(text: str | None) -> int | None:
    """'1-02:30:00' -> 1590 minutes; 'UNLIMITED' / 'INFINITE' / 'N/A' -> None."""
    value = clean(text)
    if not value or value.upper() in ("UNLIMITED", "INFINITE", "NOT_SET"):
        return None
    days = 0
    try:
        if "-" in value:
            day_text, _, value = value.partition("-")
            days = int(day_text)
        parts = [int(p) for p in value.split(":")]
    except ValueError:
        return None
    if len(parts) == 3:
        hours, minutes, seconds = parts
    elif len(parts) == 2:
        hours, minutes, seconds = 0, parts[0], parts[1]
    else:
        hours, minutes, seconds = 0, parts[0], 0
    return days * 1440 + hours * 60 + minutes + (1 if seconds else 0)


def node_state(words: Iterable[str]) -> tuple[NodeBaseState, frozenset[str]]:
    """['IDLE', 'DRAIN'] (or 'idle' + flags) -> base state and the remaining flags."""
    base = NodeBaseState.UNKNOWN
    flags: set[str] = set()
    seen_base = False
    for word in words:
        token = word.strip().upper().rstrip("*~#!%$@^-")
        if not token:
            continue
        if not seen_base and token in NodeBaseState.__members__:
            base, seen_base = NodeBaseState[token], True
        elif token == "NO_RESPOND":
            flags.add("NOT_RESPONDING")
        elif token == "MAINT":
            flags.add("MAINTENANCE")
        else:
            flags.add(token)
    return base, frozenset(flags)


def job_state(words: Iterable[str]) -> JobState:
    """['RUNNING', 'COMPLETING'] -> COMPLETING (what squeue shows); unknown -> UNKNOWN."""
    tokens = [w.strip().upper() for w in words if w.strip()]
    for override in JOB_STATE_OVERRIDES:
        if override in tokens:
            return JobState(override)
    return JobState.parse(tokens[0]) if tokens else JobState.UNKNOWN


def job_id(job: str | int, array_job: int | None, array_task: str | int | None) -> str:
    """Job id as squeue prints it: 42, 42_3, or 42_[4-9] for the pending rest of an array."""
    if array_job and array_task not in (None, ""):
        task = str(array_task)
        if not task.isdigit() and not task.startswith("["):
            task = f"[{task}]"
        return f"{array_job}_{task}"
    return str(job)


def epoch_or_none(value: object) -> float | None:
    try:
        number = float(str(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def per_node_gpus(
    nodes: Sequence[str],
    details: Sequence[tuple[Sequence[str], str]],
    indices_of: Callable[[str], tuple[int, ...]] = gpu_indices,
) -> Mapping[str, tuple[int, ...]]:
    """node -> GPU indices, from (node names, GRES string) pairs; nodes without any are left out."""
    result: dict[str, tuple[int, ...]] = {}
    for names, gres in details:
        indices = indices_of(gres)
        if not indices:
            continue
        for name in names:
            if not nodes or name in nodes:
                result[name] = indices
    return MappingProxyType(result)


def parse_each(items: Iterable[T], parse: Callable[[T], R], what: str) -> Iterator[R]:
    """Parse records one by one; a record Slurm printed oddly is skipped with a warning."""
    for item in items:
        try:
            yield parse(item)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            logger.warning("skipping a {} record Slurm printed oddly: {}", what, one_line(error))


async def collect_yielding(items: Iterable[T], slice_s: float = YIELD_EVERY_S) -> list[T]:
    """list(items), giving the event loop back after each slice_s of work.

    For CPU-bound parsing in a process whose event loop also serves the UI: a worker thread
    would hold the GIL in 5 ms turns for the whole parse and slow every screen update twice
    over; here the loop waits for at most one slice.
    """
    collected: list[T] = []
    clock = time.perf_counter
    deadline = clock() + slice_s
    for count, item in enumerate(items, 1):
        collected.append(item)
        if count % 16 == 0 and clock() >= deadline:
            await asyncio.sleep(0)
            deadline = clock() + slice_s
    return collected


def merge_node_partitions(nodes: Iterable[Node]) -> tuple[Node, ...]:
    """Nodes seen once per partition (sinfo) become one node listing all its partitions."""
    merged: dict[str, Node] = {}
    for node in nodes:
        prior = merged.get(node.name)
        if prior is None:
            merged[node.name] = node
            continue
        partitions = prior.partitions + tuple(
            p for p in node.partitions if p not in prior.partitions
        )
        merged[node.name] = Node(
            name=prior.name,
            state=prior.state,
            flags=prior.flags,
            reason=prior.reason,
            partitions=partitions,
            cpus_total=prior.cpus_total,
            cpus_alloc=prior.cpus_alloc,
            mem_total_mb=prior.mem_total_mb,
            mem_alloc_mb=prior.mem_alloc_mb,
            gpus_total=prior.gpus_total,
            gpus_alloc=prior.gpus_alloc,
            gpu_model=prior.gpu_model,
        )
    return tuple(merged.values())
