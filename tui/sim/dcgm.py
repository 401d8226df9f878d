"""Render the simulated GPUs as dcgm-exporter's Prometheus text: same names, labels, HELP.

Each node's payload is rendered once per simulation change and cached as bytes; the
all-nodes payload (what Prometheus scrapes from one target) groups every family once.
"""

from __future__ import annotations

import hashlib

from tui.sim.cluster import SimCluster
from tui.sim.gpus import GPU_MEMORY_MIB, GPU_MODEL, MEM_CLOCK_MHZ, GpuSample

DRIVER_VERSION = "535.183.01"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Bus ids of the eight A100s in an HGX A100 baseboard.
PCI_BUS_IDS = ("07", "0F", "47", "4E", "87", "90", "B7", "BD")

# (name, type, help): every family of dcgm-exporter's etc/default-counters.csv in its order,
# then the profiling (DCP) families its recent releases enable by default, then the ECC
# counter the alert rules read. Values come from _values() in the same order. With eight
# GPUs and the hpc_job label a node's page is about 48 KB, as a real exporter's is.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    (
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "counter",
        "Total energy consumption since boot (in mJ).",
    ),
    (
        "DCGM_FI_DEV_PCIE_TX_THROUGHPUT",
        "counter",
        "Total number of bytes transmitted through PCIe TX (in KB) via NVML.",
    ),
    (
        "DCGM_FI_DEV_PCIE_RX_THROUGHPUT",
        "counter",
        "Total number of bytes received through PCIe RX (in KB) via NVML.",
    ),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries."),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %)."),
    ("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %)."),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    (
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
        "counter",
        "Total number of NVLink bandwidth counters for all lanes",
    ),
    ("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "vGPU License status"),
    (
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
        "counter",
        "Number of remapped rows for uncorrectable errors",
    ),
    (
        "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
        "counter",
        "Number of remapped rows for correctable errors",
    ),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed"),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active."),
    (
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
        "gauge",
        "Ratio of cycles the tensor (HMMA) pipe is active.",
    ),
    (
        "DCGM_FI_PROF_DRAM_ACTIVE",
        "gauge",
        "Ratio of cycles the device memory interface is active sending or receiving data.",
    ),
    (
        "DCGM_FI_PROF_PCIE_TX_BYTES",
        "gauge",
        "The rate of data transmitted over the PCIe bus - including both protocol headers "
        "and data payloads - in bytes per second.",
    ),
    (
        "DCGM_FI_PROF_PCIE_RX_BYTES",
        "gauge",
        "The rate of data received over the PCIe bus - including both protocol headers "
        "and data payloads - in bytes per second.",
    ),
    ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", "Total number of double-bit volatile ECC errors."),
)
_MEM_CLOCK = str(MEM_CLOCK_MHZ)


def _values(s: GpuSample) -> tuple[str, ...]:
    """One GPU's sample values as text, in METRICS order."""
    busy = s.utilization_pct / 100
    # Counters grow with the reading so that successive pages differ as a real one's do.
    energy_mj = int(s.power_w * 1000) * 86_400
    return (
        str(s.sm_clock_mhz),
        _MEM_CLOCK,
        str(s.memory_temperature_c),
        str(s.temperature_c),
        f"{s.power_w:.3f}",
        str(energy_mj),
        str(int(busy * 5_000_000) + 1_000_000),
        str(int(busy * 4_000_000) + 1_000_000),
        "0",
        str(s.utilization_pct),
        str(s.memory_copy_util_pct),
        "0",
        "0",
        str(s.xid),
        str(GPU_MEMORY_MIB - s.memory_used_mib),
        str(s.memory_used_mib),
        str(int(busy * 9_000_000_000)),
        "0",
        "0",
        "0",
        "0",
        f"{busy * 0.97:.6f}",
        f"{busy * 0.41:.6f}",
        f"{s.memory_copy_util_pct / 100:.6f}",
        str(int(busy * 2_500_000_000)),
        str(int(busy * 1_800_000_000)),
        "0",
    )


