"""The rules every cluster gets unless turned off (alerts.builtin_rules or per rule)."""

from __future__ import annotations

from tui.alerts.rules import Comparator, Rule, Severity, Watch

# XIDs that mean the GPU or its driver state is broken (NVIDIA's XID catalogue):
# 48 DBE ECC, 63/64 row-remap events, 74 NVLink, 79 fell off the bus, 94/95 contained
# and uncontained ECC errors.
CRITICAL_XIDS = frozenset({48, 63, 64, 74, 79, 94, 95})

BUILTIN_RULES: tuple[Rule, ...] = (
    Rule(
        name="gpu_temperature_high",
        watch=Watch.GPU_TEMPERATURE,
        comparator=Comparator.GTE,
        threshold=85,
        for_s=120,
        severity=Severity.WARNING,
        description="GPU at or above 85 C for 2 minutes: check airflow and fan/cooling status.",
        builtin=True,
    ),
    Rule(
        name="gpu_temperature_critical",
        watch=Watch.GPU_TEMPERATURE,
        comparator=Comparator.GTE,
        threshold=90,
        severity=Severity.CRITICAL,
        description="GPU at or above 90 C: it is throttling; drain the node if it persists.",
        builtin=True,
    ),
    Rule(
        name="gpu_xid_critical",
        watch=Watch.GPU_XID,
        severity=Severity.CRITICAL,
        xids=CRITICAL_XIDS,
        description="XID that means hardware or driver failure: drain the node and reset the GPU.",
        builtin=True,
    ),
    Rule(
        name="gpu_xid",
        watch=Watch.GPU_XID,
        severity=Severity.WARNING,
        exclude_xids=CRITICAL_XIDS,
        description="XID error reported: look it up in NVIDIA's XID catalogue.",
        builtin=True,
    ),
    Rule(
        name="gpu_ecc_uncorrectable",
        watch=Watch.GPU_ECC,
        comparator=Comparator.GT,
        threshold=0,
        severity=Severity.CRITICAL,
        description="Uncorrectable ECC errors or row-remap failures: drain and replace the GPU.",
        builtin=True,
    ),
    Rule(
        name="gpu_memory_high",
        watch=Watch.GPU_MEMORY_PCT,
        comparator=Comparator.GTE,
        threshold=95,
        for_s=300,
        severity=Severity.WARNING,
        description="GPU memory at or above 95% for 5 minutes: the job is close to OOM.",
        builtin=True,
    ),
    Rule(
        name="node_down",
        watch=Watch.NODE_STATE,
        states=frozenset({"down", "not responding"}),
        severity=Severity.CRITICAL,
        # A node just resumed reads "not responding" until slurmd's next registration.
        for_s=60,
        description="Node down or not responding: check slurmd and the pod.",
        builtin=True,
    ),
    Rule(
        name="node_drained",
        watch=Watch.NODE_STATE,
        states=frozenset({"drained", "draining"}),
        severity=Severity.WARNING,
        description="Node drained: resume it when the reason is dealt with.",
        builtin=True,
    ),
    Rule(
        name="gpu_allocated_idle",
        watch=Watch.GPU_ALLOCATED_IDLE,
        comparator=Comparator.LT,
        threshold=5,
        for_s=1800,
        severity=Severity.WARNING,
        description="GPU held by a job but idle for 30 minutes: ask the user or cancel the job.",
        builtin=True,
    ),
    Rule(
        name="job_pending_long",
        watch=Watch.JOB_PENDING,
        comparator=Comparator.GT,
        threshold=3600,
        severity=Severity.INFO,
        description="Job pending for over an hour.",
        builtin=True,
    ),
    Rule(
        name="source_failing",
        watch=Watch.SOURCE_HEALTH,
        comparator=Comparator.GTE,
        threshold=1,
        for_s=60,
        severity=Severity.WARNING,
        description="A data source has been failing for over a minute: the dashboard is stale.",
        builtin=True,
    ),
)
