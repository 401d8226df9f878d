"""The history store across real processes: a killed writer, a reader beside a live writer."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tui.store import Store

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
NODES = 128
GPUS = 8
T0 = 1_800_000_000.0

# Writes one cycle every loop, printing the cycle number after each commit.
WRITER = """
import asyncio, sys
from tui.model import ClusterSnapshot, Gpu
from tui.store import Store

async def main(path, nodes, t0):
    store = await Store.open(path)
    gpus = [
        tuple(
            Gpu(node=f"gpu-{n:04d}", index=i, utilization_pct=float(u), memory_used_mib=1.0,
                memory_total_mib=80.0, temperature_c=50.0, power_w=300.0, sm_clock_mhz=1410.0)
            for n in range(nodes) for i in range(8)
        )
        for u in range(4)
    ]
    cycle = 0
    while True:
        snapshot = ClusterSnapshot(taken_at=t0 + 5 * cycle, gpus=gpus[cycle % 4])
        await store.write_snapshot(snapshot)
        print(cycle, flush=True)
        cycle += 1

asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
"""


async def start_writer(path: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WRITER,
        str(path),
        str(NODES),
        str(T0),
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_for_cycle(proc: asyncio.subprocess.Process, cycle: int) -> int:
    """Read the writer's output until it reports `cycle` committed; returns the last seen."""
    assert proc.stdout is not None and proc.stderr is not None
    seen = -1
    while seen < cycle:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        if not line:
            error = (await proc.stderr.read()).decode(errors="replace")
            pytest.fail(f"writer process exited early: {error.strip().splitlines()[-1:]}")
        seen = int(line)
    return seen


async def kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGKILL)
    await proc.wait()


async def cycle_sizes(store: Store) -> dict[float, int]:
    rows = await store.db.execute_fetchall("SELECT ts, count(*) FROM gpu_samples GROUP BY ts")
    return {ts: count for ts, count in rows}


@pytest.mark.parametrize("delay_s", [0.0, 0.013, 0.029])
async def test_writer_killed_mid_cycle_leaves_only_whole_cycles(
    tmp_path: Path, delay_s: float
) -> None:
    path = tmp_path / "history.db"
    proc = await start_writer(path)
    try:
        # Past the first minute so that rollups run too; then kill at an arbitrary moment.
        last_reported = await wait_for_cycle(proc, 14)
        await asyncio.sleep(delay_s)
    finally:
        await kill(proc)
    assert proc.returncode == -signal.SIGKILL

    reader = await Store.open(path, readonly=True)
    try:
        sizes = await cycle_sizes(reader)
        assert set(sizes.values()) == {NODES * GPUS}, "a partial cycle was left behind"
        assert len(sizes) >= last_reported + 1
        assert sorted(sizes) == [T0 + 5 * k for k in range(len(sizes))]
        rollups = await reader.db.execute_fetchall(
            "SELECT minute, count(*), min(samples), max(samples) FROM gpu_rollups_1m "
            "GROUP BY minute"
        )
        assert [tuple(r) for r in rollups][:1] == [(T0, NODES * GPUS, 12, 12)]
        integrity = await reader.db.execute_fetchall("PRAGMA integrity_check")
        assert list(integrity) == [("ok",)]
    finally:
        await reader.close()

    writer = await Store.open(path)  # the collector restarting on the same file
    await writer.close()


async def test_reader_process_queries_while_another_process_writes(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    proc = await start_writer(path)
    try:
        await wait_for_cycle(proc, 0)
        reader = await Store.open(path, readonly=True, busy_timeout_s=1.0)
        try:
            seen_cycles: list[int] = []
            for _ in range(40):
                sizes = await cycle_sizes(reader)
                assert set(sizes.values()) == {NODES * GPUS}
                history = await reader.gpu_history(
                    "gpu-0042", "utilization_pct", T0, T0 + 3600, 120
                )
                assert sorted(history) == list(range(GPUS))
                seen_cycles.append(len(sizes))
                await asyncio.sleep(0.02)
            assert proc.returncode is None, "the writer stopped while being read"
        finally:
            await reader.close()
    finally:
        await kill(proc)
    assert seen_cycles == sorted(seen_cycles)
    assert seen_cycles[-1] > seen_cycles[0], "the reader never saw new cycles"
