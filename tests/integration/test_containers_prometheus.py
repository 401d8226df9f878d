"""A real Prometheus, started with compose.yaml's flags and our scrape config, scrapes the GPU
exporter (fake NVML) and answers every Grafana dashboard query."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from containers.gpu_exporter.exporter import GpuExporter
from containers.gpu_exporter.nvml_reader import NvmlReader
from containers.gpu_exporter.server import ExporterServer
from tests.fixtures.containers.fake_nvml import FakeNvml, eight_gpus
from tests.integration.prometheus_process import api, dashboard_queries, running_prometheus
from tests.ports import free_port

pytestmark = pytest.mark.integration

CONTAINERS = Path(__file__).resolve().parents[2] / "containers"


@pytest.fixture(scope="module")
def exporter_address() -> Iterator[str]:
    nvml = FakeNvml(eight_gpus())
    nvml.gpus[2].util = 1  # held by a job while idle: the "money burning" panel has data
    nvml.gpus[7].lost = True
    reader = NvmlReader(nvml)
    reader.start()
    exporter = GpuExporter(reader, "gpu-01", jobs_by_gpu=lambda: {0: "42", 1: "42", 2: "43"})
    server = ExporterServer(("127.0.0.1", 0), exporter)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, exporter_address: str) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("prometheus")
    config_dir = tmp_path / "etc"
    (config_dir / "targets").mkdir(parents=True)
    config = yaml.safe_load((CONTAINERS / "prometheus" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["scrape_timeout"] = "1s"
    for job in config["scrape_configs"]:
        job["scrape_interval"] = "1s"
        job["scrape_timeout"] = "1s"
        if job["job_name"] == "clusterdash-sim":
            job["static_configs"] = [{"targets": [f"127.0.0.1:{free_port()}"]}]
    (config_dir / "prometheus.yml").write_text(yaml.safe_dump(config))
    (config_dir / "targets" / "gpu.json").write_text(
        json.dumps([{"targets": [exporter_address], "labels": {"role": "pod"}}])
    )
    (config_dir / "targets" / "slurm.json").write_text("[]")

    compose = yaml.safe_load((CONTAINERS / "compose.yaml").read_text())
    flags = [
        flag
        for flag in compose["services"]["prometheus"]["command"]
        if not flag.startswith(("--config.file=", "--storage.tsdb.path="))
    ]
    with running_prometheus(
        config_dir / "prometheus.yml",
        tmp_path,
        ready_query="count(DCGM_FI_DEV_GPU_UTIL)",
        ready=bool,
        not_ready="Prometheus scraped nothing from the exporter within 30s",
        flags=flags,
    ) as base:
        yield base


def test_prometheus_scrapes_the_exporter_with_dcgm_labels(prometheus: str) -> None:
    result = api(prometheus, "/api/v1/query", query="DCGM_FI_DEV_GPU_UTIL")["data"]["result"]
    assert len(result) == 7  # GPU 7 is lost
    labels = next(series["metric"] for series in result if series["metric"]["gpu"] == "0")
    assert labels["job"] == "gpu"
    assert labels["role"] == "pod"
    assert labels["Hostname"] == "gpu-01"
    assert labels["hpc_job"] == "42"

    failed = 'DCGM_EXP_GPU_HEALTH_STATUS{health_error_code="DCGM_FR_FALLEN_OFF_BUS"} == 20'
    lost = api(prometheus, "/api/v1/query", query=failed)["data"]["result"]
    assert [series["metric"]["gpu"] for series in lost] == ["7"]


def test_every_dashboard_query_is_valid_promql(prometheus: str) -> None:
    problems = []
    for where, expr in dashboard_queries():
        answer = api(prometheus, "/api/v1/query", query=expr.replace("$node", ".*"))
        if answer["status"] != "success":
            problems.append(f"{where}: {answer.get('error')}")
    assert problems == []


def test_gpu_panels_show_data(prometheus: str) -> None:
    overview = json.loads(
        (CONTAINERS / "grafana" / "dashboards" / "cluster-overview.json").read_text()
    )
    (lost_panel,) = [
        p["targets"][0]["expr"] for p in overview["panels"] if p["title"] == "GPUs lost"
    ]
    for expr, expected in (
        ("count(DCGM_FI_DEV_GPU_UTIL)", 7.0),
        ('count(DCGM_FI_DEV_GPU_UTIL{hpc_job!=""} < 5) or vector(0)', 1.0),
        (lost_panel, 1.0),
        ("sum(DCGM_FI_DEV_POWER_USAGE)", 7 * 250.0),
    ):
        (series,) = api(prometheus, "/api/v1/query", query=expr)["data"]["result"]
        assert float(series["value"][1]) == expected, expr
