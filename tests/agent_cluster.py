"""A small, fixed cluster for agent tests (and the chat pane's UI tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tui.actions import Action, ActionResult
from tui.model import ClusterSnapshot, Gpu, Job, JobState, Node, NodeBaseState, SourceHealth

NOW = 1_800_000_000.0
A100 = "NVIDIA A100-SXM4-80GB"


def _gpus(node: str, utils: Sequence[float | None], temp: float = 60.0) -> list[Gpu]:
    return [
        Gpu(
            node=node,
            index=i,
            model=A100,
            utilization_pct=u,
            memory_used_mib=1000.0,
            memory_total_mib=81920.0,
            temperature_c=temp,
            power_w=250.0,
        )
        for i, u in enumerate(utils)
    ]


def sample_snapshot(taken_at: float = NOW) -> ClusterSnapshot:
    """4 A100 nodes: gpu-01 mixed (4 idle-allocated GPUs), gpu-02 drained, gpu-03 down,
    gpu-04 allocated with one hot GPU; jobs 101-103 running, 42-44 pending."""
    common = {"partitions": ("gpu",), "cpus_total": 64, "gpus_total": 8, "gpu_model": A100}
    nodes = (
        Node("gpu-01", NodeBaseState.MIXED, gpus_alloc=6, cpus_alloc=24, **common),
        Node("gpu-02", NodeBaseState.IDLE, frozenset({"DRAIN"}), "xid 79 on GPU 3", **common),
        Node(
            "gpu-03", NodeBaseState.DOWN, frozenset({"NOT_RESPONDING"}), "Not responding", **common
        ),
        Node("gpu-04", NodeBaseState.ALLOCATED, gpus_alloc=8, cpus_alloc=64, **common),
    )
    hot = _gpus("gpu-04", [80.0] * 8)
    hot[5] = Gpu("gpu-04", 5, model=A100, utilization_pct=99.0, temperature_c=91.0)
    gpus = (
        _gpus("gpu-01", [2.0, 1.0, 0.0, 3.0, 95.0, 96.0, None, None])
        + _gpus("gpu-02", [0.0] * 8)
        + hot
    )
    jobs = (
        Job(
            "101",
            "notebook",
            "alice",
            "lab",
            "gpu",
            JobState.RUNNING,
            "None",
            ("gpu-01",),
            {"gpu-01": (0, 1, 2, 3)},
            4,
            submit_time=NOW - 7200,
            start_time=NOW - 7000,
            time_limit_min=1440,
        ),
        Job(
            "102",
            "train-llm",
            "bob",
            "lab",
            "gpu",
            JobState.RUNNING,
            "None",
            ("gpu-01",),
            {"gpu-01": (4, 5)},
            2,
            submit_time=NOW - 4000,
            start_time=NOW - 3600,
            time_limit_min=2880,
        ),
        Job(
            "103",
            "pretrain",
            "carol",
            "lab",
            "gpu",
            JobState.RUNNING,
            "None",
            ("gpu-04",),
            {"gpu-04": tuple(range(8))},
            8,
            submit_time=NOW - 90000,
            start_time=NOW - 86400,
            time_limit_min=4320,
        ),
        Job(
            "42",
            "sweep",
            "alice",
            "lab",
            "gpu",
            JobState.PENDING,
            "Resources",
            (),
            {},
            8,
            submit_time=NOW - 3900,
            start_time=None,
            time_limit_min=600,
        ),
        Job(
            "43",
            "eval",
            "bob",
            "lab",
            "gpu",
            JobState.PENDING,
            "(QOSMaxGRESPerUser)",
            (),
            {},
            4,
            submit_time=NOW - 600,
            start_time=None,
            time_limit_min=60,
        ),
        Job(
            "44",
            "later",
            "dave",
            "lab",
            "gpu",
            JobState.PENDING,
            "JobHeldUser",
            (),
            {},
            1,
            submit_time=NOW - 60,
            start_time=None,
            time_limit_min=60,
            held=True,
        ),
    )
    health = {
        "slurm": SourceHealth("slurm", ok=True, last_success=taken_at - 3, latency_s=0.05),
        "gpu": SourceHealth(
            "gpu",
            ok=False,
            last_success=taken_at - 120,
            consecutive_failures=4,
            last_error="gpu-03: connection refused",
        ),
    }
    return ClusterSnapshot(
        taken_at=taken_at,
        nodes=nodes,
        gpus=tuple(gpus),
        jobs=jobs,
        health=health,
        cluster_name="testcluster",
        slurm_version="23.11.4",
    )


@dataclass
class AlertsBoard:
    """What an alerting module hands the agent: firing alerts and recent history."""

    active: list[dict[str, object]] = field(default_factory=list)
    history: list[dict[str, object]] = field(default_factory=list)


@dataclass
class RecordingRunner:
    """An ActionRunner that records what it was asked to run and reports success."""

    ran: list[Action] = field(default_factory=list)
    ok: bool = True

    async def run_action(self, action: Action) -> ActionResult:
        self.ran.append(action)
        message = f"{action.describe()}: ok" if self.ok else "slurm_update error: Invalid node"
        return ActionResult(action, ok=self.ok, message=message)
