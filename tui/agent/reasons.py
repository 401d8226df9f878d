"""Slurm's pending reasons (squeue %r) in plain words, for the agent and the UI."""

from __future__ import annotations

import re

# Slurm reason code -> what it means for the person waiting, and what usually helps.
PENDING_REASONS: dict[str, str] = {
    "None": "No reason recorded yet: the scheduler has not evaluated the job.",
    "Resources": "Waiting for resources: not enough free nodes/GPUs/CPUs/memory right now; "
    "it starts when running jobs finish.",
    "Priority": "Other jobs with higher priority are queued ahead of it in this partition.",
    "Dependency": "Waiting for a job it depends on (--dependency) to reach the required state.",
    "DependencyNeverSatisfied": "A dependency can never be met (the job it waits on failed or "
    "was cancelled); it will not start unless the dependency is removed.",
    "JobHeldUser": "Held by its owner (scontrol hold / sbatch -H); release with scontrol release.",
    "JobHeldAdmin": "Held by an administrator; only an admin can release it.",
    "BeginTime": "Its requested start time (--begin) has not arrived yet.",
    "QOSMaxGRESPerUser": "The user already uses the most GPUs (GRES) their QOS allows; "
    "it starts when their other jobs free GPUs.",
    "QOSMaxGRESPerJob": "It asks for more GPUs (GRES) than the QOS allows per job; "
    "it will never start as submitted.",
    "QOSMaxJobsPerUserLimit": "The user already runs the most jobs their QOS allows.",
    "QOSMaxSubmitJobPerUserLimit": "The user hit the QOS limit on submitted jobs.",
    "QOSMaxCpuPerUserLimit": "The user already uses the most CPUs their QOS allows.",
    "QOSMaxNodePerUserLimit": "The user already uses the most nodes their QOS allows.",
    "QOSMaxWallDurationPerJobLimit": "Its time limit exceeds the QOS maximum wall time; "
    "it will never start as submitted.",
    "QOSGrpGRES": "The QOS as a whole is at its GPU (GRES) limit.",
    "QOSGrpCpuLimit": "The QOS as a whole is at its CPU limit.",
    "QOSGrpNodeLimit": "The QOS as a whole is at its node limit.",
    "QOSResourceLimit": "A QOS resource limit is reached.",
    "AssocGrpGRES": "The account (association) is at its group GPU (GRES) limit; "
    "other jobs of the account must finish first.",
    "AssocGrpGRESMinutes": "The account has used up its GPU-minutes allocation.",
    "AssocGrpCpuLimit": "The account (association) is at its group CPU limit.",
    "AssocGrpNodeLimit": "The account (association) is at its group node limit.",
    "AssocGrpJobsLimit": "The account (association) already runs the most jobs it may.",
    "AssocMaxJobsLimit": "The user's association already runs the most jobs it may.",
    "AssocGrpBillingMinutes": "The account has used up its billing-minutes allocation.",
    "ReqNodeNotAvail": "A node it requires (or all nodes that fit) is down, drained or "
    "reserved; it waits until such a node is back.",
    "PartitionTimeLimit": "Its time limit exceeds the partition's maximum; it will never start "
    "as submitted (lower --time or use another partition).",
    "PartitionNodeLimit": "It asks for more nodes than the partition allows per job.",
    "PartitionDown": "The partition is down; no jobs start in it.",
    "PartitionInactive": "The partition is inactive; no jobs start in it.",
    "PartitionConfig": "It requests resources the partition does not have (wrong partition?).",
    "NodeDown": "A node it needs is down.",
    "BadConstraints": "Its constraints (--constraint, GPU type, memory) cannot be satisfied "
    "by any node; it will never start as submitted.",
    "Reservation": "Waiting for its advanced reservation to become active.",
    "InvalidAccount": "Its account is invalid; it will never start.",
    "InvalidQOS": "Its QOS is invalid; it will never start.",
    "Licenses": "Waiting for licenses.",
    "launch failed requeued held": "Its launch failed, so Slurm requeued and held it; "
    "release it after fixing the cause.",
    "JobArrayTaskLimit": "The array's task limit (%N in --array) is reached.",
    "Cleaning": "Slurm is still cleaning up a previous run of this job.",
    "Prolog": "A prolog script is running on its nodes.",
    "FrontEndDown": "No front-end node is available.",
    "SystemFailure": "Slurm or the file system failed.",
}

_REASON_IN_PARENS = re.compile(r"^\((.*)\)$")


def reason_code(raw: str) -> str:
    """squeue prints '(Resources)'; scontrol prints 'Resources'. Both give 'Resources'."""
    text = raw.strip()
    match = _REASON_IN_PARENS.match(text)
    return (match.group(1) if match else text).strip()


def explain_reason(raw: str) -> str:
    """One plain-English sentence for a Slurm pending reason; unknown codes are still shown."""
    code = reason_code(raw)
    if not code:
        return PENDING_REASONS["None"]
    if code in PENDING_REASONS:
        return PENDING_REASONS[code]
    # "ReqNodeNotAvail, UnavailableNodes:gpu-[01-02]" and similar carry details after a comma.
    head, _, detail = code.partition(",")
    known = PENDING_REASONS.get(head.strip())
    if known:
        return f"{known} ({detail.strip()})" if detail.strip() else known
    lowered = {key.lower(): value for key, value in PENDING_REASONS.items()}
    if head.strip().lower() in lowered:
        return lowered[head.strip().lower()]
    return f"Slurm reason '{code}' (no plain-words explanation known for it)."
