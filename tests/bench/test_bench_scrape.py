"""BENCH scrape_1024_nodes_s (ScrapeClient vs httpx, side by side in one run) and
dcgm_fast_path_1024_nodes_s (DcgmFastPath vs parse_samples + gpus_from_samples)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest

from tests.bench.sim_process import sim_server_process
from tui.sim import SimCluster
from tui.sim.dcgm import DcgmRenderer
from tui.sources.exporters import DcgmFastPath, DcgmLineCache, gpus_from_samples
from tui.sources.promtext import parse_samples
from tui.sources.scrape_http import ScrapeClient

NODES = 1024
CONCURRENCY = 64


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with sim_server_process(NODES) as base_url:
        yield base_url


async def timed_rounds(get: Callable[[str], Awaitable[int]], urls: list[str]) -> float:
    """Median seconds of 3 rounds of GETting every URL, after one warm-up round."""
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(url: str) -> int:
        async with semaphore:
            return await get(url)

    times = []
    for _ in range(4):
        started = time.perf_counter()
        sizes = await asyncio.gather(*(one(url) for url in urls))
        times.append(time.perf_counter() - started)
        assert min(sizes) > 10_000
    return statistics.median(times[1:])


@pytest.mark.bench
def test_bench_scrape_client_against_httpx(sim_url: str) -> None:
    names = SimCluster(nodes=NODES, seed=0).node_names
    # gpu-0010 is scripted to stop responding for a while: leave it out of both.
    urls = [f"{sim_url}/nodes/{name}/metrics" for name in names if name != "gpu-0010"]

    async def measure() -> tuple[float, float]:
        client = ScrapeClient(max_idle=CONCURRENCY)
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(limits=limits, timeout=10) as reference:

            async def with_httpx(url: str) -> int:
                response = await reference.get(url)
                response.raise_for_status()
                return len(response.text)

            async def with_scrape_client(url: str) -> int:
                return len((await client.get(url)).text())

            try:
                ours = await timed_rounds(with_scrape_client, urls)
                theirs = await timed_rounds(with_httpx, urls)
            finally:
                await client.aclose()
        return ours, theirs

    ours, theirs = asyncio.run(measure())
    print(f"BENCH scrape_1024_nodes_s {ours:.3f} s")
    print(f"BENCH scrape_1024_nodes_httpx_s {theirs:.3f} s")
    print(f"BENCH scrape_1024_nodes_speedup_vs_httpx {theirs / ours:.1f} x")
    assert ours <= 0.4
    assert theirs / ours >= 3


@pytest.mark.bench
def test_bench_dcgm_fast_path_against_general_parser() -> None:
    sim = SimCluster(nodes=NODES, seed=0)
    renderer = DcgmRenderer(sim)
    pages = [(name, renderer.node_payload(i).decode()) for i, name in enumerate(sim.node_names)]

    started = time.perf_counter()
    expected = [gpus_from_samples(parse_samples(text), node=name) for name, text in pages]
    general_s = time.perf_counter() - started

    cache = DcgmLineCache()
    times = []
    for _ in range(3):  # the first cycle learns the pages' heads
        cache.new_cycle()
        started = time.perf_counter()
        got = []
        for name, text in pages:
            fast = DcgmFastPath(cache, name)
            assert fast.feed(text.split("\n"))
            got.append(fast.gpus())
        times.append(time.perf_counter() - started)
    assert got == expected
    fast_s = statistics.median(times)
    print(f"BENCH dcgm_fast_path_1024_nodes_s {fast_s:.3f} s")
    print(f"BENCH dcgm_general_parse_1024_nodes_s {general_s:.3f} s")
    print(f"BENCH dcgm_fast_path_speedup {general_s / fast_s:.1f} x")
    assert fast_s <= 0.35
