"""Simulator costs at 1024 nodes x 8 GPUs: a tick, a full render, a full scrape of the server."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.bench.report import bench
from tests.unit.test_sim_server import scrape_all
from tui.sim import SimCluster, SimExporterServer
from tui.sim.dcgm import DcgmRenderer

pytestmark = pytest.mark.bench
NODES = 1024


def test_tick_cost() -> None:
    now = [1_700_000_000.0]
    sim = SimCluster(nodes=NODES, seed=0, start=now[0], clock=lambda: now[0])
    costs = []
    for _ in range(720):  # one simulated hour
        now[0] += 5
        started = time.perf_counter()
        sim.sync()
        costs.append(time.perf_counter() - started)
    mean_ms = sum(costs) / len(costs) * 1000
    bench("sim_tick_1024_nodes", mean_ms, "ms", at_most=30, digits=2)


def test_render_all_nodes() -> None:
    sim = SimCluster(nodes=NODES, seed=0)
    renderer = DcgmRenderer(sim)
    for node in range(NODES):
        renderer.node_payload(node)  # label templates
    sim.version += 1
    started = time.perf_counter()
    size = sum(len(renderer.node_payload(node)) for node in range(NODES))
    elapsed_ms = (time.perf_counter() - started) * 1000
    bench("sim_render_1024_nodes", elapsed_ms, "ms", at_most=300, digits=0)
    bench("sim_render_1024_nodes_mib", size / 2**20, "MiB", digits=1)


def test_serve_all_nodes() -> None:
    async def scrape() -> float:
        sim = SimCluster(nodes=NODES, seed=0)
        server = SimExporterServer(sim)
        await server.start()
        try:
            await scrape_all(server.port, sim.node_names, 16)
            sim.version += 1
            started = time.perf_counter()
            await scrape_all(server.port, sim.node_names, 16)
            return time.perf_counter() - started
        finally:
            await server.stop()

    elapsed_ms = asyncio.run(scrape()) * 1000
    bench("sim_serve_1024_nodes", elapsed_ms, "ms", at_most=500, digits=0)
