"""A viewer reads its collector's snapshots without holding the event loop its screen runs on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.ui.fake_cluster import FIXED_NOW, make_gpus, make_jobs, make_nodes
from tui.collect_client import RemoteCollector
from tui.model import ClusterSnapshot
from tui.snapshot_wire import encode


def snapshot_line(count: int) -> bytes:
    nodes = make_nodes(count)
    snapshot = ClusterSnapshot(
        taken_at=FIXED_NOW,
        nodes=tuple(nodes),
        gpus=tuple(make_gpus(nodes)),
        jobs=tuple(make_jobs(nodes)),
    )
    return (json.dumps({"event": "snapshot", "snapshot": encode(snapshot)}) + "\n").encode()


async def test_the_loop_keeps_running_while_a_snapshot_is_read(tmp_path: Path) -> None:
    viewer = RemoteCollector(tmp_path / "collect.sock", "demo", demo=False)
    reader = asyncio.StreamReader(limit=1 << 24)
    reader.feed_data(snapshot_line(64))
    turns = 0
    reading = True

    async def screen() -> None:  # stands for the screen: keys, repaints
        nonlocal turns
        while reading:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(screen())
    await asyncio.sleep(0)
    before = turns
    assert await viewer._read(reader)
    reading = False
    await other
    assert len(viewer.latest.nodes) == 64 and viewer.latest.gpus
    assert turns > before, "the loop ran nothing else while the snapshot was decoded"
