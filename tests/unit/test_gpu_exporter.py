"""The GPU exporter over a real loopback HTTP server, with a fake NVML behind it."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from containers.gpu_exporter.exporter import GpuExporter
from containers.gpu_exporter.nvml_reader import NvmlReader, NvmlUnavailable
from containers.gpu_exporter.server import ExporterServer
from containers.gpu_exporter.xid import XidWatcher
from tests.fixtures.containers.fake_nvml import FakeNvml, eight_gpus

REPO = Path(__file__).resolve().parents[2]
HEALTH = "DCGM_EXP_GPU_HEALTH_STATUS"
Samples = dict[tuple[str, str], tuple[dict[str, str], float]]
ServeFn = Callable[..., str]


def parse(text: str) -> Samples:
    """(metric name, gpu index) -> (labels, value), via the reference Prometheus parser."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            # The parser appends _total to counter samples; Prometheus keeps dcgm's names as-is.
            name = family.name if family.type == "counter" else sample.name
            samples[(name, sample.labels.get("gpu", ""))] = (sample.labels, sample.value)
    return samples


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def nvml() -> FakeNvml:
    return FakeNvml(eight_gpus())


@pytest.fixture
def serve() -> Iterator[ServeFn]:
    """Start the exporter's real HTTP server on 127.0.0.1 and return its base URL."""
    servers: list[ExporterServer] = []

    def start(exporter: GpuExporter) -> str:
        server = ExporterServer(("127.0.0.1", 0), exporter)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def started_reader(nvml: FakeNvml) -> NvmlReader:
    reader = NvmlReader(nvml)
    reader.start()
    return reader


