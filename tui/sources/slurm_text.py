"""Parse `scontrol show node -o -d` and `scontrol show job -d -o` into the model.

One record per line, `Key=Value` pairs separated by spaces. Values can hold spaces
(Reason=bad fan [root@...], OS=Linux 6.1 #1 SMP, JobName=my run), so a pair only starts
where a space is followed by a Key= of scontrol's spelling. The job's `-d` detail repeats
`Nodes=... GRES=gpu:a100:2(IDX:0-1)` once per node group, so pairs are kept in order.
Times are read as epoch seconds: the source runs scontrol with SLURM_TIME_FORMAT=%s.

What differs between 22.05 and 23.11 (both are read):
- jobs: 22.05 prints one `TRES=`; 23.11 prints `ReqTRES=` and `AllocTRES=` (`(null)` while
  pending). Per-node requests read `gres:gpu:8` in 22.05 and `gres/gpu:8` in 23.11, and
  23.11 adds `TresPerJob=` (--gpus) and `TresPerTask=` (--gpus-per-task) lines.
- nodes: 23.11 adds `ResumeAfterTime=`, and after the reason `InstanceId=`, `InstanceType=`
  and `ReservationName=`; GPUs without a gres.conf Type= print as `gpu:(null):3(IDX:0-2)`.
Output that is not records of this shape (garbage, a cut-off line) is a SourceError.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache, partial
from typing import TypeVar

from tui.actions import NODE_NAME_RE
from tui.model import EMPTY_MAPPING, Job, JobState, Node, NodeBaseState
from tui.sources.base import SourceError
from tui.sources.slurm_fields import (
    ACTIVE_JOB_STATES,
    HOLD_REASONS,
    clean,
    collect_yielding,
    epoch_or_none,
    expand_hostlist,
    gpu_count,
    gpu_indices,
    gpu_model,
    gpus_from_tres_counts,
    gpus_per_request,
    gpus_requested,
    job_id,
    job_state,
    node_count,
    node_state,
    parse_each,
    parse_time_limit,
    per_node_gpus,
)

# A key: starts upper case; scontrol uses letters, digits, _, /, : (AllocNode:Sid, CPUs/Task).
_KEY = r"[A-Z][A-Za-z0-9_/:]*"
# A value runs to the next space that is followed by a key (values may hold spaces).
_VALUE = rf"\S*(?:\s+(?!{_KEY}=)\S+)*"
# _VALUE for lines whose only whitespace is spaces; possessive (see _keys_re).
_SPACED_VALUE = rf"[^ ]*+(?: ++(?!{_KEY}=)[^ ]++)*+"
# One findall does the whole line: 3x faster than splitting then matching (42 vs 120 us/job).
_PAIR_RE = re.compile(rf"(?:^|\s)({_KEY})=({_VALUE})")
# Keys slurm_sprint_node_table may print after the reason (23.11).
_AFTER_REASON = r"(?:Comment|Extra|InstanceId|InstanceType|ReservationName)="
# The reason is free text (anything, "Key=value" and "[a@b]" included); Slurm appends one
# " [user@time]" to it. That stamp is the one followed by the end or a key printed after it.
_REASON_RE = re.compile(
    rf"(?:^|\s)Reason=(?P<text>.*?)(?: \[[^\]]*@[^\]]*\])?(?=\s*$|\s+{_AFTER_REASON})"
)
T = TypeVar("T")
_USER_RE = re.compile(r"^(.*?)\(\d+\)$")
# JobName may contain spaces and '='; 23.11 may print HetJobIdSet= between it and UserId=.
_JOB_NAME_RE = re.compile(r"(?:^|\s)JobName=(.*?) (?:HetJobIdSet=\S* )?UserId=")
# Keys every record prints, the last one included: a line without them was cut off.
NODE_KEYS = ("NodeName", "State", "CPUTot", "RealMemory", "ExtSensorsTemp")
JOB_KEYS = ("JobId", "JobName", "UserId", "JobState", "Partition", "Power")
# The keys the model is built from. Matching only these (behind a literal space) instead of
# every pair is 2.5x faster; lines holding other whitespace than spaces take the general path.
NODE_FIELDS = (*NODE_KEYS, "CPUAlloc", "AllocMem", "Gres", "GresUsed", "Partitions")
JOB_FIELDS = (
    *JOB_KEYS,
    *("HetJobId", "HetJobOffset", "ArrayJobId", "ArrayTaskId", "Account", "Reason", "Priority"),
    *("SubmitTime", "StartTime", "TimeLimit", "NodeList", "NumNodes", "NumTasks", "TRES"),
    *("ReqTRES", "AllocTRES", "TresPerJob", "TresPerNode", "TresPerTask", "Nodes", "GRES"),
    *("StdOut", "StdErr"),
)
NODES_COMMAND = "scontrol show node"
JOBS_COMMAND = "scontrol show job"
NO_NODES = "No nodes in the system"
NO_JOBS = "No jobs in the system"


def pairs(line: str) -> list[tuple[str, str]]:
    """'A=1 B=two words C=3' -> [('A', '1'), ('B', 'two words'), ('C', '3')]."""
    return _PAIR_RE.findall(line)


def _alternation(keys: list[str]) -> str:
    """Keys as a regex trie, 'Job(?:Id|Name)': sre tries alternatives one by one, a trie
    rejects a non-key after one or two characters (15% faster on job lines)."""
    by_first: dict[str, list[str]] = {}
    for key in keys:
        if key:
            by_first.setdefault(key[0], []).append(key[1:])
    branches = [re.escape(first) + _alternation(rest) for first, rest in by_first.items()]
    if "" in keys:
        branches.append("")
    return branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"


def _keys_re(keys: tuple[str, ...]) -> re.Pattern[str]:
    """The named keys' pairs, for lines whose only whitespace is spaces (see _pair_reader).

    The quantifiers are possessive: nothing follows the value, so giving characters back
    never finds another match, and not keeping the places to give back from halves the time
    (28 vs 14 us a 23.11 job line).
    """
    return re.compile(rf" ({_alternation(sorted(set(keys)))})=({_SPACED_VALUE})")


_NODE_FIELDS_RE = _keys_re(NODE_FIELDS)
_JOB_FIELDS_RE = _keys_re(JOB_FIELDS)
# A job line's first pair, which _JOB_FIELDS_RE (a key behind a space) cannot see.
_JOB_ID_RE = re.compile(rf"JobId=({_SPACED_VALUE})")
# ASCII whitespace other than the space.
_OTHER_SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"
_NOT_PLAIN = _OTHER_SPACES.replace("\n", "")


def _pair_reader(keys_re: re.Pattern[str]) -> Callable[[str], list[tuple[str, str]]]:
    """pairs(), keeping only the keys keys_re names: the same values, in the same order.

    Other whitespace than spaces (or non-ASCII text, which has whitespace of its own) sends a
    line to pairs() itself.
    """

    def read(line: str) -> list[tuple[str, str]]:
        if not line.isascii() or any(space in line for space in _OTHER_SPACES):
            return pairs(line)
        return keys_re.findall(" " + line)

    return read


_node_pairs = _pair_reader(_NODE_FIELDS_RE)
_job_pairs = _pair_reader(_JOB_FIELDS_RE)


def _lines(text: str, piece: int = 1 << 18) -> Iterator[str]:
    """text.splitlines(), split a piece at a time so no one call holds the loop for long.

    Pieces end just after a newline, which never parts a CR-LF pair: the lines are the same.
    """
    start = 0
    while start < len(text):
        end = text.find("\n", start + piece)
        end = len(text) if end < 0 else end + 1
        yield from text[start:end].splitlines()
        start = end


def _plain(text: str) -> bool:
    """Whether text is ASCII, its lines end with a newline alone and hold no other whitespace
    than spaces: then its lines are text.split("\\n") and can be read in place."""
    return text.isascii() and not any(space in text for space in _NOT_PLAIN)


def _record_spans(text: str, prefix: str, command: str, empty: str) -> Iterator[tuple[int, int]]:
    """_records() of plain text (_plain), as (start, end) of each line in text.

    Reading lines where they are saves a copy or two of each line: 3% of a job output's
    parse, counted in instructions.
    """
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start)
        if end < 0:
            end = size
        if not text.startswith(prefix, start, end):
            line = text[start:end]
            if line.strip() not in ("", empty):
                raise SourceError(f"{command}: unexpected output: {_excerpt(line)}")
        else:
            yield start, end
        start = end + 1


def _records(text: str, prefix: str, command: str, empty: str) -> Iterator[str]:
    """Record lines; anything else in the output is a SourceError naming the command."""
    for line in _lines(text):
        if line.startswith(prefix):
            yield line
        elif line.strip() not in ("", empty):
            raise SourceError(f"{command}: unexpected output: {_excerpt(line)}")


def _excerpt(line: str) -> str:
    text = " ".join(line.split())
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _require(fields: dict[str, str], keys: tuple[str, ...], command: str, line: str) -> None:
    missing = [key for key in keys if key not in fields]
    if missing:
        raise SourceError(
            f"{command}: cut-off or unknown record (no {', '.join(missing)}=): {_excerpt(line)}"
        )


def _int(value: str | None) -> int:
    try:
        return int(clean(value) or 0)
    except ValueError:
        return 0


def _priority(value: str | None) -> int | None:
    text = clean(value)
    return int(text) if text.isdigit() else None


def _identity(function: Callable[..., T]) -> Callable[..., T]:
    return function


class NodeReader:
    """Turns `scontrol show node` lines into Nodes.

    fast=True reads only the keys the model uses and remembers each value it parsed for the
    rest of the output (nodes repeat the same Gres, state and partitions); fast=False is the
    general reader, kept as the reference the fast one is checked against.
    """

    def __init__(self, fast: bool = True) -> None:
        memo = cache if fast else _identity
        self._pairs = _node_pairs if fast else pairs
        self._state = memo(_node_state)
        self._partitions = memo(_partitions)
        self._gpu_count = memo(gpu_count)
        self._gpu_model = memo(gpu_model)

    def node(self, line: str) -> Node:
        reason_match = _REASON_RE.search(line) if "Reason=" in line else None
        reason = ""
        if reason_match:
            reason = clean(reason_match.group("text"))
            line = line[: reason_match.start()] + line[reason_match.end() :]
        fields = dict(self._pairs(line))
        _require(fields, NODE_KEYS, NODES_COMMAND, line)
        name = fields["NodeName"]
        if not NODE_NAME_RE.match(name):
            raise SourceError(f"{NODES_COMMAND}: bad node name {name!r}")
        base, flags = self._state(fields["State"])
        gres = fields.get("Gres")
        return Node(
            name=name,
            state=base,
            flags=flags,
            reason=reason,
            partitions=self._partitions(fields.get("Partitions")),
            cpus_total=_int(fields.get("CPUTot")),
            cpus_alloc=_int(fields.get("CPUAlloc")),
            mem_total_mb=_int(fields.get("RealMemory")),
            mem_alloc_mb=_int(fields.get("AllocMem")),
            gpus_total=self._gpu_count(gres),
            gpus_alloc=self._gpu_count(fields.get("GresUsed")),
            gpu_model=self._gpu_model(gres),
        )


def _node_state(text: str) -> tuple[NodeBaseState, frozenset[str]]:
    return node_state(text.split("+"))


def _partitions(text: str | None) -> tuple[str, ...]:
    return tuple(p for p in clean(text).split(",") if p)


def parse_node_line(line: str) -> Node:
    return NodeReader().node(line)


def _each_node(text: str, fast: bool) -> Iterator[Node]:
    lines = _records(text, "NodeName=", NODES_COMMAND, NO_NODES)
    return parse_each(lines, NodeReader(fast).node, "node")


def parse_nodes(text: str, fast: bool = True) -> tuple[Node, ...]:
    """Nodes from `scontrol show node -o -d` (one line per node)."""
    return tuple(_each_node(text, fast))


async def parse_nodes_yielding(text: str) -> tuple[Node, ...]:
    """parse_nodes() on the event loop, letting it run other work every few milliseconds."""
    return tuple(await collect_yielding(_each_node(text, True)))


def _job_name(line: str) -> str | None:
    match = _JOB_NAME_RE.search(line)
    return match.group(1) if match else None


def _job_id(fields: dict[str, str]) -> str:
    job = fields["JobId"]
    if not job.isdigit():
        raise SourceError(f"{JOBS_COMMAND}: bad job id {job!r}")
    het_job, het_offset = fields.get("HetJobId", ""), fields.get("HetJobOffset", "")
    if het_job.isdigit() and het_offset.isdigit():
        return f"{het_job}+{het_offset}"
    array_task = clean(fields.get("ArrayTaskId")) or None
    return job_id(job, _int(fields.get("ArrayJobId")), array_task)


def _user_name(text: str) -> str:
    match = _USER_RE.match(text)
    return match.group(1) if match else text


def _job_state(text: str) -> JobState:
    return job_state([text])


class JobReader:
    """Turns `scontrol show job` lines into Jobs; fast and reference readers as NodeReader's.

    Jobs share most values (node lists, GRES, TRES, times, limits, users), so the fast
    reader parses each distinct one once per output.
    """

    def __init__(self, fast: bool = True) -> None:
        self.job: Callable[[str], Job] = self._fast_job if fast else _reference_job
        self._state = cache(_job_state)
        self._hostlist = cache(expand_hostlist)
        self._indices = cache(gpu_indices)
        self._per_request = cache(gpus_per_request)
        self._tres_gpus = cache(gpus_from_tres_counts)
        self._requested = cache(_gpus_requested)
        self._time_limit = cache(parse_time_limit)
        self._user = cache(_user_name)
        self._text = cache(clean)
        self._int = cache(_int)
        self._node_count = cache(node_count)
        self._priority = cache(_priority)
        self._epoch = cache(epoch_or_none)  # jobs submitted or started in the same second

    def _fast_job(self, line: str) -> Job:
        return self._job(line, 0, len(line), _job_pairs(line))

    def job_at(self, span: tuple[int, int], text: str) -> Job:
        """job() of the line text[start:end] of plain text (_plain), read in place."""
        start, end = span
        ordered = _JOB_FIELDS_RE.findall(text, start, end)  # all but the first pair
        first = _JOB_ID_RE.match(text, start, end)
        if first:
            ordered.insert(0, ("JobId", first.group(1)))
        return self._job(text, start, end, ordered)

    def _job(self, text: str, start: int, end: int, ordered: list[tuple[str, str]]) -> Job:
        """The job on text[start:end], from its pairs."""
        fields = dict(ordered)
        if not fields.keys() >= _REQUIRED_JOB_KEYS:
            _require(fields, JOB_KEYS, JOBS_COMMAND, text[start:end])
        get = fields.get
        state = self._state(fields["JobState"])
        pending = state is JobState.PENDING
        nodes = () if pending else self._hostlist(get("NodeList"))
        indices = self._node_gpus(nodes, ordered) if "GRES" in fields else EMPTY_MAPPING
        reason = self._text(get("Reason"))
        per_node = get("TresPerNode")
        gpus_per_node = self._per_request(per_node)
        if not gpus_per_node and nodes:
            gpus_per_node = self._tres_gpus(get("AllocTRES") or get("TRES")) // len(nodes)
        priority = get("Priority")
        return Job(
            job_id=_fast_job_id(fields),
            name=_fast_job_name(fields, text, start, end),
            user=self._user(get("UserId", "")),
            account=self._text(get("Account")),
            partition=self._text(get("Partition")),
            state=state,
            reason=reason,
            nodes=nodes,
            gpu_indices=indices,
            gpus_per_node=gpus_per_node,
            gpus_requested=self._requested(
                get("ReqTRES") or get("TRES"),
                get("TresPerJob"),
                per_node,
                get("TresPerTask"),
                len(nodes) or self._node_count(get("NumNodes")),
                self._int(get("NumTasks")),
            ),
            submit_time=self._epoch(get("SubmitTime")),
            start_time=None if pending else self._epoch(get("StartTime")),
            time_limit_min=self._time_limit(get("TimeLimit")),
            held=pending and (reason in HOLD_REASONS or priority == "0"),
            priority=self._priority(priority),
            stdout=clean(get("StdOut")),
            stderr=clean(get("StdErr")),
        )

    def _node_gpus(
        self, nodes: tuple[str, ...], ordered: list[tuple[str, str]]
    ) -> Mapping[str, tuple[int, ...]]:
        """GPU indices per node from the -d detail's `Nodes=... GRES=...` groups."""
        details: list[tuple[tuple[str, ...], str]] = []
        group: tuple[str, ...] = ()
        for key, value in ordered:
            if key == "Nodes":
                group = self._hostlist(value)
            elif key == "GRES" and group:
                details.append((group, value))
        return per_node_gpus(nodes, details, self._indices)


