"""A history store writer does not keep its rollup sorts' memory resident."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="tunes glibc's allocator; a no-op elsewhere"
)

# SQLite's page cache still fills over these minutes (10 MiB of the 16); what the process
# gains on top of it is the rest. Glibc's own threshold kept ~16 MiB more (one sort buffer).
ALLOWED_GROWTH_BEYOND_SQLITE_MIB = 4.0


def test_a_writers_rss_grows_only_with_sqlites_page_cache_across_rollups(
    tmp_path: Path,
) -> None:
    """In a process of its own, which exits with an error if glibc refuses the setting (the
    setting is process-wide, so it is not made in the test runner)."""
    written = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.store_writer_memory",
            str(tmp_path / "history.sqlite3"),
            "3",
            "--unmap-large-blocks",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    minutes = [json.loads(line) for line in written.stdout.splitlines()]
    assert len(minutes) == 3
    first, last = minutes[0], minutes[-1]
    growth = last["rss_mib"] - first["rss_mib"]
    sqlite_growth = last["sqlite_mib"] - first["sqlite_mib"]
    assert growth - sqlite_growth <= ALLOWED_GROWTH_BEYOND_SQLITE_MIB, minutes
