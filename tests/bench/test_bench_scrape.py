"""BENCH scrape_1024_nodes_s (ScrapeClient against httpx and aiohttp, side by side in one run,
each node on its own loopback address) and dcgm_fast_path_1024_nodes_s (DcgmFastPath
against parse_samples + gpus_from_samples)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests.bench.report import bench, ratio
from tests.bench.sim_process import SimFleet, sim_server_process
from tests.bench.sim_serve import raise_open_file_limit
from tui.sim import SimCluster
from tui.sim.dcgm import DcgmRenderer
from tui.sources.exporters import DcgmFastPath, DcgmLineCache, gpus_from_samples
from tui.sources.promtext import parse_samples
from tui.sources.scrape_http import ScrapeClient

NODES = 1024
CONCURRENCY = 64


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimFleet]:
    raise_open_file_limit()
    bin_dir: Path = tmp_path_factory.mktemp("sim") / "bin"
    with sim_server_process(NODES, bin_dir) as served:
        yield served


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
def test_bench_scrape_client_against_httpx_and_aiohttp(fleet: SimFleet) -> None:
    # gpu-0010 is scripted to stop responding for a while: leave it out of all three.
    urls = [url for name, url in fleet.targets() if name != "gpu-0010"]
    pool = len(urls)  # one keep-alive connection per exporter, reused across rounds

    async def measure() -> tuple[float, float, float]:
        client = ScrapeClient(max_idle=pool)
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        connector = aiohttp.TCPConnector(limit=pool, limit_per_host=1)
        async with (
            httpx.AsyncClient(limits=limits, timeout=30) as with_httpx_client,
            aiohttp.ClientSession(connector=connector) as session,
        ):

            async def with_httpx(url: str) -> int:
                response = await with_httpx_client.get(url)
                response.raise_for_status()
                return len(response.text)

            async def with_aiohttp(url: str) -> int:
                async with session.get(url) as response:
                    response.raise_for_status()
                    return len(await response.text())

            async def with_scrape_client(url: str) -> int:
                return len((await client.get(url)).text())

            try:
                ours = await timed_rounds(with_scrape_client, urls)
                httpx_s = await timed_rounds(with_httpx, urls)
                aiohttp_s = await timed_rounds(with_aiohttp, urls)
            finally:
                await client.aclose()
        return ours, httpx_s, aiohttp_s

    ours, httpx_s, aiohttp_s = asyncio.run(measure())
    bench("scrape_1024_nodes_s", ours, "s", at_most=0.4)
    bench("scrape_1024_nodes_httpx_s", httpx_s, "s")
    bench("scrape_1024_nodes_aiohttp_s", aiohttp_s, "s")
    ratio("scrape_1024_nodes", ours, httpx_s, "httpx")
    ratio("scrape_1024_nodes", ours, aiohttp_s, "aiohttp")


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
    bench("dcgm_fast_path_1024_nodes_s", fast_s, "s", at_most=0.35)
    bench("dcgm_general_parse_1024_nodes_s", general_s, "s")
    ratio("dcgm_fast_path_1024_nodes", fast_s, general_s, "general_parser")
