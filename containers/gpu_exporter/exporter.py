"""Turn NVML readings, XIDs and Slurm job ownership into dcgm-exporter's exposition text.

A GPU that falls off the bus is reported the way dcgm-exporter reports it: the
DCGM_EXP_GPU_HEALTH_STATUS series with health_watch="ALL" (where DCGM files fallen-off-bus
XIDs) turns to DCGM's FAIL result (20) with health_error_code="DCGM_FR_FALLEN_OFF_BUS",
while its other series stop. This exporter judges health only from what NVML tells it, so
it publishes the "ALL" watch alone, never a PASS for a subsystem it did not check. A GPU
neither NVML nor DCGM can enumerate any more disappears from the page altogether; readers
catch that by comparing the GPUs present with the node's Slurm GRES count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from loguru import logger

from .nvml_reader import GpuReport, NvmlReader, NvmlUnavailable
from .xid_text import xid_text

HEALTH_STATUS = "DCGM_EXP_GPU_HEALTH_STATUS"
XID_ERRORS = "DCGM_FI_DEV_XID_ERRORS"
# DCGM's dcgmHealthResult_t values and the names dcgm-exporter gives its labels.
HEALTH_PASS = 0
HEALTH_FAIL = 20
HEALTH_WATCH_ALL = "ALL"
HEALTH_OK = "DCGM_FR_OK"
HEALTH_FALLEN_OFF_BUS = "DCGM_FR_FALLEN_OFF_BUS"

Labels = list[tuple[str, str]]


@dataclass(frozen=True)
class MetricInfo:
    kind: str
    help: str


# Names, types and help as dcgm-exporter's default counters publish them.
METRICS: dict[str, MetricInfo] = {
    "DCGM_FI_DEV_SM_CLOCK": MetricInfo("gauge", "SM clock frequency (in MHz)."),
    "DCGM_FI_DEV_MEM_CLOCK": MetricInfo("gauge", "Memory clock frequency (in MHz)."),
    "DCGM_FI_DEV_MEMORY_TEMP": MetricInfo("gauge", "Memory temperature (in C)."),
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
    "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL": MetricInfo(
        "counter", "Total number of NVLink bandwidth counters for all lanes."
    ),
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": MetricInfo(
        "gauge", "Ratio of time the graphics engine is active."
    ),
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": MetricInfo(
        "gauge", "Ratio of cycles the tensor (HMMA) pipe is active."
    ),
    "DCGM_FI_PROF_DRAM_ACTIVE": MetricInfo(
        "gauge",
        "Ratio of cycles the device memory interface is active sending or receiving data.",
    ),
    XID_ERRORS: MetricInfo("gauge", "Value of the last XID error encountered."),
    HEALTH_STATUS: MetricInfo("counter", "DCGM reported health status"),
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
            identity = self._identity_labels(report)
            tail = [("Hostname", self._hostname), ("DCGM_FI_DRIVER_VERSION", driver)]
            job = jobs.get(report.index)
            if job is not None:
                tail.append(("hpc_job", job))
            for name, value, extra in self._series(report):
                labels = _labels(identity + tail + extra)
                samples[name].append(f"{name}{{{labels}}} {format_value(value)}")
            for instance in report.mig:
                mig = [
                    ("GPU_I_PROFILE", instance.profile),
                    ("GPU_I_ID", str(instance.gpu_instance_id)),
                ]
                labels = _labels(identity + mig + tail)
                for name, value in instance.values.items():
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

    def _series(self, report: GpuReport) -> list[tuple[str, float, Labels]]:
        """(metric, value, labels of that series alone) for one whole GPU."""
        if report.lost:
            return [(HEALTH_STATUS, HEALTH_FAIL, _health_labels(HEALTH_FALLEN_OFF_BUS))]
        series: list[tuple[str, float, Labels]] = [
            (name, value, []) for name, value in report.values.items()
        ]
        if report.identity is not None:
            xid = self._last_xid(report.index)
            error = [("err_code", str(xid)), ("err_msg", xid_text(xid))]
            series.append((XID_ERRORS, xid, error))
        series.append((HEALTH_STATUS, HEALTH_PASS, _health_labels(HEALTH_OK)))
        return series

    def _identity_labels(self, report: GpuReport) -> Labels:
        identity = report.identity
        return [
            ("gpu", str(report.index)),
            ("UUID", identity.uuid if identity else ""),
            ("pci_bus_id", identity.pci_bus_id if identity else ""),
            ("device", identity.device if identity else f"nvidia{report.index}"),
            ("modelName", identity.model_name if identity else ""),
        ]


def _health_labels(error_code: str) -> Labels:
    return [("health_watch", HEALTH_WATCH_ALL), ("health_error_code", error_code)]
