"""A small deterministic cluster for UI tests: Slurm-like state, GPU readings, history.

Time-independent on purpose: every poll returns the same figures until an action
changes them, so snapshot tests render the same screen every run.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tui.actions import Action, ActionKind, ActionResult
from tui.collector import Collector, CollectorOptions
from tui.config import Settings
from tui.model import Gpu, Job, JobState, Node, NodeBaseState, NodeFlag
from tui.sources.base import GpuReading, GpuSeries, SlurmState
from tui.store import Store

FIXED_NOW = 1_767_000_000.0


def make_nodes(count: int, seed: int = 7) -> list[Node]:
    rng = random.Random(seed)
    nodes = []
    for i in range(1, count + 1):
        name = f"gpu-{i:04d}" if count > 99 else f"gpu-{i:02d}"
        gpus_alloc = rng.choice((0, 0, 2, 4, 8, 8))
        state = (
            NodeBaseState.IDLE
            if gpus_alloc == 0
            else NodeBaseState.ALLOCATED
            if gpus_alloc == 8
            else NodeBaseState.MIXED
        )
        flags: frozenset[str] = frozenset()
        reason = ""
        if i % 11 == 5:
            flags, reason = frozenset({NodeFlag.DRAIN}), "bad GPU 3, XID 79"
        if i % 13 == 7:
            state, reason = NodeBaseState.DOWN, "Not responding"
            flags = frozenset({NodeFlag.NOT_RESPONDING})
            gpus_alloc = 0
        nodes.append(
            Node(
                name=name,
                state=state,
                flags=flags,
                reason=reason,
                partitions=("debug",) if i <= 2 else ("gpu",),
                cpus_total=64,
                cpus_alloc=gpus_alloc * 8,
                mem_total_mb=512000,
                mem_alloc_mb=gpus_alloc * 60000,
                gpus_total=8,
                gpus_alloc=gpus_alloc,
                gpu_model="a100",
            )
        )
    return nodes


def make_jobs(nodes: list[Node]) -> list[Job]:
    jobs = []
    users = ("alice", "bob", "carol", "dave")
    job_id = 100
    for i, node in enumerate(nodes):
        if node.gpus_alloc == 0:
            continue
        job_id += 1
        jobs.append(
            Job(
                job_id=str(job_id),
                name=f"train-{i}",
                user=users[i % len(users)],
                account="research",
                partition=node.partitions[0],
                state=JobState.RUNNING,
                nodes=(node.name,),
                gpu_indices={node.name: tuple(range(node.gpus_alloc))},
                gpus_per_node=node.gpus_alloc,
                submit_time=FIXED_NOW - 7200 - i * 60,
                start_time=FIXED_NOW - 3600 - i * 60,
                time_limit_min=1440,
            )
        )
    for k, reason in enumerate(("Resources", "Priority", "QOSMaxGRESPerUser")):
        job_id += 1
        jobs.append(
            Job(
                job_id=str(job_id),
                name=f"queued-{k}",
                user=users[k],
                partition="gpu",
                state=JobState.PENDING,
                reason=reason,
                gpus_per_node=8,
                gpus_requested=8 * (k + 1),
                submit_time=FIXED_NOW - 600 * (k + 1),
                time_limit_min=240,
            )
        )
    return jobs


def make_gpus(nodes: list[Node], seed: int = 7) -> list[Gpu]:
    rng = random.Random(seed + 1)
    gpus = []
    for node in nodes:
        if node.is_unreachable:
            continue
        for index in range(node.gpus_total):
            held = index < node.gpus_alloc
            # Every fifth held GPU does nothing: allocated-but-idle.
            util = 0.0 if not held or (index + len(node.name)) % 5 == 0 else rng.uniform(40, 100)
            gpus.append(
                Gpu(
                    node=node.name,
                    index=index,
                    uuid=f"GPU-{node.name}-{index}",
                    model="NVIDIA A100-SXM4-80GB",
                    utilization_pct=round(util, 1),
                    memory_used_mib=round(rng.uniform(1000, 78000) if held else 500.0, 0),
                    memory_total_mib=81920.0,
                    temperature_c=round(rng.uniform(30, 86), 0),
                    power_w=round(rng.uniform(60, 420), 0),
                )
            )
    return gpus


@dataclass
class FakeWorkload:
    """Slurm stand-in: actions change node/job state, or fail with Slurm's own words."""

    nodes: list[Node]
    jobs: list[Job]
    name: str = "slurm"
    fail_with: str | None = None
    actions: list[Action] = field(default_factory=list)

    async def fetch(self) -> SlurmState:
        return SlurmState(tuple(self.nodes), tuple(self.jobs), "22.05.8")

    async def run_action(self, action: Action) -> ActionResult:
        action.validate()
        self.actions.append(action)
        if self.fail_with:
            return ActionResult(action, False, self.fail_with)
        kind = action.kind
        if kind.targets_nodes:
            by_name = {n.name: n for n in self.nodes}
            for target in action.targets:
                if target not in by_name:
                    return ActionResult(action, False, f"Invalid node name specified: {target}")
            for i, node in enumerate(self.nodes):
                if node.name in action.targets:
                    if kind is ActionKind.DRAIN:
                        flags = node.flags | {NodeFlag.DRAIN}
                        self.nodes[i] = replace(node, flags=flags, reason=action.reason)
                    else:
                        self.nodes[i] = replace(
                            node, flags=node.flags - {NodeFlag.DRAIN}, reason=""
                        )
        else:
            for i, job in enumerate(self.jobs):
                if job.job_id not in action.targets:
                    continue
                if kind is ActionKind.CANCEL:
                    self.jobs[i] = replace(job, state=JobState.CANCELLED)
                elif kind is ActionKind.HOLD:
                    self.jobs[i] = replace(job, held=True)
                elif kind is ActionKind.RELEASE:
                    self.jobs[i] = replace(job, held=False)
                elif kind is ActionKind.REQUEUE:
                    self.jobs[i] = replace(job, state=JobState.PENDING, nodes=())
        return ActionResult(action, True, "done")