_REQUIRED_JOB_KEYS = frozenset(JOB_KEYS)


def _fast_job_id(fields: dict[str, str]) -> str:
    """_job_id(), without its work for the plain job most lines are."""
    job = fields["JobId"]
    if "HetJobId" in fields or "ArrayJobId" in fields or not job.isdigit():
        return _job_id(fields)
    return job


def _fast_job_name(fields: dict[str, str], text: str, start: int, end: int) -> str:
    """_job_name() of text[start:end], without a search when it starts
    `JobId=N JobName=... UserId=`.

    The name read as a pair holds no ` Key=`, so it holds no ` UserId=` (nor
    ` HetJobIdSet=`) that the search could stop at sooner: both give the same name.
    """
    name = fields.get("JobName")
    if name is not None:
        prefix = f"JobId={fields['JobId']} JobName={name} UserId="
        if text.startswith(prefix, start, end):
            return clean(name)
    found = _job_name(text[start:end])
    return clean(found if found is not None else name)


def _gpus_requested(
    req_tres: str | None,
    per_job: str | None,
    per_node: str | None,
    per_task: str | None,
    nodes: int,
    tasks: int,
) -> int:
    return gpus_requested(
        req_tres=req_tres,
        per_job=per_job,
        per_node=per_node,
        per_task=per_task,
        nodes=nodes,
        tasks=tasks,
    )


