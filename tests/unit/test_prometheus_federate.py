"""PrometheusGpuSource reading the dcgm families through /federate, against a loopback server
answering with pages recorded from Debian's Prometheus (sample lines carry timestamps)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from loguru import logger

from tests.unit.exposition_server import Reply, serve
from tests.unit.test_prometheus_source import instant
from tui.sources.base import GpuReading
from tui.sources.prometheus import PrometheusGpuSource

GPU_0 = (
    'Hostname="gpu-01",UUID="GPU-a1",device="nvidia0",gpu="0",hpc_job="4242",'
    'instance="127.0.0.1:43523",job="dcgm",modelName="NVIDIA H100 80GB HBM3",'
    'pci_bus_id="00000000:18:00.0"'
)
GPU_1 = (
    'Hostname="gpu-01",UUID="GPU-a2",device="nvidia1",gpu="1",'
    'instance="127.0.0.1:43523",job="dcgm",modelName="NVIDIA H100 80GB HBM3",'
    'pci_bus_id="00000000:19:00.0"'
)
# What /federate answered for each family (empty for a family no series has).
RECORDED = {
    "DCGM_FI_DEV_GPU_UTIL": (
        "# TYPE DCGM_FI_DEV_GPU_UTIL untyped\n"
        f"DCGM_FI_DEV_GPU_UTIL{{{GPU_0}}} 87 1796196440228\n"
        f"DCGM_FI_DEV_GPU_UTIL{{{GPU_1}}} 0 1796196440228\n"
    ),
    "DCGM_FI_DEV_POWER_USAGE": (
        "# TYPE DCGM_FI_DEV_POWER_USAGE untyped\n"
        f"DCGM_FI_DEV_POWER_USAGE{{{GPU_0}}} 512.5 1796196440228\n"
        f"DCGM_FI_DEV_POWER_USAGE{{{GPU_1}}} NaN 1796196440228\n"
    ),
    "DCGM_FI_DEV_GPU_TEMP": (
        "# TYPE DCGM_FI_DEV_GPU_TEMP untyped\n"
        f"DCGM_FI_DEV_GPU_TEMP{{{GPU_0}}} 9.223372036854776e+18 1796196440228\n"
        f"DCGM_FI_DEV_GPU_TEMP{{{GPU_1}}} 41 1796196440228\n"
    ),
}


def federate(request: str) -> Reply:
    (selector,) = parse_qs(urlsplit(request).query)["match[]"]
    family = selector.removeprefix('{__name__="').removesuffix('"}')
    return Reply(RECORDED.get(family, ""), content_type="text/plain; version=0.0.4")


async def two_readings(url: str) -> tuple[PrometheusGpuSource, GpuReading, GpuReading]:
    """A source's first two readings of the Prometheus at `url`, the source closed after."""
    source = PrometheusGpuSource(url)
    try:
        return source, await source.fetch(), await source.fetch()
    finally:
        await source.aclose()


async def test_dcgm_families_are_read_from_federate_pages() -> None:
    with serve({"/federate": federate, "/api/v1/query": instant}) as server:
        source = PrometheusGpuSource(server.url(""))
        try:
            reading = await source.fetch()
        finally:
            await source.aclose()
        queries = [r for r in server.requests if r.startswith("/api/v1/query")]
    assert source.reads_federate
    assert not any("DCGM" in query for query in queries), "no dcgm family asked by PromQL"
    # Only the node /federate answered for: the instant queries' other nodes are not read.
    by_key = {gpu.key: gpu for gpu in reading.gpus}
    assert set(by_key) == {("gpu-01", 0), ("gpu-01", 1)}
    busy, idle = by_key[("gpu-01", 0)], by_key[("gpu-01", 1)]
    assert (busy.utilization_pct, busy.power_w, busy.job_id) == (87.0, 512.5, "4242")
    assert busy.temperature_c is None  # dcgm's blank, written by Prometheus as 9.2e18
    assert busy.uuid == "GPU-a1" and busy.model == "NVIDIA H100 80GB HBM3"
    assert (idle.utilization_pct, idle.temperature_c, idle.job_id) == (0.0, 41.0, None)
    assert idle.power_w is None  # NaN stays unknown, never zero


async def test_a_federate_answer_that_is_not_exposition_falls_back_once() -> None:
    """A backend that answers /federate with something else (a web page): one log line, and
    every later reading goes through instant queries only."""
    page = Reply("<html><body>Thanos</body></html>", content_type="text/html")
    logged: list[str] = []
    sink = logger.add(logged.append, level="INFO", format="{message}")
    try:
        with serve({"/federate": page, "/api/v1/query": instant}) as server:
            source, first, second = await two_readings(server.url(""))
            federate_asks = [r for r in server.requests if r.startswith("/federate")]
    finally:
        logger.remove(sink)
    assert not source.reads_federate
    assert len(federate_asks) == len({r.split("?")[1] for r in federate_asks})  # one round
    assert [line for line in logged if "/federate" in line] == [logged[0]]
    assert "/federate unavailable" in logged[0]
    assert {g.key for g in first.gpus} == {("gpu-01", 0), ("gpu-02", 1), ("gpu-03", 0)}
    assert first == second


async def test_federate_unavailable_for_a_moment_is_asked_again() -> None:
    """Prometheus answers 503 while it starts: that cycle reads instant queries, the next
    one /federate again."""
    answers = iter([Reply("Service Unavailable", status=503)])

    def starting(request: str) -> Reply:
        return next(answers, None) or federate(request)

    with serve({"/federate": starting, "/api/v1/query": instant}) as server:
        source, first, second = await two_readings(server.url(""))
    assert source.reads_federate
    assert {g.key for g in first.gpus} == {("gpu-01", 0), ("gpu-02", 1), ("gpu-03", 0)}
    assert {g.key for g in second.gpus} == {("gpu-01", 0), ("gpu-01", 1)}
