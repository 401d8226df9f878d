"""PrometheusGpuSource against a loopback server speaking Prometheus' HTTP API."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.unit.exposition_server import Reply, closed_port, serve
from tui.sources.base import SourceError
from tui.sources.prometheus import (
    GPU_FAMILIES,
    MAX_POINTS_PER_SERIES,
    PrometheusGpuSource,
    promql_string,
    range_step_s,
)


def params(request: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request).query).items()}


def success(data: dict[str, Any]) -> Reply:
    return Reply(json.dumps({"status": "success", "data": data}), content_type="application/json")


def series(name: str, value: str, **labels: str) -> dict[str, Any]:
    return {"metric": {"__name__": name, **labels}, "value": [1700000000.0, value]}


DCGM_LABELS = {"UUID": "GPU-1", "modelName": "NVIDIA H100 80GB HBM3", "job": "dcgm"}

INSTANT_SERIES = (
    series(
        "DCGM_FI_DEV_GPU_UTIL",
        "87",
        gpu="0",
        Hostname="gpu-01",
        instance="10.0.0.1:9400",
        **DCGM_LABELS,
    ),
    series(
        "DCGM_FI_DEV_FB_USED",
        "1024",
        gpu="0",
        Hostname="gpu-01",
        instance="10.0.0.1:9400",
        **DCGM_LABELS,
    ),
    series(
        "DCGM_FI_DEV_FB_FREE",
        "80000",
        gpu="0",
        Hostname="gpu-01",
        instance="10.0.0.1:9400",
        **DCGM_LABELS,
    ),
    series(
        "DCGM_FI_DEV_GPU_TEMP",
        "9223372036854775794",
        gpu="0",
        Hostname="gpu-01",
        instance="10.0.0.1:9400",
        **DCGM_LABELS,
    ),
    series(
        "DCGM_FI_DEV_POWER_USAGE",
        "NaN",
        gpu="0",
        Hostname="gpu-01",
        instance="10.0.0.1:9400",
        **DCGM_LABELS,
    ),
    series(
        "DCGM_FI_DEV_GPU_UTIL",
        "5",
        gpu="1",
        hostname="gpu-02",
        instance="10.0.0.2:9400",
        **DCGM_LABELS,
    ),
    series("DCGM_FI_DEV_GPU_UTIL", "40", gpu="0", instance="gpu-03:9400", **DCGM_LABELS),
)


def instant(request: str) -> Reply:
    """The instant query's answer: the series of the family it names."""
    family = params(request)["query"]
    result = [item for item in INSTANT_SERIES if item["metric"]["__name__"] == family]
    return success({"resultType": "vector", "result": result})


async def test_fetch_builds_gpus_with_node_from_hostname_then_instance() -> None:
    with serve({"/api/v1/query": instant}) as server:
        source = PrometheusGpuSource(server.url(""))
        try:
            reading = await source.fetch()
        finally:
            await source.aclose()
        asked = sorted(params(request)["query"] for request in server.requests)
    assert asked == sorted(GPU_FAMILIES)  # one instant query per family
    by_key = {g.key: g for g in reading.gpus}
    assert set(by_key) == {("gpu-01", 0), ("gpu-02", 1), ("gpu-03", 0)}
    first = by_key[("gpu-01", 0)]
    assert first.utilization_pct == 87.0
    assert (first.memory_used_mib, first.memory_total_mib) == (1024.0, 81024.0)
    assert first.temperature_c is None  # dcgm "not supported" sentinel
    assert first.power_w is None  # NaN
    assert first.model == "NVIDIA H100 80GB HBM3"


async def test_node_label_can_be_instance_or_a_custom_label() -> None:
    with serve({"/api/v1/query": instant}) as server:
        by_instance = PrometheusGpuSource(server.url(""), node_label="instance")
        by_custom = PrometheusGpuSource(server.url(""), node_label="hostname")
        try:
            instance_nodes = {g.node for g in (await by_instance.fetch()).gpus}
            custom_nodes = {g.node for g in (await by_custom.fetch()).gpus}
        finally:
            await by_instance.aclose()
            await by_custom.aclose()
    assert instance_nodes == {"10.0.0.1", "10.0.0.2", "gpu-03"}
    assert custom_nodes == {"gpu-02"}  # series without the label have no node: dropped