_HEADERS = tuple(f"# HELP {name} {text}\n# TYPE {name} {kind}\n" for name, kind, text in METRICS)


def gpu_uuid(node: str, gpu: int) -> str:
    digest = hashlib.md5(f"{node}/{gpu}".encode(), usedforsecurity=False).hexdigest()
    return f"GPU-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def pci_bus_id(gpu: int) -> str:
    bus = PCI_BUS_IDS[gpu] if gpu < len(PCI_BUS_IDS) else f"{0xC0 + gpu:02X}"
    return f"00000000:{bus}:00.0"


class DcgmRenderer:
    """Per-node dcgm-exporter payloads for a SimCluster, cached until the simulation changes."""

    def __init__(self, sim: SimCluster) -> None:
        self.sim = sim
        per = sim.gpus_per_node
        # The label set of every GPU up to (not including) the optional hpc_job label.
        self._labels: list[str] = [
            f'gpu="{gpu}",UUID="{gpu_uuid(name, gpu)}",pci_bus_id="{pci_bus_id(gpu)}",'
            f'device="nvidia{gpu}",modelName="{GPU_MODEL}",Hostname="{name}",'
            f'DCGM_FI_DRIVER_VERSION="{DRIVER_VERSION}"'
            for name in sim.node_names
            for gpu in range(per)
        ]
        self._version = -1
        self._chunks: dict[int, list[str]] = {}
        self._templates: dict[int, tuple[tuple[int, ...], list[str]]] = {}
        self._payloads: dict[int, bytes] = {}
        self._all: bytes | None = None

    def node_payload(self, node: int) -> bytes:
        """The exporter's response body for one node, at the simulation's current state."""
        self._expire()
        payload = self._payloads.get(node)
        if payload is None:
            chunks = self._node_chunks(node)
            payload = "".join(h + c for h, c in zip(_HEADERS, chunks, strict=True)).encode()
            self._payloads[node] = payload
        return payload

    def all_payload(self) -> bytes:
        """Every responding node's samples, one family at a time (Hostname tells them apart)."""
        self._expire()
        if self._all is None:
            sim = self.sim
            nodes = [n for n in range(len(sim.node_names)) if sim.is_responding(n)]
            per_node = [self._node_chunks(n) for n in nodes]
            parts = []
            for index, header in enumerate(_HEADERS):
                parts.append(header)
                parts.extend(chunks[index] for chunks in per_node)
            self._all = "".join(parts).encode()
        return self._all

    def _expire(self) -> None:
        if self._version != self.sim.version:
            self._version = self.sim.version
            self._chunks.clear()
            self._payloads.clear()
            self._all = None

    def _node_chunks(self, node: int) -> list[str]:
        chunks = self._chunks.get(node)
        if chunks is not None:
            return chunks
        sim = self.sim
        holders = tuple(sim.holder_id(node, gpu) for gpu in range(sim.gpus_per_node))
        cached = self._templates.get(node)
        if cached is None or cached[0] != holders:
            cached = (holders, self._build_templates(node, holders))
            self._templates[node] = cached
        # One %-format per family: the per-GPU values, transposed to family-major order.
        by_family = zip(*map(_values, sim.gpu_samples(node)), strict=True)
        chunks = [template % values for template, values in zip(cached[1], by_family, strict=True)]
        self._chunks[node] = chunks
        return chunks

    def _build_templates(self, node: int, holders: tuple[int, ...]) -> list[str]:
        """Per family, this node's sample lines with a %s where each value goes."""
        base = node * self.sim.gpus_per_node
        label_sets = [
            f'{self._labels[base + gpu]},hpc_job="{job_id}"' if job_id else self._labels[base + gpu]
            for gpu, job_id in enumerate(holders)
        ]
        escaped = [labels.replace("%", "%%") for labels in label_sets]
        return ["".join(f"{name}{{{labels}}} %s\n" for labels in escaped) for name, _, _ in METRICS]
