"""The system prompt: who the assistant is, and this cluster's facts, read from the snapshot."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tui.agent.tool_registry import ACTION_TOOLS
from tui.model import ClusterSnapshot


@dataclass(frozen=True, slots=True)
class GpuThermals:
    normal_below_c: float
    slowdown_c: str


# Datacenter GPUs: usual operating ceiling and where clocks start to throttle (approximate).
GPU_THERMALS: dict[str, GpuThermals] = {
    "A100": GpuThermals(80, "about 88-90 C"),
    "H100": GpuThermals(80, "about 87-90 C"),
    "H200": GpuThermals(80, "about 87-90 C"),
    "L40S": GpuThermals(80, "about 88 C"),
    "A10": GpuThermals(80, "about 90 C"),
    "V100": GpuThermals(80, "about 85-88 C"),
}
FALLBACK_THERMALS = (
    "no temperature table for this GPU model: treat > 85 C as hot and compare with the "
    "cluster's other GPUs"
)

ROLE = """You are the assistant inside clusterdash, a terminal dashboard for a Slurm GPU \
cluster. Operators ask about nodes, GPUs, jobs, alerts and the model server.
- Investigate with the tools before answering; never invent node names, job ids or numbers.
- Answer briefly in Markdown: the finding first, then the evidence (a short table if useful).
- If a tool result was cut, narrow the query (filters, a name, a smaller range).
- Repeating an identical tool call returns the same result; do not loop."""

_ACTION_NAMES = [spec.name for spec in ACTION_TOOLS]
ACTIONS_ALLOWED = (
    f"- You may PROPOSE {', '.join(_ACTION_NAMES[:-1])} or {_ACTION_NAMES[-1]} when it clearly "
    "helps; nothing runs unless the operator confirms. Report the outcome you get back."
)
ACTIONS_DISABLED = (
    "- Read-only mode: you cannot change the cluster; describe the scontrol/scancel "
    "command the operator could run instead."
)


def thermals_for(model: str) -> str:
    upper = model.upper()
    for key in sorted(GPU_THERMALS, key=len, reverse=True):
        if key in upper.replace("-", " ").split() or key in upper:
            t = GPU_THERMALS[key]
            return f"normal below {t.normal_below_c:g} C, slowdown (throttling) at {t.slowdown_c}"
    return FALLBACK_THERMALS


def cluster_facts(snapshot: ClusterSnapshot | None) -> str:
    if snapshot is None:
        return "Cluster facts: no data collected yet (tools will say so)."
    models = Counter(n.gpu_model for n in snapshot.nodes if n.gpu_model) or Counter(
        g.model for g in snapshot.gpus if g.model
    )
    gpu_count = sum(n.gpus_total for n in snapshot.nodes) or len(snapshot.gpus)
    partitions = sorted({p for n in snapshot.nodes for p in n.partitions})
    lines = [
        f"Cluster facts ({snapshot.cluster_name}{', simulated demo' if snapshot.demo else ''}):",
        f"- {len(snapshot.nodes)} nodes, {gpu_count} GPUs",
        f"- Slurm {snapshot.slurm_version or 'version unknown'}",
        f"- partitions: {', '.join(partitions) or 'unknown'}",
    ]
    for model, _ in models.most_common(4):
        lines.append(f"- GPU {model}: {thermals_for(model)}")
    if not models:
        lines.append(f"- GPU model unknown: {FALLBACK_THERMALS}")
    return "\n".join(lines)


def system_prompt(snapshot: ClusterSnapshot | None, readonly: bool) -> str:
    actions = ACTIONS_DISABLED if readonly else ACTIONS_ALLOWED
    return f"{ROLE}\n{actions}\n\n{cluster_facts(snapshot)}"
