"""How a simulated GPU's readings follow from the job on it: pure functions, no state.

All values stay inside the simulator's normal bounds (see incidents.py): a busy GPU runs
at 22-100 % utilization, at most 78 C and 86 % memory; an idle one sits near 30 C and 60 W.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from tui.sim.jobs import SimJob

GPU_MODEL = "NVIDIA A100-SXM4-80GB"
GPU_MEMORY_MIB = 81920
MEM_CLOCK_MHZ = 1593
MAX_SM_CLOCK_MHZ = 1410
IDLE_SM_CLOCK_MHZ = 210
THROTTLED_SM_CLOCK_MHZ = 1155
MAX_POWER_W = 400.0
# Time constant of the temperature's lag behind load, in ticks.
THERMAL_TAU_TICKS = 6.0
_TWO_PI = 2 * math.pi


class GpuSample(NamedTuple):
    utilization_pct: int
    memory_used_mib: int
    temperature_c: int
    memory_temperature_c: int
    power_w: float
    sm_clock_mhz: int
    memory_copy_util_pct: int
    xid: int


def jitter_pair(gpu: int, tick: int, seed: int) -> tuple[float, float]:
    """Two deterministic noise values in [-1, 1) for this GPU at this tick."""
    x = (gpu * 0x9E3779B1 + tick * 0x85EBCA77 + seed * 0xC2B2AE3D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    return (x & 0xFFFF) / 32768.0 - 1.0, (x >> 16) / 32768.0 - 1.0


def idle_temperature(gpu: int) -> float:
    return 29.0 + (gpu * 7) % 5


def busy_utilization(job: SimJob, tick: int, noise: float) -> float:
    if job.idle:
        return 1.0 + noise
    start = job.start_tick or 0
    wave = math.sin(_TWO_PI * (tick - start) / job.util_period_ticks + job.util_phase)
    value = job.util_level + job.util_amplitude * wave + 3.0 * noise
    return min(100.0, max(22.0, value))


def target_temperature(gpu: int, job: SimJob | None, utilization: float, noise: float) -> float:
    """Where the temperature settles for this load."""
    if job is None:
        return idle_temperature(gpu) + 0.5 * noise
    if job.idle:
        return idle_temperature(gpu) + 3.0 + 0.5 * noise
    return 33.0 + 0.44 * utilization + noise


def lagged_temperature(target: float, heat_from: float, changed_tick: int, tick: int) -> float:
    """The temperature relaxes from its value at the last load change towards the target."""
    age = tick - changed_tick
    if age >= 10 * THERMAL_TAU_TICKS:
        return target
    return target + (heat_from - target) * math.exp(-age / THERMAL_TAU_TICKS)


def sample(
    gpu: int,
    job: SimJob | None,
    tick: int,
    seed: int,
    heat_from: float,
    changed_tick: int,
) -> GpuSample:
    """One GPU's readings at a tick, before any incident is applied (called per GPU per tick)."""
    noise_a, noise_b = jitter_pair(gpu, tick, seed)
    if job is None:
        utilization = 0.0
        memory = 0
        power = 61.0 + 2.0 * noise_b
        sm_clock = IDLE_SM_CLOCK_MHZ
        copy_util = 0
    else:
        utilization = busy_utilization(job, tick, noise_a)
        wobble = 1.0 + 0.01 * math.sin(_TWO_PI * tick / 41.0 + job.util_phase)
        memory = int(job.memory_fraction * GPU_MEMORY_MIB * wobble)
        if job.idle:
            power = 68.0 + 2.0 * noise_b
            sm_clock = IDLE_SM_CLOCK_MHZ
            copy_util = 0
        else:
            power = 75.0 + 3.1 * utilization + 5.0 * noise_b
            sm_clock = min(MAX_SM_CLOCK_MHZ, int(1080 + 4 * utilization) // 15 * 15)
            copy_util = int(0.45 * utilization + 3.0 * noise_b + 0.5)
    target = target_temperature(gpu, job, utilization, noise_b)
    temperature = int(lagged_temperature(target, heat_from, changed_tick, tick) + 0.5)
    return GpuSample(
        int(utilization + 0.5),
        memory,
        temperature,
        temperature + 3,
        round(power, 3),
        sm_clock,
        copy_util,
        0,
    )


def unrounded_temperature(
    gpu: int, job: SimJob | None, tick: int, seed: int, heat_from: float, changed_tick: int
) -> float:
    """The temperature before rounding: the starting point of the next thermal change."""
    noise_a, noise_b = jitter_pair(gpu, tick, seed)
    utilization = 0.0 if job is None else busy_utilization(job, tick, noise_a)
    target = target_temperature(gpu, job, utilization, noise_b)
    return lagged_temperature(target, heat_from, changed_tick, tick)