def test_metrics_use_dcgm_names_labels_and_units(nvml: FakeNvml, serve: ServeFn) -> None:
    nvml.gpus[1].used_mib = 40960
    nvml.gpus[1].power_mw = 312_500
    nvml.gpus[1].ecc_dbe = 2
    nvml.gpus[1].remapped = (1, 3, 0, 1)
    url = serve(GpuExporter(started_reader(nvml), "gpu-01"))

    status, body = get(f"{url}/metrics")
    samples = parse(body)

    assert status == 200
    labels, used = samples[("DCGM_FI_DEV_FB_USED", "1")]
    assert used == 40960
    assert labels == {
        "gpu": "1",
        "UUID": "GPU-1c2b3a4d-0000-1111-2222-333344440001",
        "pci_bus_id": "00000000:17:00.0",
        "device": "nvidia1",
        "modelName": "NVIDIA A100-SXM4-80GB",
        "Hostname": "gpu-01",
        "DCGM_FI_DRIVER_VERSION": "550.54.15",
    }
    assert samples[("DCGM_FI_DEV_FB_FREE", "1")][1] == 81920 - 40960
    assert samples[("DCGM_FI_DEV_FB_TOTAL", "1")][1] == 81920
    assert samples[("DCGM_FI_DEV_POWER_USAGE", "1")][1] == 312.5
    assert samples[("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "1")][1] == 2
    assert samples[("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "1")][1] == 3
    assert samples[("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "1")][1] == 1
    assert samples[("DCGM_FI_DEV_ROW_REMAP_FAILURE", "1")][1] == 1
    assert samples[("DCGM_FI_DEV_SM_CLOCK", "0")][1] == 1410
    assert samples[("DCGM_FI_DEV_XID_ERRORS", "0")][1] == 0
    gpus = {gpu for (name, gpu) in samples if name == "DCGM_FI_DEV_GPU_UTIL"}
    assert gpus == {str(index) for index in range(8)}


def test_dcgm_exporters_other_default_fields_are_exported(nvml: FakeNvml, serve: ServeFn) -> None:
    nvml.gpus[0].enc_util = 7
    nvml.gpus[0].dec_util = 11
    nvml.gpus[0].reserved_mib = 600
    nvml.gpus[0].pcie_tx_kbps = 1000
    nvml.gpus[0].pcie_rx_kbps = 3000
    samples = parse(get(f"{serve(GpuExporter(started_reader(nvml), 'gpu-01'))}/metrics")[1])

    assert samples[("DCGM_FI_DEV_ENC_UTIL", "0")][1] == 7
    assert samples[("DCGM_FI_DEV_DEC_UTIL", "0")][1] == 11
    assert samples[("DCGM_FI_DEV_FB_RESERVED", "0")][1] == 600
    assert samples[("DCGM_FI_PROF_PCIE_TX_BYTES", "0")][1] == 1000 * 1024
    assert samples[("DCGM_FI_PROF_PCIE_RX_BYTES", "0")][1] == 3000 * 1024


def test_each_gpu_carries_the_job_that_holds_it(nvml: FakeNvml, serve: ServeFn) -> None:
    exporter = GpuExporter(
        started_reader(nvml), "gpu-01", jobs_by_gpu=lambda: {0: "42", 1: "42", 5: "43"}
    )
    samples = parse(get(f"{serve(exporter)}/metrics")[1])

    jobs = {
        gpu: labels.get("hpc_job")
        for (name, gpu), (labels, _) in samples.items()
        if name == "DCGM_FI_DEV_GPU_UTIL"
    }
    assert jobs == {"0": "42", "1": "42", "5": "43"} | {str(i): None for i in (2, 3, 4, 6, 7)}


def test_gpu_lost_before_first_scrape_is_reported_and_others_exported(
    nvml: FakeNvml, serve: ServeFn
) -> None:
    nvml.gpus[3].lost = True
    samples = parse(get(f"{serve(GpuExporter(started_reader(nvml), 'gpu-01'))}/metrics")[1])

    labels, status = samples[(HEALTH, "3")]
    assert status == 20  # DCGM_HEALTH_RESULT_FAIL
    assert labels["health_watch"] == "ALL"
    assert labels["health_error_code"] == "DCGM_FR_FALLEN_OFF_BUS"
    assert ("DCGM_FI_DEV_GPU_UTIL", "3") not in samples
    for healthy in ("0", "2", "4", "7"):
        labels, status = samples[(HEALTH, healthy)]
        assert (status, labels["health_error_code"]) == (0, "DCGM_FR_OK")
        assert ("DCGM_FI_DEV_GPU_UTIL", healthy) in samples


def test_gpu_falling_off_the_bus_between_scrapes_keeps_its_identity(
    nvml: FakeNvml, serve: ServeFn
) -> None:
    url = serve(GpuExporter(started_reader(nvml), "gpu-01"))
    assert get(f"{url}/metrics")[0] == 200
    nvml.gpus[6].lost = True

    status, body = get(f"{url}/metrics")
    samples = parse(body)

    assert status == 200
    labels, status = samples[(HEALTH, "6")]
    assert status == 20
    assert labels["UUID"] == "GPU-1c2b3a4d-0000-1111-2222-333344440006"
    assert ("DCGM_FI_DEV_FB_USED", "6") not in samples
    assert samples[("DCGM_FI_DEV_FB_USED", "7")][1] == 10240


def test_field_the_gpu_does_not_support_is_left_out(nvml: FakeNvml, serve: ServeFn) -> None:
    nvml.gpus[0].unsupported = {"remapped", "energy"}
    samples = parse(get(f"{serve(GpuExporter(started_reader(nvml), 'h'))}/metrics")[1])

    assert ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "0") not in samples
    assert ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "0") not in samples
    assert samples[("DCGM_FI_DEV_GPU_TEMP", "0")][1] == 45
    assert samples[("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "1")][1] == 123_456_789


def test_health_follows_nvml(nvml: FakeNvml, serve: ServeFn) -> None:
    url = serve(GpuExporter(started_reader(nvml), "h"))
    assert get(f"{url}/health") == (200, "ok\n")

    nvml.broken = True

    assert get(f"{url}/health")[0] == 503
    status, body = get(f"{url}/metrics")
    assert status == 503
    assert body.count("\n") == 1
    assert "Driver Not Loaded" in body
    assert get(f"{url}/nowhere")[0] == 404


def test_last_xid_per_gpu_is_exported(nvml: FakeNvml, serve: ServeFn) -> None:
    reader = started_reader(nvml)
    watcher = XidWatcher(reader, wait_ms=20)
    watcher.start()
    try:
        url = serve(GpuExporter(reader, "h", last_xid=watcher.last_xid))
        assert nvml.registered == set(range(8))
        nvml.events.put((2, 48))
        nvml.events.put((2, 79))
        nvml.events.put((5, 63))
        deadline = time.monotonic() + 5
        while watcher.last_xid(5) != 63 and time.monotonic() < deadline:
            time.sleep(0.01)
        samples = parse(get(f"{url}/metrics")[1])
    finally:
        watcher.stop()

    labels, xid = samples[("DCGM_FI_DEV_XID_ERRORS", "2")]
    assert xid == 79
    assert (labels["err_code"], labels["err_msg"]) == ("79", "GPU has fallen off the bus")
    assert samples[("DCGM_FI_DEV_XID_ERRORS", "5")][1] == 63
    labels, xid = samples[("DCGM_FI_DEV_XID_ERRORS", "0")]
    assert xid == 0
    assert (labels["err_code"], labels["err_msg"]) == ("0", "No Error")
    assert "err_code" not in samples[("DCGM_FI_DEV_GPU_UTIL", "2")][0]


def test_nvml_that_cannot_start_gives_one_line_reason(nvml: FakeNvml) -> None:
    nvml.fail_init = True
    with pytest.raises(NvmlUnavailable, match="NVML initialisation failed: NVML Shared Library"):
        NvmlReader(nvml).start()


def test_exporter_without_a_driver_exits_with_a_clear_message() -> None:
    """The real entry point, with the real pynvml, on a machine without the NVIDIA driver."""
    if ctypes.util.find_library("nvidia-ml"):
        pytest.skip("an NVIDIA driver is installed here: the exporter would start serving")
    env = {**os.environ, "PYTHONPATH": str(REPO / "containers")}
    result = subprocess.run(
        [sys.executable, "-m", "gpu_exporter", "--port", "0", "--listen", "127.0.0.1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("gpu_exporter: NVML initialisation failed")
    assert "Traceback" not in result.stderr


def test_an_unexpected_failure_answers_500_and_the_next_scrape_works(
    nvml: FakeNvml, serve: ServeFn
) -> None:
    calls = {"count": 0}

    def flaky_jobs() -> dict[int, str]:
        calls["count"] += 1
        if calls["count"] == 1:
            raise ValueError("unexpected squeue output")
        return {}

    url = serve(GpuExporter(started_reader(nvml), "h", jobs_by_gpu=flaky_jobs))

    assert get(f"{url}/metrics") == (500, "scrape failed: ValueError: unexpected squeue output\n")
    assert get(f"{url}/metrics")[0] == 200
