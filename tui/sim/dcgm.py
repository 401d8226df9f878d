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

# (name, type, help) in dcgm-exporter's default-counters.csv order; values come from
# _values() in the same order.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", "Total number of double-bit volatile ECC errors."),
    (
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
        "counter",
        "Number of remapped rows for uncorrectable errors",
    ),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed"),
)
_MEM_CLOCK = str(MEM_CLOCK_MHZ)


def _values(s: GpuSample) -> tuple[str, ...]:
    """One GPU's sample values as text, in METRICS order."""
    return (
        str(s.sm_clock_mhz),
        _MEM_CLOCK,
        str(s.memory_temperature_c),
        str(s.temperature_c),
        f"{s.power_w:.3f}",
        str(s.utilization_pct),
        str(s.memory_copy_util_pct),
        str(s.xid),
        str(GPU_MEMORY_MIB - s.memory_used_mib),
        str(s.memory_used_mib),
        "0",
        "0",
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
