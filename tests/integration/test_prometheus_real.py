"""Debian's real Prometheus scraping loopback dcgm exporters; the Prometheus source must
report what direct scraping reports, and serve history from query_range."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import need_binaries
from tests.ports import free_port
from tests.unit.exposition_server import LoopbackServer, Reply, serve
from tui.sim import SimCluster, SimExporterServer
from tui.sources.base import SourceError
from tui.sources.exporters import ExporterGpuSource
from tui.sources.prometheus import PrometheusGpuSource

pytestmark = pytest.mark.integration

NODES = ("gpu-01", "gpu-02", "gpu-03")
GPUS_PER_NODE = 4
READY_TIMEOUT_S = 25.0


def dcgm_payload(node_number: int, node: str) -> str:
    lines = []
    families = (
        ("DCGM_FI_DEV_GPU_UTIL", lambda g: f"{(node_number * 17 + g * 23) % 101}"),
        ("DCGM_FI_DEV_FB_USED", lambda g: f"{1024 * (g + node_number)}"),
        ("DCGM_FI_DEV_FB_FREE", lambda g: f"{81559 - 1024 * (g + node_number)}"),
        ("DCGM_FI_DEV_GPU_TEMP", lambda g: "9223372036854775794" if g == 3 else f"{40 + g}.5"),
        ("DCGM_FI_DEV_POWER_USAGE", lambda g: "NaN" if g == 2 else f"{100 + g * 50.25}"),
        ("DCGM_FI_DEV_SM_CLOCK", lambda g: "1980"),
        ("DCGM_FI_DEV_XID_ERRORS", lambda g: "79" if (node_number, g) == (2, 1) else "0"),
    )
    for name, value in families:
        lines.append(f"# HELP {name} {name}.")
        lines.append(f"# TYPE {name} gauge")
        for gpu in range(GPUS_PER_NODE):
            labels = (
                f'gpu="{gpu}",UUID="GPU-{node_number:04d}-{gpu:04d}",'
                f'pci_bus_id="00000000:{0x18 + gpu:02X}:00.0",device="nvidia{gpu}",'
                f'modelName="NVIDIA H100 80GB HBM3",Hostname="{node}",'
                f'DCGM_FI_DRIVER_VERSION="550.90.07"'
            )
            lines.append(f"{name}{{{labels}}} {value(gpu)}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def exporters() -> Iterator[LoopbackServer]:
    routes: dict[str, Reply | Callable[[str], Reply]] = {
        f"/nodes/{node}/metrics": Reply(dcgm_payload(i, node)) for i, node in enumerate(NODES, 1)
    }
    with serve(routes) as server:
        yield server


@contextmanager
def running_prometheus(tmp_path: Path, jobs: str) -> Iterator[str]:
    """Debian's prometheus on a free loopback port, scraping every second."""
    binary = need_binaries("prometheus")["prometheus"]
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n" + jobs
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def prometheus(tmp_path: Path, exporters: LoopbackServer) -> Iterator[str]:
    jobs = "".join(
        f"  - job_name: {node}\n"
        f"    metrics_path: /nodes/{node}/metrics\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporters.port}']}}]\n"
        for node in NODES
    )
    with running_prometheus(tmp_path, jobs) as url:
        yield url


