"""Parse `sinfo --json` / `squeue --json` (and `scontrol show nodes --json`) into the model.

Handles both shapes in the field:
- Slurm 22.05, openapi v0.0.38: node `state` is a string ("idle") plus `state_flags`;
  numbers are plain; `job_state` a string; meta under "Slurm" with int versions.
- Slurm 23.11, data_parser v0.0.40: node `state` and `job_state` are flag arrays
  (["IDLE", "DRAIN"]); many numbers are {"set": true, "infinite": false, "number": 5};
  meta under "slurm"; `sinfo --json` lists grouped "sinfo" records instead of "nodes".
  A group keeps its first node's reason and GRES for every node in it, so the source reads
  23.11 nodes from `scontrol show nodes --json`, which lists each node.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tui.actions import NODE_NAME_RE
from tui.model import EMPTY_MAPPING, Job, JobState, Node
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
    merge_node_partitions,
    node_state,
    parse_each,
    per_node_gpus,
)

Doc = Mapping[str, Any]


def load(text: str | bytes, command: str) -> Doc:
    """The JSON document, or SourceError naming the command; Slurm's own errors raise too."""
    try:
        doc = json.loads(text)
    except ValueError as error:
        raise SourceError(f"{command}: output is not JSON ({error})") from None
    if not isinstance(doc, dict):
        raise SourceError(f"{command}: output is not a JSON object")
    errors = [e for e in doc.get("errors") or () if isinstance(e, dict)]
    if errors:
        first = errors[0]
        text_ = first.get("description") or first.get("error") or "unknown error"
        raise SourceError(f"{command}: {text_}")
    return doc


def number(value: Any, default: int | None = 0) -> int | None:
    """A plain number, or v0.0.40's {"set", "infinite", "number"}; unset/infinite -> default."""
    if isinstance(value, dict):
        if not value.get("set", True) or value.get("infinite", False):
            return default
        value = value.get("number")
    if isinstance(value, bool) or value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def version(doc: Doc) -> str:
    """'22.05.8' from either meta spelling ('' when absent)."""
    meta = doc.get("meta") or {}
    slurm = meta.get("slurm") or meta.get("Slurm") or {}
    release = clean(slurm.get("release"))
    if release:
        return release
    ver = slurm.get("version") or {}
    parts = [str(ver.get(k, "")) for k in ("major", "minor", "micro")]
    if not all(parts):
        return ""
    return f"{parts[0]}.{parts[1].zfill(2)}.{parts[2]}"


def _state_words(raw: Any, flags: Any = ()) -> list[str]:
    words = [raw] if isinstance(raw, str) else list(raw or ())
    return [*words, *(flags or ())]


def _reason_text(raw: Any) -> str:
    if isinstance(raw, dict):  # v0.0.40 sinfo: {"description", "time", "user"}
        raw = raw.get("description")
    return clean(raw)


def parse_node(item: Mapping[str, Any]) -> Node:
    """One node object (v0.0.38 `nodes[]`, or v0.0.40 `scontrol show nodes --json`)."""
    base, flags = node_state(_state_words(item.get("state"), item.get("state_flags")))
    partitions = item.get("partitions") or ()
    if isinstance(partitions, str):
        partitions = [p for p in partitions.split(",") if p]
    name = item.get("name")
    if not isinstance(name, str) or not NODE_NAME_RE.match(name):
        raise SourceError(f"node list: bad node name {name!r}")
    gres = item.get("gres")
    return Node(
        name=name,
        state=base,
        flags=flags,
        reason=_reason_text(item.get("reason")),
        partitions=tuple(partitions),
        cpus_total=number(item.get("cpus")) or 0,
        cpus_alloc=number(item.get("alloc_cpus")) or 0,
        mem_total_mb=number(item.get("real_memory")) or 0,
        mem_alloc_mb=number(item.get("alloc_memory")) or 0,
        gpus_total=gpu_count(gres),
        gpus_alloc=gpu_count(item.get("gres_used")),
        gpu_model=gpu_model(gres),
    )


def _path(item: Mapping[str, Any], *keys: str) -> Any:
    value: Any = item
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def parse_sinfo_record(item: Mapping[str, Any]) -> list[Node]:
    """One v0.0.40 `sinfo[]` record: a group of nodes sharing partition and state.

    Per-node totals (cpus/maximum, memory/maximum) are exact; allocations are the group's,
    split evenly when the group holds several nodes. `scontrol show nodes --json` is exact.
    """
    names = expand_hostlist(_path(item, "nodes", "nodes") or ())
    if not names:
        return []
    count = len(names)
    base, flags = node_state(_state_words(_path(item, "node", "state")))
    partition = clean(_path(item, "partition", "name"))
    gres_total = _path(item, "gres", "total")
    return [
        Node(
            name=name,
            state=base,
            flags=flags,
            reason=_reason_text(item.get("reason")),
            partitions=(partition,) if partition else (),
            cpus_total=number(_path(item, "cpus", "maximum")) or 0,
            cpus_alloc=(number(_path(item, "cpus", "allocated")) or 0) // count,
            mem_total_mb=number(_path(item, "memory", "maximum")) or 0,
            mem_alloc_mb=(number(_path(item, "memory", "allocated")) or 0) // count,
            gpus_total=gpu_count(gres_total),
            gpus_alloc=gpu_count(_path(item, "gres", "used")),
            gpu_model=gpu_model(gres_total),
        )
        for name in names
    ]


