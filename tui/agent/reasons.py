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
    # The rest of squeue's JOB REASON CODES and of Slurm's job_reason_string().
    "WaitingForScheduling": "No reason set yet: the scheduler has not evaluated the job.",
    "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority "
    "partitions": "Every node that fits it is down, drained, or held back for jobs of a "
    "higher-priority partition; it waits until one is free (resume drained nodes to help).",
    "AssociationJobLimit": "The account (association) already runs the most jobs it may.",
    "AssociationResourceLimit": "The account (association) has reached a resource limit.",
    "AssociationTimeLimit": "The account (association) has reached its time limit.",
    "QOSJobLimit": "The QOS already runs the most jobs it may.",
    "QOSTimeLimit": "The QOS has reached its time limit.",
    "QOSUsageThreshold": "The QOS usage threshold has been breached.",
    "QOSNotAllowed": "The job's QOS is not allowed in this partition.",
    "AccountNotAllowed": "The job's account is not allowed in this partition.",
    "InactiveLimit": "The job reached the system InactiveLimit.",
    "JobLaunchFailure": "The job could not be launched (file system problem, bad program "
    "name, ...).",
    "NonZeroExitCode": "The job ended with a non-zero exit code.",
    "TimeLimit": "The job used up its time limit.",
    "DeadLine": "The job cannot finish before its --deadline.",
    "JobHoldMaxRequeue": "Held after being requeued the most times allowed (MaxBatchRequeue).",
    "BurstBufferResources": "Waiting for burst buffer space.",
    "BurstBufferStageIn": "Its burst buffer data is being staged in.",
    "BurstBufferOperation": "A burst buffer operation for it failed.",
    "PowerNotAvail": "Not enough power is available for it.",
    "PowerReserved": "The power it needs is reserved for other jobs.",
    "BlockMaxError": "Too many errors on the block it needs.",
    "BlockFreeAction": "Waiting for a block to be freed.",
    "SchedDefer": "Scheduling was deferred (SchedulerParameters=defer); it is looked at again "
    "by the backfill or main scheduler.",
    "ResvDeleted": "The reservation it was submitted to was deleted.",
    "OutOfMemory": "The job ran out of memory.",
    "MaxMemPerLimit": "It asks for more memory per CPU or node than the partition allows.",
}

# {Assoc,QOS}{Grp,Max,Min}<resource>[Minutes|RunMinutes][PerJob|PerNode|PerUser][Limit|...]
# and QOS Max<resource>PerAccount: Slurm composes these; explained from their parts.
_LIMIT_CODE = re.compile(
    r"^(?P<scope>Assoc|QOS)?(?P<kind>Grp|Max|Min)(?P<resource>Cpu|CPU|Mem|Memory|Node|Energy|"
    r"GRES|License|BB|Unknown|Jobs|Job|SubmitJobs|SubmitJob|WallDuration|Wall|Billing)"
    r"(?P<minutes>RunMinutes|Minutes)?(?P<per>PerJob|PerNode|PerUser|PerAccount)?"
    r"(?P<tail>Limit|NotSatisfied)?$"
)
_RESOURCES = {
    "cpu": "CPUs",
    "mem": "memory",
    "memory": "memory",
    "node": "nodes",
    "energy": "energy",
    "gres": "GPUs (GRES)",
    "license": "licenses",
    "bb": "burst buffer",
    "unknown": "a resource",
    "jobs": "running jobs",
    "job": "running jobs",
    "submitjobs": "submitted jobs",
    "submitjob": "submitted jobs",
    "wallduration": "wall time",
    "wall": "wall time",
    "billing": "billing units",
}


def _explain_limit(code: str) -> str | None:
    match = _LIMIT_CODE.match(code)
    if match is None or (match["scope"] is None and match["per"] != "PerAccount"):
        return None
    who = "the account (association)" if match["scope"] == "Assoc" else "the QOS"
    what = _RESOURCES[match["resource"].lower()]
    if match["minutes"] == "RunMinutes":
        what = f"{what}-minutes of running jobs"
    elif match["minutes"]:
        what = f"{what}-minutes"
    per = {
        "PerJob": "per job",
        "PerNode": "per node",
        "PerUser": "per user",
        "PerAccount": "per account",
    }.get(match["per"] or "", "")
    if match["kind"] == "Grp":
        return f"Waiting: {who} as a whole is at its limit on {what}; other jobs must finish first."
    if match["kind"] == "Min":
        return (
            f"It asks for fewer {what} than {who} requires as a minimum; "
            "it will not start as submitted."
        )
    if match["per"] in ("PerJob", "PerNode"):
        return f"It asks for more {what} {per} than {who} allows; it will not start as submitted."
    return f"Waiting: the limit {who} sets on {what} {per or 'at once'} is reached."


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
    # squeue writes spaces in long reasons as underscores.
    spaced = code.replace("_", " ")
    if spaced in PENDING_REASONS:
        return PENDING_REASONS[spaced]
    limit = _explain_limit(code)
    if limit is not None:
        return limit
    # "ReqNodeNotAvail, UnavailableNodes:gpu-[01-02]" and similar carry details after a comma.
    head, _, detail = code.partition(",")
    known = PENDING_REASONS.get(head.strip())
    if known:
        return f"{known} ({detail.strip()})" if detail.strip() else known
    lowered = {key.lower(): value for key, value in PENDING_REASONS.items()}
    if head.strip().lower() in lowered:
        return lowered[head.strip().lower()]
    return f"Slurm reason '{code}' (no plain-words explanation known for it)."
