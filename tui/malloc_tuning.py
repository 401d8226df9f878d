"""The C library's handling of big freed blocks, for the process that writes the history store.

glibc serves a request of at least its mmap threshold (128 KiB at start) from a mapping of
its own and unmaps it when freed, but each such free raises the threshold to the freed size
(up to 32 MiB) and the heap's trim threshold to twice that. SQLite's sorter takes a buffer up
to the page cache's size (16 MiB in the store) for every minute's rollup and every GROUP BY,
so once one was freed the next came from the writer thread's heap and stayed resident, and the
10-minute rollup's bigger sort, on a heap fragmented by the page cache, grew it once more: a
step of about +4 MB in `collect` at 1,024 nodes at the first whole 10 minutes, 10-20 minutes
in, after the start's ~15 MB. With the threshold fixed at 1 MiB those buffers are mapped only
while a statement runs: 21 MB less resident after 25 minutes of 1,024-node writes (55 MB
against 76 MB), and no step.
"""

from __future__ import annotations

import ctypes
import platform

# mallopt's parameter number for the mmap threshold (malloc.h); setting it also ends glibc's
# raising of it.
M_MMAP_THRESHOLD = -3
LARGE_BLOCK_BYTES = 2**20


def unmap_large_blocks(threshold_bytes: int = LARGE_BLOCK_BYTES) -> bool:
    """Serve blocks of `threshold_bytes` or more from their own mappings from now on, returned
    to the system when freed; False (and nothing changed) where the C library is not glibc."""
    if platform.libc_ver()[0] != "glibc":
        return False
    return bool(ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, threshold_bytes))