@dataclass
class FakeGpus:
    gpus: list[Gpu]
    name: str = "gpu"

    async def fetch(self) -> GpuReading:
        return GpuReading(tuple(self.gpus))

    async def aclose(self) -> None:
        return None


class FakeHistory:
    """A smooth deterministic curve per GPU; records what was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float, float, int]] = []

    async def gpu_history(
        self, node: str, metric: str, start: float, end: float, max_points: int
    ) -> GpuSeries:
        self.calls.append((node, metric, start, end, max_points))
        points = min(max_points, 60)
        step = (end - start) / points
        top = 500.0 if metric == "power_w" else 90.0
        return {
            index: [
                (start + k * step, (top / 2) + (top / 3) * (((k + index * 7) % 20) / 10.0 - 1.0))
                for k in range(points)
            ]
            for index in range(8)
        }


@dataclass
class FakeServices:
    settings: Settings
    collector: Collector
    workload: FakeWorkload
    history: FakeHistory
    store: Store | None
    cluster_name: str = "testcluster"
    mode: str = "demo"
    closed: bool = False
    alerts: Any = None

    @property
    def demo(self) -> bool:
        return self.mode == "demo"

    @property
    def readonly(self) -> bool:
        return self.settings.readonly

    async def run_background(self) -> None:
        await self.collector.run()

    async def aclose(self) -> None:
        self.closed = True
        if self.store is not None:
            await self.store.close()


def fake_factory(
    node_count: int = 12,
    *,
    store_path: Path | None = None,
    clock: Callable[[], float] = lambda: FIXED_NOW,
    holder: dict[str, Any] | None = None,
    gpu_interval_s: float = 5.0,
    alerts: bool = False,
) -> Callable[[Settings, str], Any]:
    """A services factory for ClusterDashApp; `holder['services']` gets what it built."""

    async def build(settings: Settings, mode: str) -> FakeServices:
        nodes = make_nodes(node_count)
        workload = FakeWorkload(nodes, make_jobs(nodes))
        gpus = FakeGpus(make_gpus(nodes))
        collector = Collector(
            workload=workload,
            gpu=gpus,
            options=CollectorOptions(
                cluster_name="testcluster",
                demo=mode == "demo",
                gpu_interval_s=gpu_interval_s,
                slurm_interval_s=gpu_interval_s,
            ),
            clock=clock,
            rng=random.Random(1),
        )
        store = await Store.open(store_path) if store_path is not None else None
        services = FakeServices(settings, collector, workload, FakeHistory(), store, mode=mode)
        if alerts:
            from tui.alerts.builtin import BUILTIN_RULES
            from tui.alerts.engine import AlertEngine
            from tui.alerts.service import AlertService

            services.alerts = AlertService(AlertEngine(BUILTIN_RULES, clock=clock), clock=clock)
            collector.subscribe(services.alerts.on_snapshot)
        if holder is not None:
            holder["services"] = services
        return services

    return build
