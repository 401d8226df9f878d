"""One collector, many viewers: scrape amplification, attach first paint, CPU per viewer.

Figures are printed as BENCH lines with the target met or missed; nothing is asserted.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.bench.report import bench
from tests.collect_process import Collect
from tests.unit.exposition_server import Reply, serve
from tui.app.app import ClusterDashApp
from tui.collect_client import RemoteCollector
from tui.config import load_settings

pytestmark = [pytest.mark.bench, pytest.mark.timeout(300)]

VIEWERS = 8
NODES = 1024
TARGET_AMPLIFICATION = 1.0
TARGET_FIRST_PAINT_S = 1.0
TARGET_CPU_PER_VIEWER_PCT = 1.0
FIXTURE = Path(__file__).parents[1] / "fixtures" / "exposition" / "dcgm-exporter-3.x.prom"


def _report(name: str, value: float, unit: str, met: bool, target: str) -> None:
    print(f"BENCH {name} {value:.3f} {unit} (target {target}: {'met' if met else 'missed'})")


async def _until(condition: Callable[[], bool], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.01)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, CLUSTERDASH_STORE_PATH=str(tmp_path / "h.sqlite3"), **extra)


async def _viewers(
    socket: Path, count: int
) -> tuple[list[RemoteCollector], list[asyncio.Task[None]]]:
    viewers = [RemoteCollector(socket, "bench", demo=True) for _ in range(count)]
    tasks = [asyncio.create_task(v.run()) for v in viewers]
    await _until(lambda: all(v.connected.is_set() for v in viewers), 60)
    return viewers, tasks


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _first_full_cycle(socket: Path) -> None:
    """Wait until the collector has read every node's GPUs once."""
    probe = RemoteCollector(socket, "bench", demo=True)
    for _ in range(240):
        if len((await probe.collect_once()).gpus) >= NODES * 8:
            return
        await asyncio.sleep(0.5)


async def test_viewer_scrape_amplification(tmp_path: Path) -> None:
    window_s = 6.0
    with serve({"/metrics": Reply(FIXTURE.read_text())}) as exporter:
        config = tmp_path / "c.toml"
        config.write_text(
            f'[slurm]\nenabled = false\n[gpu]\ntargets = ["{exporter.url("/metrics")}"]\n'
            'interval = "1s"\n[cluster]\nname = "bench"\n'
        )
        collect = Collect(_env(tmp_path), "--config", str(config)).start()
        try:
            await asyncio.sleep(2)
            before = len(exporter.requests)
            await asyncio.sleep(window_s)
            alone = len(exporter.requests) - before
            _, tasks = await _viewers(collect.socket, VIEWERS)
            before = len(exporter.requests)
            await asyncio.sleep(window_s)
            attached = len(exporter.requests) - before
            await _stop(tasks)
        finally:
            collect.stop()
    ratio = attached / alone if alone else float("nan")
    _report("viewer_scrape_amplification", ratio, "x", ratio <= TARGET_AMPLIFICATION + 0.2, "1.0")


async def test_attach_first_paint_and_collector_cpu_per_viewer(tmp_path: Path) -> None:
    env = _env(tmp_path, CLUSTERDASH_GPU_INTERVAL="2s")
    collect = Collect(env, "--demo", "--nodes", str(NODES)).start()
    try:
        await _first_full_cycle(collect.socket)

        started = time.perf_counter()
        app = ClusterDashApp(
            load_settings(environ={"CLUSTERDASH_STORE_PATH": str(tmp_path / "h.sqlite3")}),
            "demo",
            state_path=tmp_path / "ui.json",
        )
        async with app.run_test(size=(200, 60)) as pilot:
            while len(app.snapshot.nodes) < NODES and time.perf_counter() - started < 60:
                await pilot.pause(0.01)
            await pilot.pause(0)
            first_paint = time.perf_counter() - started
            # Measured: stop following the collector before the app closes.
            assert app.services is not None
            app.services.collector.unsubscribe(app._on_snapshot)
            app._dirty = False
            await pilot.pause(0.2)
        _report(
            "attach_first_paint_s", first_paint, "s", first_paint <= TARGET_FIRST_PAINT_S, "<= 1.0"
        )

        process = psutil.Process(collect.process.pid)  # type: ignore[union-attr]
        window_s = 10.0

        async def cpu_percent() -> float:
            before = process.cpu_times()
            await asyncio.sleep(window_s)
            after = process.cpu_times()
            used = (after.user - before.user) + (after.system - before.system)
            return 100.0 * used / window_s

        idle = await cpu_percent()
        _, tasks = await _viewers(collect.socket, VIEWERS)
        watched = await cpu_percent()
        await _stop(tasks)
    finally:
        collect.stop()
    per_viewer = (watched - idle) / VIEWERS
    _report(
        "collector_cpu_per_viewer_percent",
        per_viewer,
        "%",
        per_viewer <= TARGET_CPU_PER_VIEWER_PCT,
        "<= 1%",
    )


async def _stream_bytes(socket: Path, *, deltas: bool, updates: int) -> list[int]:
    """The size of each line after the first of one subscription, `updates` of them."""
    reader, writer = await asyncio.open_unix_connection(str(socket), limit=256 << 20)
    request = (
        b'{"id":1,"op":"subscribe","deltas":true}\n' if deltas else b'{"id":1,"op":"subscribe"}\n'
    )
    writer.write(request)
    await writer.drain()
    try:
        await reader.readline()  # the whole snapshot a viewer starts from, either way
        return [len(await reader.readline()) for _ in range(updates)]
    finally:
        writer.close()


async def test_stream_bytes_per_update_with_and_without_deltas(tmp_path: Path) -> None:
    env = _env(tmp_path, CLUSTERDASH_GPU_INTERVAL="2s", CLUSTERDASH_SLURM_INTERVAL="2s")
    collect = Collect(env, "--demo", "--nodes", str(NODES)).start()
    try:
        await _first_full_cycle(collect.socket)
        full, delta = await asyncio.gather(
            _stream_bytes(collect.socket, deltas=False, updates=6),
            _stream_bytes(collect.socket, deltas=True, updates=6),
        )
    finally:
        collect.stop()
    print(f"delta line sizes: {delta}; whole snapshot line sizes: {full}")
    full_mean, delta_mean = sum(full) / len(full), sum(delta) / len(delta)
    bench("collect_stream_bytes_per_update_full", full_mean, "bytes", digits=0)
    bench("collect_stream_bytes_per_update_delta", delta_mean, "bytes", at_most=full_mean, digits=0)
