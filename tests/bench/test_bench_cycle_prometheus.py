"""BENCH cycle_1024_nodes_via_prometheus_s: the cycle when Prometheus scrapes the nodes.

Past a few thousand nodes the exporters are better scraped by Prometheus (or Thanos, Mimir,
VictoriaMetrics, which shard the scrape) and clusterdash reads one PromQL answer per cycle.
Here a real Prometheus scrapes the 1,024-node simulator (each node on its own loopback
address, as in test_bench_cycle.py) and the measured process runs production's wiring with
the Prometheus GPU source: Slurm fetch and parse, one instant query, store, alerts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.report import bench, ratio
from tests.bench.sim_process import SimFleet, sim_server_process
from tests.bench.test_bench_cycle import CYCLES, run_probe
from tests.integration.prometheus_process import running_prometheus

NODES = 1024
TARGET_S = 0.5
SCRAPE_INTERVAL = "15s"


def prometheus_config(fleet: SimFleet, path: Path) -> Path:
    targets = [url.removeprefix("http://").removesuffix("/metrics") for _, url in fleet.targets()]
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": "10s"},
        "scrape_configs": [{"job_name": "dcgm", "static_configs": [{"targets": targets}]}],
    }
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def every_node_scraped(result: list) -> bool:
    return bool(result) and float(result[0]["value"][1]) >= NODES - 1


@pytest.mark.bench
@pytest.mark.timeout(900)
def test_bench_cycle_1024_nodes_via_prometheus(tmp_path: Path) -> None:
    with sim_server_process(NODES, tmp_path / "bin") as fleet:
        config = prometheus_config(fleet, tmp_path / "prometheus.yml")
        with running_prometheus(
            config,
            tmp_path,
            ready_query="count(count by (Hostname) (DCGM_FI_DEV_GPU_UTIL))",
            ready=every_node_scraped,
            not_ready="Prometheus did not scrape every simulated node",
            ready_timeout_s=240.0,
        ) as base:
            probe = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.bench.cycle_probe",
                    str(fleet.port),
                    str(NODES),
                    str(fleet.bin_dir),
                    str(tmp_path / "bench.sqlite3"),
                    str(CYCLES),
                    base,
                ],
                capture_output=True,
                text=True,
                timeout=600,
                env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")},
            )
    if probe.returncode != 0:
        pytest.fail(f"cycle probe failed: {probe.stderr.strip().splitlines()[-1:]}")
    via_prometheus = json.loads(probe.stdout)
    name = f"cycle_{NODES}_nodes_via_prometheus"
    bench(f"{name}_s", via_prometheus["median_s"], "s", at_most=TARGET_S)
    for part in ("slurm", "slurm_parse", "gpu", "store", "alerts"):
        bench(f"{name}_{part}_s", via_prometheus[f"{part}_s"], "s")
    bench(f"{name}_peak_rss_mb", via_prometheus["peak_rss_mb"], "MB")
    direct = run_probe(NODES, tmp_path / "direct")
    bench(f"cycle_{NODES}_nodes_direct_same_run_s", direct["median_s"], "s")
    ratio(f"{name}", via_prometheus["median_s"], direct["median_s"], "direct_scrape")
