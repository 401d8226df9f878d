"""ExporterGpuSource against real loopback HTTP servers, and the dialect conversion."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pytest

from tests.unit.exposition_server import Reply, closed_port, serve
from tui.sources.base import SourceError
from tui.sources.exporters import (
    ExporterGpuSource,
    ScrapeTarget,
    dcgm_value,
    gpus_from_samples,
    targets_for_nodes,
)
from tui.sources.promtext import parse_samples

FIXTURES = Path(__file__).parent.parent / "fixtures" / "exposition"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_dcgm_payload_maps_to_gpus_with_target_node_name() -> None:
    gpus = gpus_from_samples(parse_samples(fixture("dcgm-exporter-4.x.prom")), node="gpu-07")
    assert len(gpus) == 1
    gpu = gpus[0]
    assert (gpu.node, gpu.index, gpu.uuid) == (
        "gpu-07",
        0,
        "GPU-8f1f4d06-07fd-27a7-52d5-e58aa060d256",
    )
    assert gpu.model == "NVIDIA H100 80GB HBM3"
    assert gpu.pci_bus_id == "00000000:18:00.0"
    assert gpu.utilization_pct == 100.0
    assert gpu.memory_used_mib == 79500.0
    assert gpu.memory_total_mib == 79500.0 + 1559.0 + 500.0  # used + free + reserved
    assert gpu.temperature_c == 71.0
    assert gpu.power_w == pytest.approx(612.118)
    assert gpu.sm_clock_mhz == 1980.0
    assert gpu.last_xid == 79
    assert gpu.ecc_uncorrectable == 2
    assert gpu.remapped_row_failures == 0
    assert gpu.job_id == "4242"


def test_dcgm_not_supported_sentinel_is_unknown_not_a_temperature() -> None:
    samples = parse_samples(fixture("dcgm-exporter-3.x.prom"))
    gpus = gpus_from_samples(samples)
    # Node from the Hostname label when no target node is given.
    assert {g.node for g in gpus} == {"dcgm-exporter-cmhft"}
    memory_temps = [s.value for s in samples if s.name == "DCGM_FI_DEV_MEMORY_TEMP"]
    assert memory_temps and all(dcgm_value(v) is None for v in memory_temps)
    assert [g.memory_total_mib for g in gpus] == [14914.0, 14914.0]


def test_seed_exporter_blank_values_read_as_unknown_never_zero() -> None:
    gpus = gpus_from_samples(parse_samples(fixture("seed-exporter.prom")), node="a100-1")
    healthy, blank = gpus
    assert healthy.model == "NVIDIA A100-SXM4-80GB"
    assert (healthy.utilization_pct, healthy.memory_total_mib) == (55.0, 81920.0)
    assert blank.utilization_pct is None  # NaN
    assert blank.memory_used_mib is None  # FP64 blank 1.40737488355328e14
    assert blank.temperature_c is None  # int32 blank 0x7ffffff0
    assert blank.power_w is None  # +Inf
    assert blank.memory_total_mib == 81920.0


def test_hostname_label_of_newer_dcgm_releases() -> None:
    text = 'DCGM_FI_DEV_GPU_UTIL{gpu="3",UUID="GPU-x",hostname="gpu-09",modelName="L40S"} 12\n'
    (gpu,) = gpus_from_samples(parse_samples(text))
    assert (gpu.node, gpu.index, gpu.utilization_pct) == ("gpu-09", 3, 12.0)


def test_nvidia_smi_dialect_converts_units_and_finds_index_and_last_xid() -> None:
    gpus = gpus_from_samples(parse_samples(fixture("nvidia-gpu-exporter.prom")), node="h200-1")
    first, second = gpus
    assert [g.index for g in gpus] == [0, 1]
    assert first.uuid == "3c4d6d38-0d7e-4d5b-9c0a-1f0f7a6c2b11"
    assert first.model == "NVIDIA H200"
    assert first.utilization_pct == pytest.approx(42.0)
    assert first.memory_used_mib == pytest.approx(674.0)
    assert first.memory_total_mib == pytest.approx(143771.0)
    assert first.sm_clock_mhz == pytest.approx(345.0)
    assert first.temperature_c == 34.0
    assert first.last_xid is None
    assert second.last_xid == 48  # the later of two XID events
    assert second.ecc_uncorrectable == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (42.0, 42.0),
        (0.0, 0.0),
        (math.nan, None),
        (math.inf, None),
        (9223372036854775794.0, None),
        (float(0x7FFFFFF0), None),
        (float(0x7FFFFFF3), None),
        (1.40737488355328e14, None),
    ],
)
def test_dcgm_sentinels(value: float, expected: float | None) -> None:
    assert dcgm_value(value) == expected


def test_targets_for_nodes_skips_names_that_are_not_hosts() -> None:
    targets = targets_for_nodes(["gpu-01", "bad name; rm -rf /", "gpu-02"])
    assert targets == [
        ScrapeTarget("gpu-01", "http://gpu-01:9400/metrics"),
        ScrapeTarget("gpu-02", "http://gpu-02:9400/metrics"),
    ]


async def test_scrapes_all_dialects_and_reports_each_failure_on_one_line() -> None:
    routes = {
        "/dcgm": Reply(fixture("dcgm-exporter-4.x.prom")),
        "/smi": Reply(fixture("nvidia-gpu-exporter.prom")),
        "/seed": Reply(fixture("seed-exporter.prom")),
        "/boom": Reply("internal error", status=500),
        "/truncated": Reply(fixture("dcgm-exporter-4.x.prom")[:300], short_by=500),
        "/garbage": Reply("# fine\nDCGM_FI_DEV_GPU_UTIL 1\n<html>oops</html>\n"),
        "/nogpu": Reply("node_load1 0.5\n"),
        "/huge": Reply(b"x" * (33 * 2**20)),
    }
    with serve(routes) as server:
        targets = [
            ("dcgm-node", server.url("/dcgm")),
            ("smi-node", server.url("/smi")),
            ("seed-node", server.url("/seed")),
            ("boom-node", server.url("/boom")),
            ("cut-node", server.url("/truncated")),
            ("junk-node", server.url("/garbage")),
            ("nogpu-node", server.url("/nogpu")),
            ("huge-node", server.url("/huge")),
            ("down-node", f"http://127.0.0.1:{closed_port()}/metrics"),
        ]
        source = ExporterGpuSource(targets, timeout_s=2.0)
        try:
            reading = await source.fetch()
        finally:
            await source.aclose()
    assert {(g.node, g.index) for g in reading.gpus} == {
        ("dcgm-node", 0),
        ("smi-node", 0),
        ("smi-node", 1),
        ("seed-node", 0),
        ("seed-node", 1),
    }
    errors = dict(reading.errors)
    assert errors["boom-node"] == "HTTP 500 Internal Server Error"
    assert errors["cut-node"].startswith("truncated body")
    assert (
        errors["junk-node"]
        == "not Prometheus text: line 3: invalid metric name: '<html>oops</html>'"
    )
    assert errors["nogpu-node"].startswith("no GPU metrics in 1 samples")
    assert errors["down-node"] == "connection refused"
    assert errors["huge-node"] == "not a GPU exporter: body over 32 MiB"
    assert set(errors) == {
        "boom-node",
        "cut-node",
        "junk-node",
        "nogpu-node",
        "huge-node",
        "down-node",
    }
    assert all("\n" not in e for e in errors.values())


async def test_slow_exporter_times_out_without_holding_up_the_others() -> None:
    routes = {
        "/slow": Reply(fixture("seed-exporter.prom"), delay_s=3.0),
        "/fast": Reply(fixture("seed-exporter.prom")),
    }
    with serve(routes) as server:
        source = ExporterGpuSource(
            [("slow", server.url("/slow")), ("fast", server.url("/fast"))], timeout_s=0.5
        )
        started = time.monotonic()
        try:
            reading = await source.fetch()
        finally:
            await source.aclose()
    assert time.monotonic() - started < 2.5
    assert reading.errors == {"slow": "timeout after 0.5s"}
    assert {g.node for g in reading.gpus} == {"fast"}


async def test_concurrency_is_bounded() -> None:
    in_flight = {"now": 0, "most": 0}
    lock = threading.Lock()

    def slow(request: str) -> Reply:
        with lock:
            in_flight["now"] += 1
            in_flight["most"] = max(in_flight["most"], in_flight["now"])
        time.sleep(0.2)
        with lock:
            in_flight["now"] -= 1
        return Reply(fixture("seed-exporter.prom"))

    with serve({"/metrics": slow}) as server:
        targets = [(f"gpu-{i}", server.url(f"/metrics?n={i}")) for i in range(6)]
        source = ExporterGpuSource(targets, concurrency=2, timeout_s=30)
        try:
            reading = await source.fetch()
        finally:
            await source.aclose()
    assert in_flight["most"] == 2
    assert reading.errors == {}
    assert len(reading.gpus) == 12


async def test_every_exporter_failing_raises_one_line_summary() -> None:
    port = closed_port()
    source = ExporterGpuSource(
        [(f"gpu-{i:02d}", f"http://127.0.0.1:{port}/metrics") for i in range(1, 17)]
    )
    try:
        with pytest.raises(SourceError) as caught:
            await source.fetch()
    finally:
        await source.aclose()
    assert str(caught.value) == "all 16 exporters failed; gpu-01: connection refused"


async def test_default_targets_come_from_slurm_node_names() -> None:
    with serve({"/metrics": Reply(fixture("dcgm-exporter-4.x.prom"))}) as server:
        source = ExporterGpuSource(
            url_template=f"http://127.0.0.1:{server.port}/metrics?node={{node}}"
        )
        try:
            assert (await source.fetch()).gpus == ()
            source.set_nodes(["gpu-01", "gpu-02"])
            reading = await source.fetch()
        finally:
            await source.aclose()
        assert sorted(server.requests) == ["/metrics?node=gpu-01", "/metrics?node=gpu-02"]
    # The target's node name wins over the exporter's Hostname label ("gpu-07").
    assert [g.node for g in reading.gpus] == ["gpu-01", "gpu-02"]


async def test_explicit_url_target_takes_node_from_hostname_label() -> None:
    with serve({"/metrics": Reply(fixture("dcgm-exporter-4.x.prom"))}) as server:
        source = ExporterGpuSource([server.url("/metrics")])
        try:
            reading = await source.fetch()
        finally:
            await source.aclose()
    assert [g.node for g in reading.gpus] == ["gpu-07"]


async def test_deadline_covers_targets_still_queued_behind_hanging_ones() -> None:
    release = threading.Event()

    def hang(request: str) -> Reply:
        release.wait(30)
        return Reply(fixture("seed-exporter.prom"))

    routes = {"/hang": hang, "/fast": Reply(fixture("seed-exporter.prom"))}
    with serve(routes) as server:
        targets = [
            ("fast-0", server.url("/fast")),
            ("hang-1", server.url("/hang")),
            ("hang-2", server.url("/hang")),
            ("fast-1", server.url("/fast")),
        ]
        # The deadline comes before the hanging scrapes give their slots up (SLOT_LEASE_S).
        source = ExporterGpuSource(targets, concurrency=2, timeout_s=0.3)
        try:
            reading = await source.fetch()
        finally:
            release.set()
            await source.aclose()
    assert reading.errors == {
        "hang-1": "timeout after 0.3s",
        "hang-2": "timeout after 0.3s",
        "fast-1": "timeout after 0.3s (still queued)",
    }
    assert {gpu.node for gpu in reading.gpus} == {"fast-0"}


async def test_hanging_exporters_give_their_slots_up_to_the_answering_ones() -> None:
    release = threading.Event()

    def hang(request: str) -> Reply:
        release.wait(30)
        return Reply(fixture("seed-exporter.prom"))

    routes = {"/hang": hang, "/fast": Reply(fixture("seed-exporter.prom"))}
    with serve(routes) as server:
        hanging = [(f"hang-{i}", server.url("/hang")) for i in range(4)]
        answering = [(f"fast-{i}", server.url("/fast")) for i in range(6)]
        source = ExporterGpuSource(hanging + answering, concurrency=2, timeout_s=3.0)
        try:
            reading = await source.fetch()
        finally:
            release.set()
            await source.aclose()
    assert reading.errors == {f"hang-{i}": "timeout after 3s" for i in range(4)}
    assert {gpu.node for gpu in reading.gpus} == {f"fast-{i}" for i in range(6)}


def test_mig_slices_show_under_their_gpu_with_utilization_from_engine_activity() -> None:
    gpus = gpus_from_samples(parse_samples(fixture("dcgm-exporter-mig.prom")), node="a100-mig")
    assert len(gpus) == 1
    gpu = gpus[0]
    assert [(m.instance_id, m.profile, m.utilization_pct, m.memory_used_mib) for m in gpu.mig] == [
        ("1", "3g.20gb", 80.0, 10000.0),
        ("2", "4g.20gb", 0.0, 0.0),
    ]
    # 3 of 7 compute slices at 80 %, 4 idle: the GPU is about a third busy, not unknown.
    assert gpu.utilization_pct == pytest.approx(80.0 * 3 / 7)
    assert gpu.memory_used_mib == 10000.0
    assert (gpu.temperature_c, gpu.power_w) == (47.0, 180.5)


def test_profiling_only_gpu_takes_utilization_from_engine_activity() -> None:
    page = 'DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="0"} 0.25\nDCGM_FI_DEV_GPU_TEMP{gpu="0"} 40\n'
    assert [g.utilization_pct for g in gpus_from_samples(parse_samples(page), node="n")] == [25.0]
    both = page + 'DCGM_FI_DEV_GPU_UTIL{gpu="0"} 60\n'
    assert [g.utilization_pct for g in gpus_from_samples(parse_samples(both), node="n")] == [60.0]