def is_grouped(doc: Doc) -> bool:
    """True for 23.11's `sinfo --json`, which lists node groups rather than nodes."""
    return isinstance(doc.get("sinfo"), list) and not isinstance(doc.get("nodes"), list)


def parse_nodes(doc: Doc) -> tuple[Node, ...]:
    """Nodes from `sinfo --json` (22.05 or 23.11) or `scontrol show nodes --json`."""
    if isinstance(doc.get("nodes"), list):
        items = (n for n in doc["nodes"] if isinstance(n, dict))
        return merge_node_partitions(parse_each(items, parse_node, "node"))
    if isinstance(doc.get("sinfo"), list):
        return merge_node_partitions(
            node
            for rec in doc["sinfo"]
            if isinstance(rec, dict)
            for node in parse_sinfo_record(rec)
        )
    raise SourceError("sinfo --json: no 'nodes' or 'sinfo' list in the output")


def _gres_detail(nodes: Sequence[str], detail: Any) -> Mapping[str, tuple[int, ...]]:
    """squeue's gres_detail: one GRES string per allocated node, in node order."""
    if not isinstance(detail, list) or not nodes:
        return EMPTY_MAPPING
    pairs = [((node,), str(gres)) for node, gres in zip(nodes, detail, strict=False)]
    return per_node_gpus(nodes, pairs)


def _job_id(item: Mapping[str, Any]) -> str:
    het_job = number(item.get("het_job_id"), None)
    het_offset = number(item.get("het_job_offset"), None)
    if het_job and het_offset is not None:
        return f"{het_job}+{het_offset}"
    array_job = number(item.get("array_job_id"), None)
    array_task: str | int | None = number(item.get("array_task_id"), None)
    if array_job and array_task is None:
        array_task = clean(item.get("array_task_string")) or None
    return job_id(number(item.get("job_id")) or 0, array_job, array_task)


def parse_job(item: Mapping[str, Any]) -> Job:
    state = job_state(_state_words(item.get("job_state")))
    nodes = expand_hostlist(item.get("nodes")) if state is not JobState.PENDING else ()
    reason = clean(item.get("state_reason"))
    priority = number(item.get("priority"), None)
    stdout = clean(item.get("standard_output"))
    gpus_per_node = gpus_per_request(item.get("tres_per_node"))
    if not gpus_per_node and nodes:
        gpus_per_node = gpus_from_tres_counts(item.get("tres_alloc_str")) // len(nodes)
    return Job(
        job_id=_job_id(item),
        name=clean(item.get("name")),
        user=clean(item.get("user_name")) or str(number(item.get("user_id"), None) or ""),
        account=clean(item.get("account")),
        partition=clean(item.get("partition")),
        state=state,
        reason=reason,
        nodes=nodes,
        gpu_indices=_gres_detail(nodes, item.get("gres_detail")),
        gpus_per_node=gpus_per_node,
        gpus_requested=gpus_requested(
            req_tres=item.get("tres_req_str"),
            per_job=item.get("tres_per_job"),
            per_node=item.get("tres_per_node"),
            per_task=item.get("tres_per_task"),
            nodes=len(nodes) or number(item.get("node_count")) or 0,
            tasks=number(item.get("tasks")) or 0,
        ),
        submit_time=epoch_or_none(number(item.get("submit_time"))),
        start_time=(
            None if state is JobState.PENDING else epoch_or_none(number(item.get("start_time")))
        ),
        time_limit_min=number(item.get("time_limit"), None),
        held=state is JobState.PENDING and (reason in HOLD_REASONS or priority == 0),
        priority=priority,
        stdout=stdout,
        # 22.05 leaves it empty when stderr goes to the stdout file, as it does by default.
        stderr=clean(item.get("standard_error")) or stdout,
    )


def parse_jobs(doc: Doc, include_finished: bool = False) -> tuple[Job, ...]:
    """Jobs from `squeue --json` (v0.0.38 or v0.0.40); finished ones only when asked."""
    items = doc.get("jobs")
    if not isinstance(items, list):
        raise SourceError("squeue --json: no 'jobs' list in the output")
    jobs = parse_each((i for i in items if isinstance(i, dict)), parse_job, "job")
    return tuple(j for j in jobs if include_finished or j.state in ACTIVE_JOB_STATES)