async def test_gpu_history_uses_query_range_with_bounded_step() -> None:
    def answer(request: str) -> Reply:
        args = params(request)
        start, end, step = float(args["start"]), float(args["end"]), float(args["step"])
        assert (end - start) / step + 1 <= 300
        values = [[start + i * step, str(10 + i)] for i in range(int((end - start) / step) + 1)]
        values[3][1] = "NaN"
        return success(
            {
                "resultType": "matrix",
                "result": [
                    {"metric": {"gpu": "0", "Hostname": "gpu-01"}, "values": values},
                    {"metric": {"gpu": "1", "Hostname": "gpu-01"}, "values": values[:5]},
                ],
            }
        )

    with serve({"/api/v1/query_range": answer}) as server:
        source = PrometheusGpuSource(server.url(""))
        try:
            history = await source.gpu_history("gpu-01", "memory_pct", 1000.0, 87400.0, 300)
        finally:
            await source.aclose()
        query = params(server.requests[0])["query"]
    assert 'Hostname="gpu-01"' in query and 'hostname="gpu-01"' in query
    assert "DCGM_FI_DEV_FB_FREE" in query
    assert set(history) == {0, 1}
    step = range_step_s(1000.0, 87400.0, 300)
    assert len(history[0]) == int(86400 / step) + 1 - 1  # every point but the NaN one
    assert len(history[0]) >= 290
    assert history[0][0] == (1000.0, 10.0)
    assert [t for t, _ in history[0]] == sorted(t for t, _ in history[0])
    assert len(history[1]) == 4


@pytest.mark.parametrize(
    ("start", "end", "max_points"),
    [(0, 10, 11_000), (0, 86_400 * 90, 1_000_000), (0, 3600, 60), (0, 7, 2)],
)
def test_range_step_keeps_points_within_limits(start: float, end: float, max_points: int) -> None:
    step = range_step_s(start, end, max_points)
    assert step >= 1.0
    assert (end - start) // step + 1 <= min(max_points, MAX_POINTS_PER_SERIES)


def test_promql_string_escapes_quotes_and_backslashes() -> None:
    assert promql_string('a"b\\c') == '"a\\"b\\\\c"'


async def test_history_rejects_unknown_metric_and_bad_node() -> None:
    source = PrometheusGpuSource("http://127.0.0.1:1")
    try:
        with pytest.raises(SourceError, match="no history for 'fan_speed'"):
            await source.gpu_history("gpu-01", "fan_speed", 0, 10, 10)
        with pytest.raises(SourceError, match="invalid node name"):
            await source.gpu_history('gpu"} or vector(1) #', "power_w", 0, 10, 10)
    finally:
        await source.aclose()


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(
                json.dumps(
                    {"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}
                ),
                status=400,
                content_type="application/json",
            ),
            "Prometheus bad_data: parse error at char 3",
        ),
        (Reply("upstream down", status=503), "HTTP 503 Service Unavailable"),
        (Reply("<html>proxy login</html>"), "did not answer JSON: <html>proxy login</html>"),
        (success({"resultType": "scalar", "result": [1, "2"]}), "answered 'scalar'"),
        (Reply("{}", delay_s=2.0, content_type="application/json"), "timeout after 0.5s"),
    ],
)
async def test_errors_are_one_readable_line(reply: Reply, expected: str) -> None:
    with serve({"/api/v1/query": reply}) as server:
        source = PrometheusGpuSource(server.url("/"), timeout_s=0.5)
        try:
            with pytest.raises(SourceError) as caught:
                await source.fetch()
        finally:
            await source.aclose()
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


async def test_unreachable_prometheus() -> None:
    source = PrometheusGpuSource(f"http://127.0.0.1:{closed_port()}")
    try:
        with pytest.raises(SourceError, match="connection refused"):
            await source.fetch()
    finally:
        await source.aclose()
