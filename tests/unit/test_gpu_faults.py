"""The GPU data plane under faults: real exporters on loopback that hang, trickle, fail or
send odd pages. One bad target never costs the others their data."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loguru import logger

from tests.unit.exposition_server import Reply, closed_port, serve
from tests.unit.test_cli import run_cli
from tui.collector import SOURCE_DEADLINE_GRACE_S, Collector, CollectorOptions
from tui.model import Gpu
from tui.sources.exporters import ExporterGpuSource, ScrapeTarget

FIXTURES = Path(__file__).parent.parent / "fixtures" / "exposition"
SEED_PAGE = (FIXTURES / "seed-exporter.prom").read_text()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of the test: hanging handlers then return and the server can stop."""
    event = threading.Event()
    yield event
    event.set()


def hanging(release: threading.Event) -> Reply | None:
    release.wait(60)
    return Reply(SEED_PAGE)


def collector_for(source: ExporterGpuSource) -> Collector:
    return Collector(
        workload=None,
        gpu=source,
        options=CollectorOptions(gpu_timeout_s=source.timeout_s + SOURCE_DEADLINE_GRACE_S),
    )


async def test_64_exporters_of_which_8_hang_keep_the_56_answers(
    release: threading.Event,
) -> None:
    hung = {f"gpu-{i:02d}" for i in range(0, 64, 8)}
    routes = {f"/{n:02d}": Reply(SEED_PAGE) for n in range(64)}
    for name in hung:
        routes[f"/{name[-2:]}"] = lambda request: hanging(release)  # type: ignore[assignment]
    with serve(routes) as server:  # type: ignore[arg-type]
        targets = [(f"gpu-{n:02d}", server.url(f"/{n:02d}")) for n in range(64)]
        source = ExporterGpuSource(targets, timeout_s=1.0)
        collector = collector_for(source)
        try:
            snapshot = await collector.collect_once()
        finally:
            release.set()
            await collector.aclose()
    answered = {f"gpu-{n:02d}" for n in range(64)} - hung
    assert set(snapshot.gpus_by_node) == answered
    assert len(snapshot.gpus) == 56 * 2
    health = snapshot.health["gpu"]
    assert health.ok
    assert dict(health.failing_targets) == dict.fromkeys(hung, "timeout after 1s")


ODD_LABELS_PAGE = (
    'DCGM_FI_DEV_GPU_UTIL{gpu="²"} 10\n'
    'DCGM_FI_DEV_GPU_UTIL{gpu="0",gpu_name="A \\"quoted\\"\\\\ name\\n"} 20\n'
    'DCGM_FI_DEV_GPU_UTIL{gpu="0",gpu_name="A \\"quoted\\"\\\\ name\\n"} 21\n'
    'DCGM_FI_DEV_GPU_UTIL{gpu="01"} 30\n'
    'DCGM_FI_DEV_GPU_UTIL{gpu="1"} 31\n'
    'DCGM_FI_DEV_GPU_TEMP{gpu="1"} -40\n'
    'DCGM_FI_DEV_FB_USED{gpu="1"} -100\n'
    'DCGM_FI_DEV_GPU_UTIL{gpu="٣"} 40\n'
)


def fault_routes(release: threading.Event) -> dict[str, Reply | object]:
    return {
        "/ok": Reply(SEED_PAGE),
        "/dcgm": Reply((FIXTURES / "dcgm-exporter-4.x.prom").read_text()),
        "/500": Reply("internal error", status=500),
        "/hang": lambda request: hanging(release),
        "/trickle": Reply(SEED_PAGE, trickle_s=0.05),
        "/garbage": Reply("\x00\x01 not { prometheus } text\n"),
        "/truncated": Reply(SEED_PAGE[:300], short_by=500),
        "/huge": Reply("", short_by=64 * 2**20),
        "/odd": Reply(ODD_LABELS_PAGE),
    }


