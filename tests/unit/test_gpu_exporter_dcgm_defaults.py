"""dcgm-exporter's default fields that NVML gives only on some GPUs, and MIG instances' labels."""

from __future__ import annotations

import pynvml
from prometheus_client.parser import text_string_to_metric_families

from containers.gpu_exporter.exporter import GpuExporter
from containers.gpu_exporter.nvml_reader import NvmlReader
from tests.fixtures.containers.fake_nvml import FakeMig, FakeNvml, eight_gpus

Series = list[tuple[str, dict[str, str], float]]

HOPPER = "NVIDIA H100 80GB HBM3"
PROF_FIELDS = (
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
    "DCGM_FI_PROF_DRAM_ACTIVE",
)
NVLINK = "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def series(text: str) -> Series:
    found: Series = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = family.name if family.type == "counter" else sample.name
            found.append((name, sample.labels, sample.value))
    return found


def values(text: str, name: str) -> dict[str, float]:
    """gpu index -> value of the whole-GPU series `name`."""
    return {
        labels["gpu"]: value
        for metric, labels, value in series(text)
        if metric == name and "GPU_I_ID" not in labels
    }


def exporter(nvml: FakeNvml, clock: Clock | None = None) -> GpuExporter:
    reader = NvmlReader(nvml, clock=clock)
    reader.start()
    return GpuExporter(reader, "gpu-01")


def test_memory_temperature_is_exported_where_nvml_has_it() -> None:
    nvml = FakeNvml(eight_gpus())
    nvml.gpus[2].memory_temp = 71
    nvml.gpus[5].unsupported = {"memory_temp"}

    temperatures = values(exporter(nvml).render(), "DCGM_FI_DEV_MEMORY_TEMP")

    assert temperatures["2"] == 71
    assert "5" not in temperatures
    assert len(temperatures) == 7


def test_nvlink_bandwidth_is_the_rate_of_all_links_from_the_second_scrape() -> None:
    nvml = FakeNvml(eight_gpus())
    nvml.gpus[7].nvlink_links = 0  # a PCIe card: no NVLink
    clock = Clock()
    gpu_exporter = exporter(nvml, clock)

    first = values(gpu_exporter.render(), NVLINK)
    nvml.gpus[0].nvlink_tx_kib += 1000
    nvml.gpus[0].nvlink_rx_kib += 500
    clock.now += 2.0
    second = values(gpu_exporter.render(), NVLINK)

    assert first == {}  # one reading is no rate
    assert second["0"] == 12 * 1500 / 2.0  # 12 links, KiB/s
    assert second["1"] == 0  # idle links are a real zero
    assert "7" not in second


def test_profiling_ratios_come_from_gpm_on_hopper_only() -> None:
    gpus = eight_gpus()
    for gpu in gpus[:4]:
        gpu.name = HOPPER
        gpu.gpm_supported = True
        gpu.gpm_percent = {
            pynvml.NVML_GPM_METRIC_GRAPHICS_UTIL: 87.5,
            pynvml.NVML_GPM_METRIC_ANY_TENSOR_UTIL: 40.0,
            pynvml.NVML_GPM_METRIC_DRAM_BW_UTIL: 12.5,
        }
    del gpus[3].gpm_percent[pynvml.NVML_GPM_METRIC_ANY_TENSOR_UTIL]
    nvml = FakeNvml(gpus)
    gpu_exporter = exporter(nvml)

    first = gpu_exporter.render()
    second = gpu_exporter.render()

    assert all(values(first, name) == {} for name in PROF_FIELDS)
    assert values(second, "DCGM_FI_PROF_GR_ENGINE_ACTIVE") == {str(i): 0.875 for i in range(4)}
    assert values(second, "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE") == {str(i): 0.4 for i in range(3)}
    assert values(second, "DCGM_FI_PROF_DRAM_ACTIVE") == {str(i): 0.125 for i in range(4)}
    assert len(nvml.gpm_samples) == 4  # only each GPU's latest sample is kept


def test_mig_instances_carry_dcgm_exporters_gpu_instance_labels() -> None:
    nvml = FakeNvml(eight_gpus())
    nvml.gpus[1].mig = [FakeMig(9, "3g.40gb", 40192, 1024), FakeMig(1, "4g.40gb", 40192, 30000)]

    page = series(exporter(nvml).render())

    instances = [
        (name, labels["GPU_I_ID"], labels["GPU_I_PROFILE"], value)
        for name, labels, value in page
        if "GPU_I_ID" in labels
    ]
    assert sorted(instances) == [
        ("DCGM_FI_DEV_FB_FREE", "1", "4g.40gb", 40192 - 30000),
        ("DCGM_FI_DEV_FB_FREE", "9", "3g.40gb", 40192 - 1024),
        ("DCGM_FI_DEV_FB_TOTAL", "1", "4g.40gb", 40192),
        ("DCGM_FI_DEV_FB_TOTAL", "9", "3g.40gb", 40192),
        ("DCGM_FI_DEV_FB_USED", "1", "4g.40gb", 30000),
        ("DCGM_FI_DEV_FB_USED", "9", "3g.40gb", 1024),
    ]
    assert all(labels["gpu"] == "1" for _, labels, _ in page if "GPU_I_ID" in labels)
    utilisation = [value for name, labels, value in page if name == "DCGM_FI_DEV_GPU_UTIL"]
    assert len(utilisation) == 8  # whole-GPU series stay one per GPU, without MIG labels


class DriverWithoutGpm(FakeNvml):
    """A driver older than GPM: pynvml finds no nvmlGpmQueryDeviceSupport in libnvidia-ml."""

    gpm_queries = 0

    def nvmlGpmQueryDeviceSupport(self, handle: object) -> object:
        self.gpm_queries += 1
        raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)


def test_a_driver_without_gpm_is_asked_once_per_gpu_and_the_series_left_out() -> None:
    nvml = DriverWithoutGpm(eight_gpus())
    gpu_exporter = exporter(nvml)

    pages = [gpu_exporter.render() for _ in range(3)]

    assert nvml.gpm_queries == 8
    assert all(values(page, name) == {} for page in pages for name in PROF_FIELDS)
    assert len(values(pages[-1], "DCGM_FI_DEV_GPU_UTIL")) == 8
