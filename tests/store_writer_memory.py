"""A history store writer in a process of its own: 1,024 nodes of 8 GPUs written every 5 s
of a simulated clock, so that each minute's rollup sorts about 100,000 rows.

Run as `python -m tests.store_writer_memory DB MINUTES [--unmap-large-blocks]`; prints one
JSON line per closed minute: the process's RSS and SQLite's own memory (its page cache and
statements), in MiB, after that minute's rollup.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
from pathlib import Path

from loguru import logger

from tests.store_snapshots import gpu_snapshot
from tui.malloc_tuning import unmap_large_blocks
from tui.model import ClusterSnapshot
from tui.store import Store

NODES = 1024
GPUS_PER_NODE = 8
STEP_S = 5.0
START = 1_800_000_000.0


def snapshot(cycle: int) -> ClusterSnapshot:
    return gpu_snapshot(START + cycle * STEP_S, cycle, NODES, GPUS_PER_NODE)


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def sqlite_library() -> ctypes.CDLL:
    """The SQLite library the sqlite3 module loaded, for its memory counter."""
    with open("/proc/self/maps", encoding="utf-8") as maps:
        for line in maps:
            if "libsqlite3" in line:
                library = ctypes.CDLL(line.split()[-1])
                library.sqlite3_memory_used.restype = ctypes.c_int64
                return library
    raise RuntimeError("the sqlite3 module's SQLite library is not loaded")


async def write(path: Path, minutes: int) -> None:
    store = await Store.open(path)
    sqlite = sqlite_library()
    try:
        for cycle in range(1, minutes * 12 + 1):
            await store.write_snapshot(snapshot(cycle))
            if cycle % 12 == 1 and cycle > 1:  # the first write of a minute rolls up the last
                used = sqlite.sqlite3_memory_used() / 2**20
                print(json.dumps({"rss_mib": rss_mib(), "sqlite_mib": used}), flush=True)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path)
    parser.add_argument("minutes", type=int)
    parser.add_argument("--unmap-large-blocks", action="store_true")
    args = parser.parse_args()
    logger.remove()
    if args.unmap_large_blocks and not unmap_large_blocks():
        raise SystemExit("the C library refused the mmap threshold")
    asyncio.run(write(args.db, args.minutes + 1))


if __name__ == "__main__":
    main()