async def test_fault_matrix_reports_each_target_and_keeps_every_good_gpu(
    release: threading.Event,
) -> None:
    with serve(fault_routes(release)) as server:  # type: ignore[arg-type]
        names = ["ok", "dcgm", "500", "hang", "trickle", "garbage", "truncated", "huge", "odd"]
        targets = [(f"{name}-node", server.url(f"/{name}")) for name in names]
        targets.append(("down-node", f"http://127.0.0.1:{closed_port()}/metrics"))
        source = ExporterGpuSource(targets, timeout_s=1.5)
        collector = collector_for(source)
        try:
            snapshot = await collector.collect_once()
        finally:
            release.set()
            await collector.aclose()
    health = snapshot.health["gpu"]
    assert health.ok
    errors = dict(health.failing_targets)
    assert errors.pop("500-node") == "HTTP 500 Internal Server Error"
    assert errors.pop("hang-node") == "timeout after 1.5s"
    assert errors.pop("trickle-node") == "timeout after 1.5s"
    assert errors.pop("garbage-node").startswith("not Prometheus text: line 1")
    assert errors.pop("truncated-node").startswith("truncated body")
    assert errors.pop("huge-node") == "not a GPU exporter: body over 32 MiB"
    assert errors.pop("down-node") == "connection refused"
    assert errors == {}
    assert all("\n" not in error for error in health.failing_targets.values())
    assert {(g.node, g.index) for g in snapshot.gpus} == {
        ("ok-node", 0),
        ("ok-node", 1),
        ("dcgm-node", 0),
        ("odd-node", 0),
        ("odd-node", 1),
    }
    odd = snapshot.gpus_by_node["odd-node"]
    assert odd[0].model == 'A "quoted"\\ name\n'
    # "01" and "1" name the same GPU; negative readings are "not reported", never a value.
    assert odd[1].temperature_c is None and odd[1].memory_used_mib is None


async def test_unicode_digit_gpu_label_fails_no_target(release: threading.Event) -> None:
    page = 'DCGM_FI_DEV_GPU_UTIL{gpu="²"} 10\nDCGM_FI_DEV_GPU_UTIL{gpu="0"} 5\n'
    with serve({"/odd": Reply(page), "/ok": Reply(SEED_PAGE)}) as server:
        source = ExporterGpuSource(
            [("odd-node", server.url("/odd")), ("ok-node", server.url("/ok"))], timeout_s=5
        )
        try:
            reading = await source.fetch()
        finally:
            await source.aclose()
    assert reading.errors == {}
    assert {(g.node, g.index) for g in reading.gpus} == {
        ("odd-node", 0),
        ("ok-node", 0),
        ("ok-node", 1),
    }


@pytest.mark.parametrize("dialect_marker", ["", "# EOF\n"])  # the fast path, the general one
async def test_repeated_series_are_counted_and_logged_once(dialect_marker: str) -> None:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    page = (
        'DCGM_FI_DEV_GPU_UTIL{gpu="1"} 30\nDCGM_FI_DEV_GPU_UTIL{gpu="01"} 31\n'
        'DCGM_FI_DEV_GPU_TEMP{gpu="1"} 40\nDCGM_FI_DEV_GPU_TEMP{gpu="1"} 41\n' + dialect_marker
    )
    with serve({"/dup": Reply(page)}) as server:
        source = ExporterGpuSource([("dup-node", server.url("/dup"))], timeout_s=5)
        try:
            for _ in range(3):
                reading = await source.fetch()
        finally:
            await source.aclose()
            logger.remove(sink)
    assert [(g.index, g.utilization_pct, g.temperature_c) for g in reading.gpus] == [(1, 31, 41)]
    assert [line for line in lines if "repeat a reading" in line] == [
        'exporter dup-node: 2 series repeat a reading (a series twice, or gpu="01" next to '
        'gpu="1"); the last one counts\n'
    ]