async def wait_for_all_gpus(
    source: PrometheusGpuSource, count: int = len(NODES) * GPUS_PER_NODE
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last_error = "no answer"
    while time.monotonic() < deadline:
        try:
            reading = await source.fetch()
            if len(reading.gpus) == count:
                return
            last_error = f"{len(reading.gpus)} GPUs so far"
        except Exception as error:  # Prometheus still starting: keep polling.
            last_error = str(error)
        await asyncio.sleep(0.3)
    pytest.fail(f"Prometheus never reported every GPU: {last_error}")


async def test_prometheus_source_matches_direct_scraping(
    prometheus: str, exporters: LoopbackServer
) -> None:
    direct = ExporterGpuSource([(node, exporters.url(f"/nodes/{node}/metrics")) for node in NODES])
    via_prometheus = PrometheusGpuSource(prometheus, timeout_s=5.0)
    try:
        await wait_for_all_gpus(via_prometheus)
        scraped = await direct.fetch()
        queried = await via_prometheus.fetch()

        assert scraped.errors == {}
        assert sorted(queried.gpus, key=lambda g: g.key) == sorted(
            scraped.gpus, key=lambda g: g.key
        )
        # Prometheus' answers were read from their text: every GPU's label set is known.
        assert via_prometheus.label_sets_known >= len(NODES) * GPUS_PER_NODE
        by_key = {g.key: g for g in queried.gpus}
        assert by_key[("gpu-02", 1)].last_xid == 79
        assert by_key[("gpu-01", 3)].temperature_c is None  # dcgm sentinel, not 9.2e18
        assert by_key[("gpu-01", 2)].power_w is None  # NaN
        assert by_key[("gpu-03", 0)].memory_total_mib == 81559.0

        now = time.time()
        history = await via_prometheus.gpu_history("gpu-02", "utilization_pct", now - 60, now, 120)
        assert set(history) == set(range(GPUS_PER_NODE))
        assert all(points for points in history.values())
        expected = by_key[("gpu-02", 0)].utilization_pct
        assert {value for _, value in history[0]} == {expected}
        memory = await via_prometheus.gpu_history("gpu-03", "memory_pct", now - 60, now, 120)
        assert memory[1][-1][1] == pytest.approx(100 * 1024 * 4 / 81559)
        # A month at a million points asked for: Prometheus refuses over 11,000 points per
        # series ("exceeded maximum resolution"), so this only answers if the step is capped.
        month = await via_prometheus.gpu_history(
            "gpu-01", "power_w", now - 30 * 86400, now, 1_000_000
        )
        assert all(len(points) <= 11_000 for points in month.values())
        too_fine = {"query": "DCGM_FI_DEV_GPU_UTIL", "start": now - 86400, "end": now, "step": 1}
        with pytest.raises(SourceError, match=r"^Prometheus bad_data: exceeded maximum resolution"):
            await via_prometheus._api("query_range", too_fine)
    finally:
        await direct.aclose()
        await via_prometheus.aclose()


async def test_prometheus_scraping_the_simulator_agrees_with_direct_scraping(
    tmp_path: Path,
) -> None:
    """`clusterdash sim` as a real Prometheus sees it: one target, every node's GPUs."""
    frozen = 1_800_000_000.0 + 600  # ten minutes in: jobs running
    sim = SimCluster(nodes=4, seed=2, start=frozen - 600, clock=lambda: frozen)
    server = SimExporterServer(sim)
    base_url = await server.start()
    port = base_url.rsplit(":", 1)[1]
    jobs = f"  - job_name: sim\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    direct = ExporterGpuSource([(n, f"{base_url}/nodes/{n}/metrics") for n in sim.node_names])
    try:
        with running_prometheus(tmp_path, jobs) as url:
            via_prometheus = PrometheusGpuSource(url, timeout_s=5.0)
            via_queries = PrometheusGpuSource(url, timeout_s=5.0, federate=False)
            try:
                await wait_for_all_gpus(via_prometheus, count=len(sim.node_names) * 8)
                queried, by_queries = await asyncio.gather(
                    via_prometheus.fetch(), via_queries.fetch()
                )
            finally:
                await via_prometheus.aclose()
                await via_queries.aclose()
        scraped = await direct.fetch()
    finally:
        await direct.aclose()
        await server.stop()
    assert scraped.errors == {}
    assert sorted(queried.gpus, key=lambda g: g.key) == sorted(scraped.gpus, key=lambda g: g.key)
    assert any(g.job_id for g in queried.gpus), "hpc_job labels survive Prometheus"
    # /federate and the instant queries give the same GPUs, job attribution included.
    assert sorted(by_queries.gpus, key=lambda g: g.key) == sorted(queried.gpus, key=lambda g: g.key)


async def test_federate_reading_matches_instant_queries_and_drops_a_stale_node(
    prometheus: str, exporters: LoopbackServer
) -> None:
    federated = PrometheusGpuSource(prometheus, timeout_s=5.0)
    queried = PrometheusGpuSource(prometheus, timeout_s=5.0, federate=False)
    try:
        await wait_for_all_gpus(federated)
        assert federated.reads_federate, "Prometheus serves /federate"
        both = await asyncio.gather(federated.fetch(), queried.fetch())
        by_federate, by_query = (sorted(r.gpus, key=lambda g: g.key) for r in both)
        assert by_federate == by_query
        assert {g.node for g in by_federate} == set(NODES)
        by_key = {g.key: g for g in by_federate}
        assert by_key[("gpu-01", 3)].temperature_c is None  # dcgm sentinel, not 9.2e18
        assert by_key[("gpu-01", 2)].power_w is None  # NaN stays unknown, never zero

        # gpu-03's exporter stops answering: its next failed scrape marks its series stale,
        # and neither reading may keep reporting its GPUs.
        exporters.routes["/nodes/gpu-03/metrics"] = Reply("down", status=503)
        await wait_for_all_gpus(federated, count=(len(NODES) - 1) * GPUS_PER_NODE)
        both = await asyncio.gather(federated.fetch(), queried.fetch())
        by_federate, by_query = (sorted(r.gpus, key=lambda g: g.key) for r in both)
        assert by_federate == by_query
        assert {g.node for g in by_federate} == {"gpu-01", "gpu-02"}
    finally:
        await federated.aclose()
        await queried.aclose()