def _reference_job(line: str) -> Job:
    """The general reader: every pair of the line, each value parsed as it comes."""
    ordered = pairs(line)
    fields = dict(ordered)
    _require(fields, JOB_KEYS, JOBS_COMMAND, line)
    state = _job_state(fields["JobState"])
    nodes = () if state is JobState.PENDING else expand_hostlist(fields.get("NodeList"))
    details: list[tuple[tuple[str, ...], str]] = []
    if "GRES" in fields:
        group: tuple[str, ...] = ()
        for key, value in ordered:
            if key == "Nodes":
                group = expand_hostlist(value)
            elif key == "GRES" and group:
                details.append((group, value))
    reason = clean(fields.get("Reason"))
    per_node = fields.get("TresPerNode")
    gpus_per_node = gpus_per_request(per_node)
    if not gpus_per_node and nodes:
        alloc_tres = fields.get("AllocTRES") or fields.get("TRES")
        gpus_per_node = gpus_from_tres_counts(alloc_tres) // len(nodes)
    name = _job_name(line)
    return Job(
        job_id=_job_id(fields),
        name=clean(name if name is not None else fields.get("JobName")),
        user=_user_name(fields.get("UserId", "")),
        account=clean(fields.get("Account")),
        partition=clean(fields.get("Partition")),
        state=state,
        reason=reason,
        nodes=nodes,
        gpu_indices=per_node_gpus(nodes, details, gpu_indices),
        gpus_per_node=gpus_per_node,
        gpus_requested=gpus_requested(
            req_tres=fields.get("ReqTRES") or fields.get("TRES"),
            per_job=fields.get("TresPerJob"),
            per_node=per_node,
            per_task=fields.get("TresPerTask"),
            nodes=len(nodes) or node_count(fields.get("NumNodes")),
            tasks=_int(fields.get("NumTasks")),
        ),
        submit_time=epoch_or_none(fields.get("SubmitTime")),
        start_time=None if state is JobState.PENDING else epoch_or_none(fields.get("StartTime")),
        time_limit_min=parse_time_limit(fields.get("TimeLimit")),
        held=state is JobState.PENDING
        and (reason in HOLD_REASONS or fields.get("Priority") == "0"),
        priority=_priority(fields.get("Priority")),
        stdout=clean(fields.get("StdOut")),
        stderr=clean(fields.get("StdErr")),
    )


def parse_job_line(line: str) -> Job:
    return JobReader().job(line)


def _each_job(text: str, fast: bool) -> Iterator[Job]:
    reader = JobReader(fast)
    if fast and _plain(text):
        spans = _record_spans(text, "JobId=", JOBS_COMMAND, NO_JOBS)
        return parse_each(spans, partial(reader.job_at, text=text), "job")
    lines = _records(text, "JobId=", JOBS_COMMAND, NO_JOBS)
    return parse_each(lines, reader.job, "job")


def _shown(jobs: Iterable[Job], include_finished: bool) -> tuple[Job, ...]:
    return tuple(j for j in jobs if include_finished or j.state in ACTIVE_JOB_STATES)


def parse_jobs(text: str, include_finished: bool = False, fast: bool = True) -> tuple[Job, ...]:
    """Jobs from `scontrol show job -d -o` (one line per job); finished ones only when asked."""
    return _shown(_each_job(text, fast), include_finished)


async def parse_jobs_yielding(text: str, include_finished: bool = False) -> tuple[Job, ...]:
    """parse_jobs() on the event loop, letting it run other work every few milliseconds."""
    return _shown(await collect_yielding(_each_job(text, True)), include_finished)
