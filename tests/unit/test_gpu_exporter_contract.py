"""The pod's GPU exporter, read by clusterdash's own exporter source: what the operator sees."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from containers.gpu_exporter.exporter import GpuExporter
from containers.gpu_exporter.nvml_reader import NvmlReader
from containers.gpu_exporter.server import ExporterServer
from tests.fixtures.containers.fake_nvml import FakeNvml, eight_gpus
from tui.sources.exporters import GPU_LOST_ERROR, gpus_from_samples
from tui.sources.promtext import parse_samples


@pytest.fixture
def metrics_url() -> Iterator[str]:
    nvml = FakeNvml(eight_gpus())
    nvml.gpus[4].util = 97
    nvml.gpus[4].temperature = 88
    nvml.gpus[4].ecc_dbe = 3
    nvml.gpus[4].remapped = (0, 2, 0, 1)
    nvml.gpus[4].used_mib = 70000
    reader = NvmlReader(nvml)
    reader.start()
    exporter = GpuExporter(
        reader, "gpu-07", last_xid=lambda index: 79 if index == 4 else 0,
        jobs_by_gpu=lambda: {4: "1234"},
    )  # fmt: skip
    server = ExporterServer(("127.0.0.1", 0), exporter)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()
    server.server_close()


def test_collector_reads_every_gpu_field_from_the_pod_exporter(metrics_url: str) -> None:
    text = httpx.get(metrics_url, timeout=5).text
    gpus = gpus_from_samples(parse_samples(text))

    assert [(gpu.node, gpu.index) for gpu in gpus] == [("gpu-07", index) for index in range(8)]
    gpu = gpus[4]
    assert gpu.uuid == "GPU-1c2b3a4d-0000-1111-2222-333344440004"
    assert gpu.model == "NVIDIA A100-SXM4-80GB"
    assert gpu.pci_bus_id == "00000000:47:00.0"
    assert gpu.utilization_pct == 97
    assert gpu.temperature_c == 88
    assert gpu.memory_used_mib == 70000
    assert gpu.memory_total_mib == 81920
    assert gpu.power_w == 250
    assert gpu.sm_clock_mhz == 1410
    assert gpu.last_xid == 79
    assert gpu.ecc_uncorrectable == 3
    assert gpu.remapped_row_failures == 1
    assert gpu.job_id == "1234"
    assert gpus[0].job_id is None
    assert gpus[0].last_xid == 0


def test_collector_shows_a_gpu_the_pod_exporter_reports_fallen_off_the_bus() -> None:
    nvml = FakeNvml(eight_gpus())
    reader = NvmlReader(nvml)
    reader.start()
    exporter = GpuExporter(reader, "gpu-07")
    exporter.render()
    nvml.gpus[2].lost = True

    gpus = gpus_from_samples(parse_samples(exporter.render()))

    assert [gpu.index for gpu in gpus if gpu.error == GPU_LOST_ERROR] == [2]
    assert gpus[2].uuid == "GPU-1c2b3a4d-0000-1111-2222-333344440002"
    assert gpus[2].utilization_pct is None
    assert gpus[3].error is None
