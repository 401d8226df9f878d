"""BENCH page_read_1024_nodes_*: reading one cycle's 1,024 exporter pages, three ways.

The pages are the cycle benchmark's (the simulator's dcgm-exporter pages, ~52 KiB, every
default family, hpc_job labels), rendered at two moments so that every reading changes
between cycles and some jobs too. Measured in the same run: the source as it reads now (a
page's template from the previous cycle where the page kept its shape), DcgmFastPath with
its line cache warm (how the source read before templates) and the general parser with
gpus_from_samples, taking turns. CPU time, the median of several cycles; never asserted.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import pytest

from tests.bench.report import bench, ratio
from tests.bench.sim_serve import START
from tui.gc_tuning import calm_gc
from tui.model import Gpu
from tui.sim import SimCluster
from tui.sim.server import SimExporterServer
from tui.sources.exporters import ExporterGpuSource, ScrapeTarget, gpus_from_samples
from tui.sources.promtext import parse_samples
from tui.sources.scrape_http import ScrapeResponse

NODES = 1024
ROUNDS = 5
# Two moments ten minutes into the scripted run, a poll interval apart.
MOMENTS = (START + 600.0, START + 605.0)


def pages_at_two_moments() -> tuple[list[ScrapeTarget], list[list[ScrapeResponse]]]:
    now = [MOMENTS[0]]
    sim = SimCluster(nodes=NODES, seed=0, start=START, clock=lambda: now[0])
    renderer = SimExporterServer(sim, per_node_addresses=True).renderer
    cycles = []
    for now[0] in MOMENTS:
        sim.sync()
        cycles.append([ScrapeResponse(renderer.node_payload(i), None) for i in range(NODES)])
    targets = [ScrapeTarget(name, f"http://{name}:9400/metrics") for name in sim.node_names]
    return targets, cycles


async def read_cycle(
    read: Callable[[ScrapeResponse, ScrapeTarget], Awaitable[list[Gpu] | str]],
    targets: list[ScrapeTarget],
    pages: list[ScrapeResponse],
) -> list[Gpu]:
    gpus: list[Gpu] = []
    for target, page in zip(targets, pages, strict=True):
        result = await read(page, target)
        assert not isinstance(result, str), result
        gpus.extend(result)
    return gpus


Reader = Callable[[ScrapeResponse, ScrapeTarget], Awaitable[list[Gpu] | str]]


async def cpu_ms_per_cycle(
    readers: list[tuple[Reader, Callable[[], None]]],
    targets: list[ScrapeTarget],
    cycles: list[list[ScrapeResponse]],
) -> list[tuple[float, list[list[Gpu]]]]:
    """For each (reader, what starts its cycle): the median CPU ms of reading a cycle's pages
    and what its last two cycles read. The moments take turns, so do the readers within each
    round (load on a shared machine hits them all); the first round, which learns, is not
    counted."""
    taken: list[list[float]] = [[] for _ in readers]
    read_last: list[list[list[Gpu]]] = [[] for _ in readers]
    for turn in range(ROUNDS + 1):
        for k, (read, new_cycle) in enumerate(readers):
            started = time.process_time()
            new_cycle()
            gpus = await read_cycle(read, targets, cycles[turn % 2])
            if turn:
                taken[k].append((time.process_time() - started) * 1000.0)
            read_last[k] = [*read_last[k][-1:], gpus]
    return [(statistics.median(t), last) for t, last in zip(taken, read_last, strict=True)]


@pytest.mark.bench
@pytest.mark.timeout(600)
async def test_bench_page_read_1024_nodes() -> None:
    targets, cycles = pages_at_two_moments()
    templated = ExporterGpuSource([])
    line_cache_only = ExporterGpuSource([])

    async def with_templates(page: ScrapeResponse, target: ScrapeTarget) -> list[Gpu] | str:
        return await templated.gpus_from_response(page, target)

    async def fast_path(page: ScrapeResponse, target: ScrapeTarget) -> list[Gpu] | str:
        return await line_cache_only.gpus_from_page(page.text(), target)

    async def general(page: ScrapeResponse, target: ScrapeTarget) -> list[Gpu] | str:
        return gpus_from_samples(parse_samples(page.text()), target.node)

    restore_gc = calm_gc()  # as `clusterdash collect` runs
    try:
        (
            (template_ms, template_read),
            (fast_ms, fast_read),
            (general_ms, general_read),
        ) = await cpu_ms_per_cycle(
            [
                (with_templates, lambda: None),
                (fast_path, line_cache_only._line_cache.new_cycle),
                (general, lambda: None),
            ],
            targets,
            cycles,
        )
    finally:
        restore_gc()
        await asyncio.gather(templated.aclose(), line_cache_only.aclose())
    assert template_read == fast_read == general_read
    assert template_read[0] != template_read[1]  # the readings changed between the moments
    bench("page_read_1024_nodes_ms", template_ms, "ms", digits=1)
    bench("page_read_1024_nodes_fast_path_ms", fast_ms, "ms", digits=1)
    bench("page_read_1024_nodes_general_ms", general_ms, "ms", digits=1)
    ratio("page_read_1024_nodes", template_ms, fast_ms, "fast_path")
    ratio("page_read_1024_nodes", template_ms, general_ms, "general")
