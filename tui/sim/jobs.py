"""Simulated jobs: their mutable bookkeeping record and the random mix users submit."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import StrEnum

from tui.model import JobState

TICK_S = 5.0
TICKS_PER_MIN = 12
# Longest a generated job may run, and longest it may be planned to wait (< 50 min alert).
MAX_RUN_TICKS = 60 * TICKS_PER_MIN
MAX_PLANNED_WAIT_TICKS = 40 * TICKS_PER_MIN
# A requeued job waits this long before it may start again, as Slurm does.
REQUEUE_DELAY_TICKS = 12

USERS: tuple[tuple[str, str], ...] = (
    ("alice", "ml-research"),
    ("bob", "ml-research"),
    ("carol", "vision"),
    ("dave", "vision"),
    ("erin", "nlp"),
    ("frank", "nlp"),
    ("grace", "speech"),
    ("heidi", "infra"),
)
NAMES_BY_SIZE: dict[int, tuple[str, ...]] = {
    1: ("eval-ckpt", "dataprep", "tokenize-shard", "unit-bench", "profile-kernel"),
    2: ("finetune-bert", "lora-sweep", "whisper-ft", "eval-suite"),
    4: ("resnet50-ddp", "vit-pretrain", "lora-llama-8b", "diffusion-ft"),
    8: ("llama-70b-sft", "moe-pretrain", "sdxl-train", "rlhf-ppo"),
}
TIME_LIMITS_MIN = (15, 30, 60, 120, 240)


class Phase(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


@dataclass(slots=True)
class SimJob:
    """One job's life. Mutable: the simulator owns it; sources copy it into model.Job."""

    job_id: int
    name: str
    user: str
    account: str
    partition: str
    node_count: int
    gpus_per_node: int
    run_ticks: int
    time_limit_min: int
    outcome: JobState
    submit_tick: int
    # Load profile: utilization = level + amplitude * sin(2 pi (t - start) / period + phase).
    util_level: float
    util_amplitude: float
    util_period_ticks: float
    util_phase: float
    memory_fraction: float
    idle: bool = False
    phase: Phase = Phase.PENDING
    held: bool = False
    planned_start: int = 0
    # Not eligible to start before this tick (Slurm's BeginTime, set on requeue).
    begin_tick: int = 0
    start_tick: int | None = None
    end_tick: int = 0
    # Node positions and, per node, the GPU indices the job holds or has reserved.
    nodes: tuple[int, ...] = ()
    gpu_indices: tuple[tuple[int, ...], ...] = ()
    # free_at value of each reserved GPU before this job's reservation (to undo it).
    previous_free_at: tuple[int, ...] = ()
    final_state: JobState = JobState.COMPLETED
    finished_tick: int | None = field(default=None)

    @property
    def gpu_total(self) -> int:
        return self.node_count * self.gpus_per_node


def job_time_limit(run_ticks: int) -> int:
    minutes = math.ceil(run_ticks / TICKS_PER_MIN)
    return next((limit for limit in TIME_LIMITS_MIN if limit >= minutes + 5), 10080)


def random_job(
    rng: random.Random,
    job_id: int,
    submit_tick: int,
    node_total: int,
    debug_nodes: int,
    gpus_per_node: int = 8,
) -> SimJob:
    """A job as users submit them: mostly small, some whole-node and multi-node."""
    roll = rng.random()
    partition = "gpu"
    node_count = 1
    if roll < 0.06 and debug_nodes:
        partition, gpus, minutes = "debug", rng.choice((1, 2)), rng.uniform(2, 10)
    elif roll < 0.34:
        gpus, minutes = 1, rng.uniform(3, 20)
    elif roll < 0.54:
        gpus, minutes = 2, rng.uniform(5, 30)
    elif roll < 0.74:
        gpus, minutes = 4, rng.uniform(8, 40)
    elif roll < 0.93 or node_total < 4:
        gpus, minutes = 8, rng.uniform(10, 60)
    else:
        gpus, minutes = 8, rng.uniform(15, 60)
        node_count = rng.randint(2, max(2, min(4, node_total // 4)))
    gpus = min(gpus, gpus_per_node)
    user, account = rng.choice(USERS)
    run_ticks = max(2, min(MAX_RUN_TICKS, round(minutes * TICKS_PER_MIN)))
    time_limit = job_time_limit(run_ticks)
    outcome = JobState.COMPLETED
    if rng.random() < 0.08:
        outcome = JobState.FAILED
        run_ticks = max(1, round(run_ticks * rng.uniform(0.1, 0.9)))
    name = rng.choice(NAMES_BY_SIZE.get(gpus, NAMES_BY_SIZE[8]))
    if partition == "debug":
        name = "debug-" + name
    return SimJob(
        job_id=job_id,
        name=name,
        user=user,
        account=account,
        partition=partition,
        node_count=node_count,
        gpus_per_node=gpus,
        run_ticks=run_ticks,
        time_limit_min=time_limit,
        outcome=outcome,
        submit_tick=submit_tick,
        util_level=rng.uniform(45.0, 88.0),
        util_amplitude=rng.uniform(4.0, 15.0),
        util_period_ticks=rng.uniform(12.0, 120.0),
        util_phase=rng.uniform(0.0, 2 * math.pi),
        memory_fraction=rng.uniform(0.25, 0.85),
    )


def idle_notebook_job(job_id: int) -> SimJob:
    """The scripted job that holds one GPU and barely uses it (money burning)."""
    return SimJob(
        job_id=job_id,
        name="jupyter-lab",
        user="dave",
        account="vision",
        partition="gpu",
        node_count=1,
        gpus_per_node=1,
        run_ticks=7 * 24 * 60 * TICKS_PER_MIN,
        time_limit_min=10080,
        outcome=JobState.COMPLETED,
        submit_tick=0,
        util_level=1.0,
        util_amplitude=1.0,
        util_period_ticks=97.0,
        util_phase=0.0,
        memory_fraction=0.05,
        idle=True,
    )