async def test_url_targets_on_one_host_stay_apart_and_fail_apart() -> None:
    def page(hostname: str | None) -> Reply:
        label = f',Hostname="{hostname}"' if hostname else ""
        return Reply(f'DCGM_FI_DEV_GPU_UTIL{{gpu="0"{label}}} 50\n')

    routes: dict[str, Reply] = {
        "/a": page("node-a"),
        "/b": page("node-b"),
        "/c": page(None),
        "/d": page(None),
    }
    with serve(routes) as server:
        # One address, many exporters (a port forward per node, or a test rig).
        refused = f"http://127.0.0.1:{closed_port()}"
        failing = [f"{refused}/metrics?n={n}" for n in range(13)]
        urls = [server.url(p) for p in ("/a", "/b", "/c", "/d")] + failing
        source = ExporterGpuSource(urls, timeout_s=5)
        try:
            reading = await source.fetch()
        finally:
            await source.aclose()
    nodes = sorted(g.node for g in reading.gpus)
    # No Hostname label: the shortest part of the URL that tells the targets apart.
    host_port = f"127.0.0.1:{server.port}"
    assert nodes == sorted(["node-a", "node-b", f"{host_port}/c", f"{host_port}/d"])
    assert len(reading.errors) == 13
    assert set(reading.errors) == set(failing)


async def test_snapshot_keeps_the_good_exporter_when_another_hangs(
    tmp_path: Path, release: threading.Event
) -> None:
    routes = {
        "/good": Reply((FIXTURES / "dcgm-exporter-4.x.prom").read_text()),
        "/hang": lambda request: hanging(release),
    }
    with serve(routes) as server:  # type: ignore[arg-type]
        config = tmp_path / "c.toml"
        config.write_text(
            f'[gpu]\ntargets = ["{server.url("/good")}", "{server.url("/hang")}"]\ntimeout = "2s"\n'
        )
        env = dict(os.environ, PATH=str(tmp_path))
        result = await asyncio.to_thread(
            run_cli, "snapshot", "--json", "--config", str(config), env=env
        )
    data = json.loads(result.stdout)
    gpu = data["sources"]["gpu"]
    assert gpu["ok"] is True, gpu
    assert gpu["failing_targets"] == {server.url("/hang"): "timeout after 2s"}
    assert [(g["node"], g["index"]) for g in data["gpus"]] == [("gpu-07", 0)]


# --- property: nothing on a page raises past its target -----------------------------------

LABEL_NAMES = st.sampled_from(["gpu", "Hostname", "hostname", "UUID", "gpu_name", "hpc_job", "x"])
LABEL_VALUES = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["0", "1", "01", "²", "٣", "-1", "99999999", "", "\\", '"', "\n"]),
)
FAMILIES = st.sampled_from(
    [
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_FB_FREE",
        "DCGM_FI_DEV_XID_ERRORS",
        "DCGM_EXP_GPU_HEALTH_STATUS",
        "nvidia_smi_gpu_info",
        "nvidia_smi_index",
        "nvidia_smi_utilization_gpu_ratio",
        "nvidia_smi_xid_last_timestamp_seconds",
        "node_load1",
    ]
)
VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["NaN", "+Inf", "-Inf", "1e400", "-0", "0x10", "", "1_0", "٣", "9" * 40]),
)


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@st.composite
def pages(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        labels = draw(st.dictionaries(LABEL_NAMES, LABEL_VALUES, max_size=4))
        if draw(st.booleans()):
            labels.setdefault("uuid", draw(LABEL_VALUES))
        raw = draw(st.booleans())
        block = ",".join(f'{k}="{v if raw else escape(v)}"' for k, v in labels.items())
        line = f"{draw(FAMILIES)}{{{block}}} {draw(VALUES)}"
        lines.append(line)
        if draw(st.booleans()):
            lines.append(line)  # a duplicate series
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n", "\n# EOF\n"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=pages(), node=st.sampled_from(["gpu-01", ""]))
def test_no_page_raises_past_its_target(page: str, node: str) -> None:
    source = ExporterGpuSource([])
    target = ScrapeTarget(node, "http://127.0.0.1:9400/metrics")
    result = asyncio.run(source.gpus_from_page(page, target))
    if isinstance(result, str):
        assert "\n" not in result
    else:
        assert result and all(isinstance(gpu, Gpu) for gpu in result)
        keys = [gpu.key for gpu in result]
        assert len(keys) == len(set(keys)), "one GPU per (node, index)"
        for gpu in result:
            for value in (gpu.utilization_pct, gpu.memory_used_mib, gpu.temperature_c):
                assert value is None or value >= 0
