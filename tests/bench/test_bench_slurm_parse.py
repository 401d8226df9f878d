"""Slurm text parse at scale, and how long it holds the event loop.

The text is 1,000 nodes and 5,000 jobs in Slurm 23.11's shape (tests/slurm_scale.py). The
reference is the general reader (every pair of every line, nothing remembered) run the way
the source ran it before: in a worker thread. Both are measured in the same run.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests import slurm_scale
from tests.bench.report import bench, ratio
from tui.gc_tuning import calm_gc
from tui.sources import slurm_text
from tui.sources.base import SlurmState
from tui.sources.slurm import JOBS_TEXT_ARGV, NODES_TEXT_ARGV, TEXT_ENV, SlurmSource

pytestmark = [pytest.mark.bench, pytest.mark.timeout(300)]

NODES = 1000
JOBS = 5000
SIZE = f"{NODES}n_{JOBS}j"
MAX_PARSE_CPU_MS = 250.0
MAX_LOOP_LAG_MS = 50.0
ROUNDS = 7
FETCHES = 6
UI_FRAME_CPU_S = 0.02


def cpu_ms(*actions: Callable[[], object]) -> list[float]:
    """Median CPU ms of each action; rounds alternate, so load on a shared machine hits all."""
    samples: list[list[float]] = [[] for _ in actions]
    restore_gc = calm_gc()  # as the dashboard and `collect` run
    try:
        for _ in range(ROUNDS):
            for action, taken in zip(actions, samples, strict=True):
                started = time.process_time()
                action()
                taken.append((time.process_time() - started) * 1000.0)
    finally:
        restore_gc()
    return [statistics.median(taken) for taken in samples]


def test_bench_parse_cpu() -> None:
    nodes_text = slurm_scale.nodes_text(NODES)
    jobs_text = slurm_scale.jobs_text(JOBS, NODES)

    def fast() -> tuple[int, int]:
        return len(slurm_text.parse_nodes(nodes_text)), len(slurm_text.parse_jobs(jobs_text))

    def reference() -> tuple[int, int]:
        nodes = slurm_text.parse_nodes(nodes_text, fast=False)
        return len(nodes), len(slurm_text.parse_jobs(jobs_text, fast=False))

    assert fast() == reference() == (NODES, JOBS)
    fast_ms, reference_ms = cpu_ms(fast, reference)
    bench(f"slurm_parse_{SIZE}_cpu_ms", fast_ms, "ms", at_most=MAX_PARSE_CPU_MS, digits=0)
    bench(f"slurm_parse_{SIZE}_reference_cpu_ms", reference_ms, "ms", digits=0)
    ratio(f"slurm_parse_{SIZE}_cpu", fast_ms, reference_ms, "reference")
    bench(f"slurm_output_text_{SIZE}_bytes", len(nodes_text) + len(jobs_text), "B", digits=0)


def fake_slurm(bin_dir: Path, nodes_text: str, jobs_text: str) -> None:
    """Stand-in scontrol and sinfo that print the scale text, as the real ones would."""
    bin_dir.mkdir()
    (bin_dir / "nodes.txt").write_text(nodes_text)
    (bin_dir / "jobs.txt").write_text(jobs_text)
    scripts = {
        "scontrol": f'case "$2" in node) cat {bin_dir}/nodes.txt;; *) cat {bin_dir}/jobs.txt;; esac',  # noqa: E501
        "sinfo": "echo slurm 23.11.10",
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)


async def lags_ms(work: Callable[[], Awaitable[object]]) -> list[float]:
    """The loop's delays past a 5 ms sleep while `work` runs FETCHES times, with UI frames.

    A stand-in for the screen: every 50 ms a frame takes UI_FRAME_CPU_S of the loop thread's
    own CPU (as a 1,024-node apply and repaint does on a quiet machine). A parse in a thread
    takes the GIL from it in 5 ms turns, so the frame's wall time stretches.
    """
    lags: list[float] = []
    running = True

    async def sample() -> None:
        while running:
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append((time.perf_counter() - started - 0.005) * 1000.0)

    async def frames() -> None:
        while running:
            await asyncio.sleep(0.05)
            done = time.thread_time() + UI_FRAME_CPU_S
            while time.thread_time() < done:
                pass

    tasks = [asyncio.create_task(sample()), asyncio.create_task(frames())]
    try:
        for _ in range(FETCHES):
            await work()
    finally:
        running = False
        await asyncio.gather(*tasks)
    return lags


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


async def thread_fetch(source: SlurmSource) -> SlurmState:
    """The source's text fetch as it was: the general reader in a worker thread."""
    nodes_out = await source.cli.output(NODES_TEXT_ARGV, TEXT_ENV)
    jobs_out = await source.cli.output(JOBS_TEXT_ARGV, TEXT_ENV)

    def parse() -> SlurmState:
        return SlurmState(
            nodes=slurm_text.parse_nodes(nodes_out, fast=False),
            jobs=slurm_text.parse_jobs(jobs_out, fast=False),
            version="",
        )

    return await asyncio.to_thread(parse)


async def test_bench_loop_lag_while_parsing(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_slurm(bin_dir, slurm_scale.nodes_text(NODES), slurm_scale.jobs_text(JOBS, NODES))
    source = SlurmSource(bin_dir=bin_dir)
    state = await source.fetch()
    assert len(state.nodes) == NODES and len(state.jobs) == JOBS
    assert (await thread_fetch(source)).jobs == state.jobs

    async def commands_only() -> None:
        await source.cli.output(NODES_TEXT_ARGV, TEXT_ENV)
        await source.cli.output(JOBS_TEXT_ARGV, TEXT_ENV)

    restore_gc = calm_gc()  # as the dashboard and `collect` run
    try:
        idle = await lags_ms(commands_only)
        thread = await lags_ms(lambda: thread_fetch(source))
        slices = await lags_ms(source.fetch)
    finally:
        restore_gc()
    for stat, figure in (("max", max), ("p99", p99)):
        name = f"slurm_fetch_{SIZE}_{stat}_loop_lag"
        target = MAX_LOOP_LAG_MS if stat == "max" else None
        bench(f"{name}_ms", figure(slices), "ms", at_most=target, digits=1)
        bench(f"{name}_thread_ms", figure(thread), "ms", digits=1)
        bench(f"slurm_commands_{SIZE}_{stat}_loop_lag_ms", figure(idle), "ms", digits=1)
        ratio(name, figure(slices), figure(thread), "thread")
