"""The Grafana dashboards against pages shaped like a real dcgm-exporter's, not only ours:
a real Prometheus scrapes the dcgm-exporter fixtures and every GPU panel answers."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.integration.prometheus_process import (
    DASHBOARDS,
    api,
    dashboard_queries,
    running_prometheus,
)
from tests.unit.exposition_server import Reply, serve

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = [
    ROOT / "tests" / "fixtures" / "exposition" / name
    for name in ("dcgm-exporter-3.x.prom", "dcgm-exporter-4.x.prom")
]
# dcgm-exporter's etc/default-counters.csv: what a stock dcgm-exporter publishes.
DCGM_DEFAULT_COUNTERS = frozenset(
    {
        "DCGM_FI_DEV_SM_CLOCK",
        "DCGM_FI_DEV_MEM_CLOCK",
        "DCGM_FI_DEV_MEMORY_TEMP",
        "DCGM_FI_DEV_GPU_TEMP",
        "DCGM_FI_DEV_POWER_USAGE",
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_MEM_COPY_UTIL",
        "DCGM_FI_DEV_ENC_UTIL",
        "DCGM_FI_DEV_DEC_UTIL",
        "DCGM_FI_DEV_XID_ERRORS",
        "DCGM_FI_DEV_FB_FREE",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_FB_RESERVED",
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
        "DCGM_FI_DEV_VGPU_LICENSE_STATUS",
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
        "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
        "DCGM_FI_DEV_ROW_REMAP_FAILURE",
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
        "DCGM_FI_PROF_DRAM_ACTIVE",
        "DCGM_FI_PROF_PCIE_TX_BYTES",
        "DCGM_FI_PROF_PCIE_RX_BYTES",
    }
)
# Fields dcgm-exporter publishes only when enabled in its counters file; panels on them say so.
OPT_IN = frozenset({"DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL"})
# dcgm-exporter's health series is commented out in its default counters file: opt-in.
OPT_IN_HEALTH = frozenset({"DCGM_EXP_GPU_HEALTH_STATUS"})
METRIC = re.compile(r"\b(DCGM_(?:FI|EXP)_[A-Z0-9_]+|slurm_[a-z_]+)\b")  # not label values


def fixture_metrics() -> set[str]:
    names: set[str] = set()
    for fixture in FIXTURES:
        names |= set(re.findall(r"^(DCGM_[A-Z0-9_]+)\{", fixture.read_text(), re.MULTILINE))
    return names


@contextmanager
def scraping(tmp_path: Path, exporter_port: int, paths: list[str]) -> Iterator[str]:
    """A real Prometheus scraping each of `paths` on the loopback exporter every second."""
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": path.strip("/").replace("/", "-"),
                "metrics_path": path,
                "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
            }
            for path in paths
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    with running_prometheus(
        tmp_path / "prometheus.yml",
        tmp_path,
        ready_query="count(up == 1)",
        ready=lambda result: bool(result) and float(result[0]["value"][1]) == len(paths),
        not_ready="Prometheus did not scrape the dcgm-exporter fixtures",
    ) as base:
        yield base


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    routes = {f"/{fixture.stem}/metrics": Reply(fixture.read_text()) for fixture in FIXTURES}
    with serve(dict(routes)) as exporter:
        tmp_path = tmp_path_factory.mktemp("prometheus-dcgm")
        with scraping(tmp_path, exporter.port, list(routes)) as base:
            yield base


def test_gpu_panels_use_only_what_a_stock_dcgm_exporter_publishes() -> None:
    problems = []
    for where, expr in dashboard_queries():
        for name in METRIC.findall(expr):
            if name.startswith("slurm_") or name in OPT_IN | OPT_IN_HEALTH:
                continue
            if name not in DCGM_DEFAULT_COUNTERS:
                problems.append(f"{where}: {name}")
    assert problems == []


def test_no_panel_needs_slurm_accounting() -> None:
    """Without -gpus-acct (it needs sacct) Slurm's exporter publishes no slurm_gpus_*."""
    for where, expr in dashboard_queries():
        assert "slurm_gpus_" not in expr, where


def test_gpu_panels_show_data_from_dcgm_exporter(prometheus: str) -> None:
    available = fixture_metrics()
    checked, empty = 0, []
    for where, expr in dashboard_queries():
        names = set(METRIC.findall(expr))
        if not names or not names <= available:
            continue  # a field these sample pages do not carry
        query = expr.replace("$node", ".*")
        deadline = time.monotonic() + 15  # a rate() needs two scrapes
        while True:
            answer = api(prometheus, "/api/v1/query", query=query)
            assert answer["status"] == "success", (where, answer.get("error"))
            if answer["data"]["result"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if not answer["data"]["result"]:
            empty.append(where)
        checked += 1
    assert empty == []
    assert checked >= 10


def test_allocated_gpus_come_from_the_exporters_job_label(prometheus: str) -> None:
    slurm = json.loads((DASHBOARDS / "slurm.json").read_text())
    (allocated,) = [p for p in slurm["panels"] if p["title"] == "GPUs allocated"]
    expr = allocated["targets"][0]["expr"]
    (series,) = api(prometheus, "/api/v1/query", query=expr)["data"]["result"]
    held = api(prometheus, "/api/v1/query", query='count(DCGM_FI_DEV_GPU_UTIL{hpc_job!=""})')
    expected = float(held["data"]["result"][0]["value"][1]) if held["data"]["result"] else 0.0
    assert float(series["value"][1]) == expected


def panel_expr(dashboard: str, title: str) -> str:
    panels = json.loads((DASHBOARDS / f"{dashboard}.json").read_text())["panels"]
    (panel,) = [panel for panel in panels if panel["title"] == title]
    return str(panel["targets"][0]["expr"])


def wait_for_value(base: str, query: str, expected: float) -> float | None:
    """The query's single value once it equals `expected`, or its last value after 20 s."""
    deadline = time.monotonic() + 20
    value: float | None = None
    while time.monotonic() < deadline:
        result = api(base, "/api/v1/query", query=query)["data"]["result"]
        value = float(result[0]["value"][1]) if len(result) == 1 else None
        if value == expected:
            break
        time.sleep(0.5)
    return value


def test_a_gpu_that_vanishes_from_a_dcgm_exporter_page_counts_as_lost(tmp_path: Path) -> None:
    """A stock dcgm-exporter has no "lost" series: a GPU the driver lost leaves the page."""
    page = (ROOT / "tests" / "fixtures" / "exposition" / "dcgm-exporter-3.x.prom").read_text()
    without_gpu_1 = "".join(
        line for line in page.splitlines(keepends=True) if 'gpu="1"' not in line
    )
    lost = panel_expr("cluster-overview", "GPUs lost")
    per_node = panel_expr("node-gpus", "Lost GPUs").replace("$node", ".*")
    with (
        serve({"/node/metrics": Reply(page)}) as exporter,
        scraping(tmp_path, exporter.port, ["/node/metrics"]) as base,
    ):
        assert wait_for_value(base, lost, 0.0) == 0.0

        exporter.routes["/node/metrics"] = Reply(without_gpu_1)

        assert wait_for_value(base, lost, 1.0) == 1.0
        assert wait_for_value(base, per_node, 1.0) == 1.0
        exporter.routes["/node/metrics"] = Reply("")  # the whole node stops reporting
        assert wait_for_value(base, lost, 0.0) == 0.0  # unknown, not lost
