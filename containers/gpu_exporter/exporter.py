"""Turn NVML readings, XIDs and Slurm job ownership into dcgm-exporter's exposition text."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from loguru import logger

from .nvml_reader import GpuReport, NvmlReader, NvmlUnavailable

GPU_LOST = "DCGM_EXP_GPU_LOST"
XID_ERRORS = "DCGM_FI_DEV_XID_ERRORS"


@dataclass(frozen=True)
class MetricInfo:
    kind: str
    help: str


# Names, types and help as dcgm-exporter's default counters publish them.
METRICS: dict[str, MetricInfo] = {
    "DCGM_FI_DEV_SM_CLOCK": MetricInfo("gauge", "SM clock frequency (in MHz)."),
    "DCGM_FI_DEV_MEM_CLOCK": MetricInfo("gauge", "Memory clock frequency (in MHz)."),
    "DCGM_FI_DEV_GPU_TEMP": MetricInfo("gauge", "GPU temperature (in C)."),
    "DCGM_FI_DEV_POWER_USAGE": MetricInfo("gauge", "Power draw (in W)."),
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": MetricInfo(
        "counter", "Total energy consumption since boot (in mJ)."
    ),
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": MetricInfo("counter", "Total number of PCIe retries."),
    "DCGM_FI_DEV_GPU_UTIL": MetricInfo("gauge", "GPU utilization (in %)."),
    "DCGM_FI_DEV_MEM_COPY_UTIL": MetricInfo("gauge", "Memory utilization (in %)."),
    "DCGM_FI_DEV_FB_FREE": MetricInfo("gauge", "Framebuffer memory free (in MiB)."),
    "DCGM_FI_DEV_FB_USED": MetricInfo("gauge", "Framebuffer memory used (in MiB)."),
    "DCGM_FI_DEV_FB_TOTAL": MetricInfo("gauge", "Framebuffer memory total (in MiB)."),
    "DCGM_FI_DEV_FB_RESERVED": MetricInfo("gauge", "Framebuffer memory reserved (in MiB)."),
    "DCGM_FI_DEV_ENC_UTIL": MetricInfo("gauge", "Encoder utilization (in %)."),
    "DCGM_FI_DEV_DEC_UTIL": MetricInfo("gauge", "Decoder utilization (in %)."),
    "DCGM_FI_PROF_PCIE_TX_BYTES": MetricInfo(
        "gauge", "The rate of data transmitted over the PCIe bus (in bytes per second)."
    ),
    "DCGM_FI_PROF_PCIE_RX_BYTES": MetricInfo(
        "gauge", "The rate of data received over the PCIe bus (in bytes per second)."
    ),
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": MetricInfo(
        "counter", "Total number of single-bit volatile ECC errors."
    ),
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": MetricInfo(
        "counter", "Total number of double-bit volatile ECC errors."
    ),
    "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS": MetricInfo(
        "counter", "Number of remapped rows for correctable errors"
    ),
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS": MetricInfo(
        "counter", "Number of remapped rows for uncorrectable errors"
    ),
    "DCGM_FI_DEV_ROW_REMAP_FAILURE": MetricInfo("gauge", "Whether remapping of rows has failed"),
    XID_ERRORS: MetricInfo("gauge", "Value of the last XID error encountered."),
    GPU_LOST: MetricInfo("gauge", "1 when the GPU has fallen off the bus (NVML: GPU is lost)."),
}


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{key}="{escape_label(value)}"' for key, value in pairs)


class GpuExporter:
    """Everything /metrics and /health need, with NVML, XIDs and jobs as dependencies."""

    def __init__(
        self,
        reader: NvmlReader,
        hostname: str,
        last_xid: Callable[[int], int] = lambda index: 0,
        jobs_by_gpu: Callable[[], dict[int, str]] = dict,
    ) -> None:
        self._reader = reader
        self._hostname = hostname
        self._last_xid = last_xid
        self._jobs_by_gpu = jobs_by_gpu

    def healthy(self) -> bool:
        try:
            self._reader.device_count()
        except NvmlUnavailable as error:
            logger.warning("health check failed: {}", error)
            return False
        return True

    def render(self) -> str:
        """The exposition text of every GPU; raises NvmlUnavailable when NVML is down."""
        driver = self._reader.driver_version()
        reports = self._reader.read()
        jobs = self._jobs_by_gpu()
        samples: dict[str, list[str]] = {name: [] for name in METRICS}
        for report in reports:
            for name, value in self._values(report).items():
                labels = _labels(self._label_pairs(report, driver, jobs.get(report.index)))
                samples[name].append(f"{name}{{{labels}}} {format_value(value)}")
        lines: list[str] = []
        for name, rendered in samples.items():
            if not rendered:
                continue
            info = METRICS[name]
            lines.append(f"# HELP {name} {info.help}")
            lines.append(f"# TYPE {name} {info.kind}")
            lines.extend(rendered)
        return "\n".join(lines) + "\n"

    def _values(self, report: GpuReport) -> dict[str, float]:
        if report.lost:
            return {GPU_LOST: 1}
        values = dict(report.values)
        if report.identity is not None:
            values[XID_ERRORS] = self._last_xid(report.index)
        values[GPU_LOST] = 0
        return values

    def _label_pairs(
        self, report: GpuReport, driver: str, job: str | None
    ) -> list[tuple[str, str]]:
        identity = report.identity
        pairs = [
            ("gpu", str(report.index)),
            ("UUID", identity.uuid if identity else ""),
            ("pci_bus_id", identity.pci_bus_id if identity else ""),
            ("device", identity.device if identity else f"nvidia{report.index}"),
            ("modelName", identity.model_name if identity else ""),
            ("Hostname", self._hostname),
            ("DCGM_FI_DRIVER_VERSION", driver),
        ]
        if job is not None:
            pairs.append(("hpc_job", job))
        return pairs
