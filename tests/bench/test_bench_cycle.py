"""BENCH cycle_1024_nodes_s and cycle_1024_nodes_peak_rss_mb.

The simulator serves its exporters from its own process (as real nodes would), and
the measured process scrapes, parses, builds the snapshot and writes the store.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.sim_process import sim_server_process

NODES = 1024
CYCLES = 5


@pytest.mark.bench
def test_bench_full_cycle_1024_nodes(tmp_path: Path) -> None:
    with sim_server_process(NODES) as base_url:
        probe = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).with_name("cycle_probe.py")),
                base_url,
                str(NODES),
                str(tmp_path / "bench.sqlite3"),
                str(CYCLES),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
    result = json.loads(probe.stdout)
    print(f"BENCH cycle_1024_nodes_s {result['median_s']:.3f} s")
    print(f"BENCH cycle_1024_nodes_best_s {result['best_s']:.3f} s")
    print(f"BENCH cycle_1024_nodes_peak_rss_mb {result['peak_rss_mb']:.0f} MB")
    assert result["median_s"] <= 1.0
    assert result["peak_rss_mb"] <= 300
