"""PrometheusGpuSource against a loopback server speaking Prometheus' HTTP API."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
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


def success(data: dict[str, Any], *, compact: bool = False) -> Reply:
    """An answer in json.dumps' spaced layout, or (compact) in Prometheus' own."""
    separators = (",", ":") if compact else None
    body = json.dumps({"status": "success", "data": data}, separators=separators)
    return Reply(body, content_type="application/json")


AGGREGATION_RE = re.compile(r"max by \(([\w,]+)\) \((\w+)\)")


def evaluate(query: str, series: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """What Prometheus answers `FAMILY` or `max by (labels) (FAMILY)` over `series` (each
    label set once here): the family's series, with only the labels grouped by."""
    aggregation = AGGREGATION_RE.fullmatch(query)
    family = aggregation.group(2) if aggregation else query
    chosen = [item for item in series if item["metric"]["__name__"] == family]
    if not aggregation:
        return chosen
    kept = aggregation.group(1).split(",")
    return [
        {"metric": {k: v for k, v in item["metric"].items() if k in kept}, "value": item["value"]}
        for item in chosen
    ]


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
    """The instant query's answer, in Prometheus' own layout."""
    result = evaluate(params(request)["query"], INSTANT_SERIES)
    return success({"resultType": "vector", "result": result}, compact=True)


def family_of(query: str) -> str:
    aggregation = AGGREGATION_RE.fullmatch(query)
    return aggregation.group(2) if aggregation else query


async def test_fetch_builds_gpus_with_node_from_hostname_then_instance() -> None:
    with serve({"/api/v1/query": instant}) as server:
        source = PrometheusGpuSource(server.url(""))
        try:
            reading = await source.fetch()
        finally:
            await source.aclose()
        asked = [
            params(request)["query"]
            for request in server.requests
            if request.startswith("/api/v1/query")
        ]
    # /federate answered 404 (as Thanos Querier does): every family as an instant query
    assert any(request.startswith("/federate?") for request in server.requests)
    assert sorted(map(family_of, asked)) == sorted(GPU_FAMILIES)  # one query per family
    assert "max by (Hostname,hostname,instance,gpu," in next(q for q in asked if "DCGM" in q)
    by_key = {g.key: g for g in reading.gpus}
    assert set(by_key) == {("gpu-01", 0), ("gpu-02", 1), ("gpu-03", 0)}
    first = by_key[("gpu-01", 0)]
    assert first.utilization_pct == 87.0
    assert (first.memory_used_mib, first.memory_total_mib) == (1024.0, 81024.0)
    assert first.temperature_c is None  # dcgm "not supported" sentinel
    assert first.power_w is None  # NaN
    assert first.model == "NVIDIA H100 80GB HBM3"


def changing_prometheus(
    answers: list[tuple[dict[str, Any], ...]], *, compact: bool = True
) -> Callable[[str], Reply]:
    """Answers from answers[0] until it is popped: the cluster as of a cycle."""

    def answer(request: str) -> Reply:
        result = evaluate(params(request)["query"], answers[0])
        return success({"resultType": "vector", "result": result}, compact=compact)

    return answer


def node_series(node: str, utilization: str, job: str) -> tuple[dict[str, Any], ...]:
    return tuple(
        series(family, value, gpu=str(gpu), Hostname=node, hpc_job=job, **DCGM_LABELS)
        for gpu in range(2)
        for family, value in (
            ("DCGM_FI_DEV_GPU_UTIL", utilization),
            ("DCGM_FI_DEV_GPU_TEMP", "61"),
        )
    )


async def test_a_series_gone_from_one_node_leaves_that_reading_unknown_next_cycle() -> None:
    before = node_series("gpu-01", "90", "41") + node_series("gpu-02", "80", "7")
    after = tuple(
        item
        for item in node_series("gpu-01", "10", "42") + node_series("gpu-02", "80", "7")
        if item["metric"]["Hostname"] != "gpu-02" or "UTIL" not in item["metric"]["__name__"]
    )
    answers = [before, after]
    with serve({"/api/v1/query": changing_prometheus(answers)}) as server:
        source = PrometheusGpuSource(server.url(""))
        try:
            first = {g.key: g for g in (await source.fetch()).gpus}
            answers.pop(0)
            second = {g.key: g for g in (await source.fetch()).gpus}
        finally:
            await source.aclose()
    assert first[("gpu-02", 1)].utilization_pct == 80.0
    # gpu-02 stopped reporting utilization: unknown, not its last value and not zero.
    assert second[("gpu-02", 1)].utilization_pct is None
    assert second[("gpu-02", 1)].temperature_c == 61.0
    # gpu-01's new readings and its GPUs' new job label are read, not remembered ones.
    assert second[("gpu-01", 0)].utilization_pct == 10.0
    assert {second[("gpu-01", i)].job_id for i in range(2)} == {"42"}


async def test_a_node_gone_from_prometheus_is_gone_from_the_reading() -> None:
    answers = [node_series("gpu-01", "90", "41") + node_series("gpu-02", "80", "7")]
    answers.append(node_series("gpu-01", "90", "41"))
    with serve({"/api/v1/query": changing_prometheus(answers)}) as server:
        source = PrometheusGpuSource(server.url(""))
        try:
            await source.fetch()
            answers.pop(0)
            nodes = {g.node for g in (await source.fetch()).gpus}
        finally:
            await source.aclose()
    assert nodes == {"gpu-01"}


async def test_answers_in_another_servers_layout_read_the_same() -> None:
    cluster = [node_series("gpu-01", "90", "41") + INSTANT_SERIES]
    readings = []
    for compact in (True, False):
        with serve({"/api/v1/query": changing_prometheus(cluster, compact=compact)}) as server:
            source = PrometheusGpuSource(server.url(""))
            try:
                readings.append((await source.fetch()).gpus)
            finally:
                await source.aclose()
    assert readings[0] == readings[1]
    assert len(readings[0]) == 4


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
        # Only the slow reply is meant to time out; the others get room on a busy machine.
        source = PrometheusGpuSource(server.url("/"), timeout_s=0.5 if reply.delay_s else 30.0)
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
