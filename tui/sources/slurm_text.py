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
from collections.abc import Iterator

from tui.actions import NODE_NAME_RE
from tui.model import Job, JobState, Node
from tui.sources.base import SourceError
from tui.sources.slurm_fields import (
    ACTIVE_JOB_STATES,
    HOLD_REASONS,
    clean,
    epoch_or_none,
    expand_hostlist,
    gpu_count,
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
# One findall does the whole line: 3x faster than splitting then matching (42 vs 120 us/job).
_PAIR_RE = re.compile(r"(?:^|\s)([A-Z][A-Za-z0-9_/:]*)=(\S*(?:\s+(?![A-Z][A-Za-z0-9_/:]*=)\S+)*)")
# Keys slurm_sprint_node_table may print after the reason (23.11).
_AFTER_REASON = r"(?:Comment|Extra|InstanceId|InstanceType|ReservationName)="
# The reason is free text (anything, "Key=value" and "[a@b]" included); Slurm appends one
# " [user@time]" to it. That stamp is the one followed by the end or a key printed after it.
_REASON_RE = re.compile(
    rf"(?:^|\s)Reason=(?P<text>.*?)(?: \[[^\]]*@[^\]]*\])?(?=\s*$|\s+{_AFTER_REASON})"
)
_USER_RE = re.compile(r"^(.*?)\(\d+\)$")
# JobName may contain spaces and '='; 23.11 may print HetJobIdSet= between it and UserId=.
_JOB_NAME_RE = re.compile(r"(?:^|\s)JobName=(.*?) (?:HetJobIdSet=\S* )?UserId=")
# Keys every record prints, the last one included: a line without them was cut off.
NODE_KEYS = ("NodeName", "State", "CPUTot", "RealMemory", "ExtSensorsTemp")
JOB_KEYS = ("JobId", "JobName", "UserId", "JobState", "Partition", "Power")
NODES_COMMAND = "scontrol show node"
JOBS_COMMAND = "scontrol show job"
NO_NODES = "No nodes in the system"
NO_JOBS = "No jobs in the system"


def pairs(line: str) -> list[tuple[str, str]]:
    """'A=1 B=two words C=3' -> [('A', '1'), ('B', 'two words'), ('C', '3')]."""
    return _PAIR_RE.findall(line)


def _records(text: str, prefix: str, command: str, empty: str) -> Iterator[str]:
    """Record lines; anything else in the output is a SourceError naming the command."""
    for line in text.splitlines():
        if not line.strip() or line.strip() == empty:
            continue
        if not line.startswith(prefix):
            raise SourceError(f"{command}: unexpected output: {_excerpt(line)}")
        yield line


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


def parse_node_line(line: str) -> Node:
    reason_match = _REASON_RE.search(line) if "Reason=" in line else None
    reason = ""
    if reason_match:
        reason = clean(reason_match.group("text"))
        line = line[: reason_match.start()] + line[reason_match.end() :]
    fields = dict(pairs(line))
    _require(fields, NODE_KEYS, NODES_COMMAND, line)
    name = fields["NodeName"]
    if not NODE_NAME_RE.match(name):
        raise SourceError(f"{NODES_COMMAND}: bad node name {name!r}")
    base, flags = node_state(fields["State"].split("+"))
    gres = fields.get("Gres")
    partitions = clean(fields.get("Partitions"))
    return Node(
        name=name,
        state=base,
        flags=flags,
        reason=reason,
        partitions=tuple(p for p in partitions.split(",") if p),
        cpus_total=_int(fields.get("CPUTot")),
        cpus_alloc=_int(fields.get("CPUAlloc")),
        mem_total_mb=_int(fields.get("RealMemory")),
        mem_alloc_mb=_int(fields.get("AllocMem")),
        gpus_total=gpu_count(gres),
        gpus_alloc=gpu_count(fields.get("GresUsed")),
        gpu_model=gpu_model(gres),
    )


def parse_nodes(text: str) -> tuple[Node, ...]:
    """Nodes from `scontrol show node -o -d` (one line per node)."""
    lines = _records(text, "NodeName=", NODES_COMMAND, NO_NODES)
    return tuple(parse_each(lines, parse_node_line, "node"))


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


def parse_job_line(line: str) -> Job:
    ordered = pairs(line)
    fields = dict(ordered)
    _require(fields, JOB_KEYS, JOBS_COMMAND, line)
    state = job_state([fields["JobState"]])
    nodes = () if state is JobState.PENDING else expand_hostlist(fields.get("NodeList"))
    details: list[tuple[tuple[str, ...], str]] = []
    group: tuple[str, ...] = ()
    for key, value in ordered:
        if key == "Nodes":
            group = expand_hostlist(value)
        elif key == "GRES" and group:
            details.append((group, value))
    reason = clean(fields.get("Reason"))
    user_text = fields.get("UserId", "")
    user_match = _USER_RE.match(user_text)
    alloc_tres = fields.get("AllocTRES") or fields.get("TRES")
    gpus_per_node = gpus_per_request(fields.get("TresPerNode"))
    if not gpus_per_node and nodes:
        gpus_per_node = gpus_from_tres_counts(alloc_tres) // len(nodes)
    name = _job_name(line)
    return Job(
        job_id=_job_id(fields),
        name=clean(name if name is not None else fields.get("JobName")),
        user=user_match.group(1) if user_match else user_text,
        account=clean(fields.get("Account")),
        partition=clean(fields.get("Partition")),
        state=state,
        reason=reason,
        nodes=nodes,
        gpu_indices=per_node_gpus(nodes, details),
        gpus_per_node=gpus_per_node,
        gpus_requested=gpus_requested(
            req_tres=fields.get("ReqTRES") or fields.get("TRES"),
            per_job=fields.get("TresPerJob"),
            per_node=fields.get("TresPerNode"),
            per_task=fields.get("TresPerTask"),
            nodes=len(nodes) or node_count(fields.get("NumNodes")),
            tasks=_int(fields.get("NumTasks")),
        ),
        submit_time=epoch_or_none(fields.get("SubmitTime")),
        start_time=None if state is JobState.PENDING else epoch_or_none(fields.get("StartTime")),
        time_limit_min=parse_time_limit(fields.get("TimeLimit")),
        held=state is JobState.PENDING
        and (reason in HOLD_REASONS or fields.get("Priority") == "0"),
    )


def parse_jobs(text: str, include_finished: bool = False) -> tuple[Job, ...]:
    """Jobs from `scontrol show job -d -o` (one line per job); finished ones only when asked."""
    lines = _records(text, "JobId=", JOBS_COMMAND, NO_JOBS)
    jobs = parse_each(lines, parse_job_line, "job")
    return tuple(j for j in jobs if include_finished or j.state in ACTIVE_JOB_STATES)
