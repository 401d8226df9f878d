"""The local stack's files: Grafana dashboards, provisioning, compose, and the pod Dockerfile."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from containers.gpu_exporter.exporter import GpuExporter
from containers.gpu_exporter.nvml_reader import NvmlReader
from tests.fixtures.containers.fake_nvml import FakeNvml, eight_gpus

REPO = Path(__file__).resolve().parents[2]
CONTAINERS = REPO / "containers"
DASHBOARDS = sorted((CONTAINERS / "grafana" / "dashboards").glob("*.json"))
FIXTURES = REPO / "tests" / "fixtures" / "containers"

PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "bool", "offset", "on", "ignoring",
    "group_left", "group_right", "inf", "nan",
}  # fmt: skip
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w$])([A-Za-z_:][A-Za-z0-9_:]*)\b(?!\s*\()")
_LABEL_VALUES = re.compile(r"label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)")


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (functions, keywords and labels left out)."""
    text = _STRINGS.sub("", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name.lower() not in PROMQL_WORDS}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def exprs(dashboard: dict[str, Any]) -> list[str]:
    found = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        found += _LABEL_VALUES.findall(text)
    return found


def provisioned_datasource_uid() -> str:
    path = CONTAINERS / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
    (source,) = yaml.safe_load(path.read_text())["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    return str(source["uid"])


def exporter_metric_names() -> set[str]:
    """Every name the GPU exporter emits, with a lost GPU and an XID so none is missing."""
    nvml = FakeNvml(eight_gpus())
    nvml.gpus[7].lost = True
    reader = NvmlReader(nvml)
    reader.start()
    text = GpuExporter(reader, "node", last_xid=lambda index: 79 if index == 1 else 0).render()
    return {line.split("{")[0] for line in text.splitlines() if line and not line.startswith("#")}


def slurm_exporter_metric_names() -> set[str]:
    lines = (FIXTURES / "slurm_exporter_metrics.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (Hostname) (rate(A_B{gpu="0",x=~"$node"}[5m]))', {"A_B"}),
        ("count(X > 5) or vector(0)", {"X"}),
        ('avg by (hpc_job) (Y{hpc_job!=""}) / on(job) group_left Z', {"Y", "Z"}),
        ("DCGM_FI_DEV_NOT_EMITTED * 100 + 1e3", {"DCGM_FI_DEV_NOT_EMITTED"}),
    ],
)
def test_metric_name_extraction(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_there_are_the_three_dashboards() -> None:
    titles = {load(path)["uid"]: load(path)["title"] for path in DASHBOARDS}
    assert set(titles) == {"clusterdash-overview", "clusterdash-node-gpus", "clusterdash-slurm"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_dashboards_use_only_the_provisioned_datasource(path: Path) -> None:
    uid = provisioned_datasource_uid()
    dashboard = load(path)
    sources = [panel["datasource"] for panel in dashboard["panels"]]
    sources += [
        target["datasource"] for panel in dashboard["panels"] for target in panel["targets"]
    ]
    sources += [variable["datasource"] for variable in dashboard["templating"]["list"]]
    assert sources
    assert all(source == {"type": "prometheus", "uid": uid} for source in sources)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_dashboards_query_only_metrics_the_exporters_emit(path: Path) -> None:
    known = exporter_metric_names() | slurm_exporter_metric_names()
    queried = set().union(*(metric_names(expr) for expr in exprs(load(path))))
    assert queried, "no PromQL found"
    assert queried - known == set()


def test_exporter_emits_every_field_dashboard_12239_needs() -> None:
    emitted = exporter_metric_names()
    for name in (
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_FB_FREE",
        "DCGM_FI_DEV_GPU_TEMP",
        "DCGM_FI_DEV_POWER_USAGE",
        "DCGM_FI_DEV_SM_CLOCK",
        "DCGM_FI_DEV_MEM_CLOCK",
    ):
        assert name in emitted


def test_dashboard_panels_do_not_overlap() -> None:
    for path in DASHBOARDS:
        cells: set[tuple[int, int]] = set()
        for panel in load(path)["panels"]:
            grid = panel["gridPos"]
            area = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert grid["x"] + grid["w"] <= 24, f"{path.name}: {panel['title']} is too wide"
            assert not cells & area, f"{path.name}: {panel['title']} overlaps another panel"
            cells |= area


def test_grafana_loads_the_dashboards_folder() -> None:
    path = CONTAINERS / "grafana" / "provisioning" / "dashboards" / "clusterdash.yaml"
    (provider,) = yaml.safe_load(path.read_text())["providers"]
    compose = yaml.safe_load((CONTAINERS / "compose.yaml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in volumes


def test_compose_keeps_a_week_of_metrics_on_the_seed_ports() -> None:
    services = yaml.safe_load((CONTAINERS / "compose.yaml").read_text())["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]

    assert "--storage.tsdb.retention.time=7d" in prometheus["command"]
    assert "127.0.0.1:9090:9090" in prometheus["ports"]
    assert "127.0.0.1:3001:3000" in grafana["ports"]
    for service in services.values():
        image = service["image"]
        assert ":" in image
        assert not image.endswith(":latest"), image


def test_compose_takes_grafana_credentials_from_the_env_file_only() -> None:
    environment = yaml.safe_load((CONTAINERS / "compose.yaml").read_text())["services"]["grafana"][
        "environment"
    ]
    assert environment["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert environment["GF_SECURITY_ADMIN_USER"].startswith("${GRAFANA_ADMIN_USER:?")
    example = (CONTAINERS / ".env.example").read_text()
    assert re.search(r"^GRAFANA_ADMIN_PASSWORD=$", example, re.MULTILINE)


def test_the_env_file_is_never_committed() -> None:
    result = subprocess.run(["git", "check-ignore", "-q", "containers/.env"], cwd=REPO, check=False)
    assert result.returncode == 0
    assert "containers/.env" in (CONTAINERS / "Dockerfile.dockerignore").read_text()


def test_prometheus_scrapes_pods_and_the_simulator() -> None:
    config = yaml.safe_load((CONTAINERS / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}

    assert jobs["gpu"]["file_sd_configs"][0]["files"] == ["targets/gpu.json"]
    assert jobs["slurm"]["file_sd_configs"][0]["files"] == ["targets/slurm.json"]
    sim = jobs["clusterdash-sim"]
    assert sim["metrics_path"] == "/metrics"
    assert sim["static_configs"][0]["targets"] == ["host.docker.internal:9410"]


# ---- Dockerfile rules (hadolint runs too, in tests/integration/test_containers_tools.py) ----

DOCKERFILE = (CONTAINERS / "Dockerfile").read_text()
INSTRUCTIONS = re.sub(r"\\\n", " ", DOCKERFILE)
LINES = [line.strip() for line in INSTRUCTIONS.splitlines() if line.strip()]
CODE = [line for line in LINES if not line.startswith("#")]


def test_base_images_are_pinned_tags() -> None:
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", INSTRUCTIONS, re.MULTILINE))
    bases = [line.split()[1] for line in CODE if line.startswith("FROM ")]
    assert len(bases) == 3
    for base in bases:
        image = args[base[2:-1]] if base.startswith("${") else base
        _, _, tag = image.partition(":")
        assert tag, f"{image} has no tag"
        assert tag != "latest"
        assert re.search(r"\d", tag), f"{image} is not pinned to a version"


def test_no_secret_is_baked_into_the_image() -> None:
    for line in CODE:
        keyword = line.split()[0]
        if keyword in ("ENV", "ARG"):
            assert not re.search(r"(KEY|TOKEN|SECRET|PASSWORD)\w*=", line, re.IGNORECASE), line
        if keyword in ("COPY", "ADD"):
            assert "munge" not in line.lower(), line
    # The munge package's post-install generates a key; the image must not keep it.
    assert "rm -f /etc/munge/munge.key" in INSTRUCTIONS


def test_apt_installs_are_lean_and_clean_up_their_lists() -> None:
    installs = [line for line in CODE if "apt-get install" in line]
    assert installs
    for line in installs:
        assert "--no-install-recommends" in line
        assert "rm -rf /var/lib/apt/lists/*" in line


def test_slurm_is_built_with_nvml() -> None:
    assert "--with-nvml" in INSTRUCTIONS
    assert "gpu_nvml.so" in INSTRUCTIONS
    assert "slurm-23-11-10-1" in INSTRUCTIONS  # the tag whose commit is pinned


def test_services_run_as_an_unprivileged_user() -> None:
    assert "useradd --create-home --shell /bin/bash clusterdash" in INSTRUCTIONS
    head = (CONTAINERS / "scripts" / "start-head.sh").read_text()
    assert 'as_user=(runuser -u "$SERVICE_USER"' in head
    for service in ("slurm-exporter", "gpu-exporter", "vllm", "vllm-logs", "collector"):
        assert re.search(rf'start_auxiliary {service} "\$LOG_DIR" "\$\{{as_user\[@\]\}}"', head)
