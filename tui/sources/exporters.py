"""GPU readings scraped straight from each node's exporter (HTTP :9400/metrics).

Three exporter dialects map onto tui.model.Gpu:

- NVIDIA dcgm-exporter: DCGM_FI_DEV_* families, labels gpu, UUID, modelName, pci_bus_id,
  Hostname (hostname in newer releases) and hpc_job when job mapping is on;
- this project's pod exporter: the same family names with labels gpu and gpu_name, plus
  DCGM_FI_DEV_FB_TOTAL;
- utkuozdemir/nvidia_gpu_exporter: nvidia_smi_* families keyed by a uuid label, in base
  units (ratios, bytes, hertz), identity on nvidia_smi_gpu_info.

A reading that means "not available" (NaN, infinities, dcgm's blank sentinels) becomes
None, never zero. `gpus_from_samples` is the pure conversion the Prometheus source reuses;
`DcgmFastPath` gives the same GPUs straight from a dcgm page's text, or gives up; a page the
fast path read leaves a PageTemplate (page_template.py) that reads the target's next pages
when only their numbers changed.
"""

from __future__ import annotations

import asyncio
import math
import resource
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urlsplit

import httpx
from loguru import logger

from tui.actions import NODE_NAME_RE
from tui.model import Gpu, MigInstance
from tui.sources.base import GpuReading, SourceError
from tui.sources.page_template import PageTemplate
from tui.sources.promtext import (
    METRIC_NAME_RE,
    ParseError,
    Sample,
    parse_label_block,
    parse_samples_async,
)
from tui.sources.scrape_http import BodyTooLarge, ScrapeClient, ScrapeError, ScrapeResponse
from tui.text import one_line

DEFAULT_URL_TEMPLATE = "http://{node}:9400/metrics"
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_CONCURRENCY = 64
# How long one scrape may hold a concurrency slot before waiting outside it. An 8-GPU page
# (30-60 KiB) arrives in well under 0.1 s from a healthy exporter.
SLOT_LEASE_S = 0.5
ACCEPT_HEADERS = {"Accept": "text/plain;version=0.0.4;q=0.9,*/*;q=0.1"}
# An 8-GPU dcgm-exporter page is 30-60 KiB; anything this big is a misconfigured target.
MAX_BODY_BYTES = 32 * 2**20
# File descriptors kept free of idle exporter connections (Slurm commands, the store, logs).
_SPARE_FILES = 256


def keepalive_pool_size(targets: int, concurrency: int) -> int:
    """Idle connections to keep between cycles: one per exporter, within the open-file limit.

    Reusing them makes a warm cycle open no connections (a new connection per node per
    cycle made a 1,024-node scrape 2-3x slower on loopback).
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = soft - _SPARE_FILES if soft != resource.RLIM_INFINITY else targets
    return max(concurrency, min(targets, room))


# dcgm marks "no value" with blank sentinels: int32 fields at 0x7ffffff0 and up, int64 near
# 2**63 (e.g. 9223372036854775794, "not supported"), FP64 at 2**47 = 1.40737488355328e14.
# No GPU reading dcgm-exporter reports (%, MiB, C, W, MHz, counts) comes near 2**31.
DCGM_INT32_BLANK = 0x7FFFFFF0
DCGM_FP64_BLANK = 1.40737488355328e14

MIB = 1024.0 * 1024.0

GPU_LOST_ERROR = "GPU lost: fell off the bus"
FALLEN_OFF_BUS = "DCGM_FR_FALLEN_OFF_BUS"

# dcgm family -> Gpu field; FB_FREE / FB_RESERVED only serve to derive the total, and a
# DCGM_EXP_GPU_HEALTH_STATUS series whose health_error_code says the GPU fell off the bus
# becomes Gpu.error. A lost GPU no exporter lists any more is absent here; tui.summary counts
# it against the node's Slurm GRES.
DCGM_FIELDS: Mapping[str, str] = {
    "DCGM_EXP_GPU_HEALTH_STATUS": "_health",
    "DCGM_FI_DEV_GPU_UTIL": "utilization_pct",
    # Profiling field, a ratio: the utilization of MIG slices and profiling-only setups.
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": "_gr_active",
    "DCGM_FI_DEV_FB_USED": "memory_used_mib",
    "DCGM_FI_DEV_FB_TOTAL": "memory_total_mib",
    "DCGM_FI_DEV_FB_FREE": "_fb_free",
    "DCGM_FI_DEV_FB_RESERVED": "_fb_reserved",
    "DCGM_FI_DEV_GPU_TEMP": "temperature_c",
    "DCGM_FI_DEV_POWER_USAGE": "power_w",
    "DCGM_FI_DEV_SM_CLOCK": "sm_clock_mhz",
    "DCGM_FI_DEV_XID_ERRORS": "last_xid",
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": "ecc_uncorrectable",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE": "remapped_row_failures",
}

# What a MIG slice reports for itself (its memory too, never the GPU's total); the rest
# (temperature, power, errors) is the GPU's, whichever slice's series carries it.
MIG_FIELDS = frozenset(
    {"utilization_pct", "_gr_active", "memory_used_mib", "memory_total_mib", "_fb_free"}
)

# nvidia_smi family -> (Gpu field, factor to the model's unit).
NVIDIA_SMI_FIELDS: Mapping[str, tuple[str, float]] = {
    "nvidia_smi_utilization_gpu_ratio": ("utilization_pct", 100.0),
    "nvidia_smi_memory_used_bytes": ("memory_used_mib", 1.0 / MIB),
    "nvidia_smi_memory_total_bytes": ("memory_total_mib", 1.0 / MIB),
    "nvidia_smi_temperature_gpu": ("temperature_c", 1.0),
    "nvidia_smi_power_draw_watts": ("power_w", 1.0),
    "nvidia_smi_clocks_current_sm_clock_hz": ("sm_clock_mhz", 1e-6),
    "nvidia_smi_ecc_errors_uncorrected_volatile_total": ("ecc_uncorrectable", 1.0),
    "nvidia_smi_remapped_rows_failure": ("remapped_row_failures", 1.0),
}

NODE_LABELS = ("Hostname", "hostname")


def finite(value: float) -> float | None:
    """A reading, or None for NaN, infinities and negatives: no GPU reading is below zero."""
    return None if math.isnan(value) or math.isinf(value) or value < 0 else value


def dcgm_value(value: float) -> float | None:
    """A dcgm reading, or None for NaN, infinities, negatives and dcgm's blank sentinels."""
    if math.isnan(value) or value < 0 or value >= DCGM_INT32_BLANK:
        return None
    return value


def gpu_index(label: str | None) -> int | None:
    """The GPU index an exporter's `gpu`/`index` label names; None unless plain ASCII digits
    (a Unicode digit such as "²" passes str.isdigit() but not int())."""
    if label is None or not label.isascii() or not label.isdigit() or len(label) > 6:
        return None
    return int(label)


def node_from_labels(labels: Mapping[str, str]) -> str:
    """The node a series belongs to: Hostname, hostname, else the host part of `instance`."""
    for key in NODE_LABELS:
        if labels.get(key):
            return labels[key]
    instance = labels.get("instance", "")
    return host_of(instance) if instance else ""


def host_of(address: str) -> str:
    """'gpu-01:9400' -> 'gpu-01'; '[::1]:9400' -> '::1'; a URL -> its host."""
    if "//" in address:
        return urlsplit(address).hostname or ""
    if address.startswith("["):
        return address[1:].partition("]")[0]
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


class GpuIdentity(NamedTuple):
    """What a dcgm series' labels say of its GPU, beside its readings."""

    lost: bool
    uuid: str
    model: str
    pci_bus_id: str
    job_id: str | None


def gpu_identity(labels: Mapping[str, str]) -> GpuIdentity:
    return GpuIdentity(
        lost=labels.get("health_error_code") == FALLEN_OFF_BUS,
        uuid=labels.get("UUID") or labels.get("uuid", ""),
        model=labels.get("modelName") or labels.get("gpu_name", ""),
        pci_bus_id=labels.get("pci_bus_id", ""),
        job_id=labels.get("hpc_job") or None,
    )


@dataclass
class _GpuDraft:
    node: str
    index: int | None = None
    uuid: str = ""
    model: str = ""
    pci_bus_id: str = ""
    job_id: str | None = None
    values: dict[str, float | None] = field(default_factory=dict)
    xid_seen_at: float = -math.inf
    # MIG slices: GPU instance id -> (profile, readings).
    mig: dict[str, tuple[str, dict[str, float | None]]] = field(default_factory=dict)
    lost: bool = False

    def identity(self, labels: Mapping[str, str]) -> None:
        self.take_identity(gpu_identity(labels))

    def take_identity(self, identity: GpuIdentity) -> None:
        """The first non-empty value of each wins; lost once, lost."""
        self.lost = self.lost or identity.lost
        self.uuid = self.uuid or identity.uuid
        self.model = self.model or identity.model
        self.pci_bus_id = self.pci_bus_id or identity.pci_bus_id
        if self.job_id is None:
            self.job_id = identity.job_id

    def build(self, index: int) -> Gpu:
        return self.build_with(index, self.values)

    def build_with(self, index: int, values: Mapping[str, float | None]) -> Gpu:
        """This GPU with `values` (Gpu field or derived reading -> value) as its readings.

        No intermediate dicts: 8,192 GPUs a cycle at 1,024 nodes."""
        get = values.get
        mig = (
            tuple(
                MigInstance(
                    instance_id,
                    profile,
                    _utilization(readings),
                    readings.get("memory_used_mib"),
                )
                for instance_id, (profile, readings) in sorted(self.mig.items())
            )
            if self.mig
            else ()
        )
        utilization = get("utilization_pct")
        if utilization is None:
            gr_active = get("_gr_active")
            utilization = (
                min(100.0, gr_active * 100.0) if gr_active is not None else _mig_utilization(mig)
            )
        used = get("memory_used_mib")
        if used is None and mig:
            used_parts = [m.memory_used_mib for m in mig if m.memory_used_mib is not None]
            used = sum(used_parts) if used_parts else None
        total = get("memory_total_mib")
        if total is None and used is not None:
            free = get("_fb_free")
            if free is not None:
                total = used + free + (get("_fb_reserved") or 0.0)
        xid = get("last_xid")
        ecc = get("ecc_uncorrectable")
        remapped = get("remapped_row_failures")
        # By position: 3.3 us a GPU against 5.9 us by keyword (8,192 GPUs a cycle at 1,024
        # nodes); test_exporters_fast_path checks each field lands where it belongs.
        return Gpu(
            self.node,
            index,
            self.uuid,
            self.model,
            self.pci_bus_id,
            utilization,
            used,
            total,
            get("temperature_c"),
            get("power_w"),
            get("sm_clock_mhz"),
            None if xid is None else int(xid),
            None if ecc is None else int(ecc),
            None if remapped is None else int(remapped),
            self.job_id,
            None,
            GPU_LOST_ERROR if self.lost else None,
            mig,
        )


def _utilization(readings: Mapping[str, float | None]) -> float | None:
    util = readings.get("utilization_pct")
    if util is not None:
        return util
    active = readings.get("_gr_active")
    return None if active is None else min(100.0, active * 100.0)


def _mig_utilization(mig: Sequence[MigInstance]) -> float | None:
    """A partitioned GPU's utilization: its slices' utilization weighted by their compute
    share ("3g.40gb" counts 3); None when no slice reports one."""
    weighted = total = 0.0
    for instance in mig:
        if instance.utilization_pct is None:
            continue
        head = instance.profile.partition("g.")[0]
        weight = float(head) if head.isascii() and head.isdigit() and head != "0" else 1.0
        weighted += weight * instance.utilization_pct
        total += weight
    return weighted / total if total else None


NodeOf = Callable[[Mapping[str, str]], str]


@dataclass
class PageStats:
    """What a page held that was not used: series naming a reading already read (a repeated
    series, or gpu="01" next to gpu="1"; the last one counts)."""

    duplicate_series: int = 0


def gpus_from_samples(
    samples: Iterable[Sample],
    node: str | None = None,
    node_of: NodeOf = node_from_labels,
    stats: PageStats | None = None,
) -> list[Gpu]:
    """GPUs described by exporter samples, sorted by (node, index).

    `node` puts every GPU on that node (direct scraping: the target's name); otherwise each
    series' node comes from `node_of(labels)` (Prometheus: Hostname / instance labels).
    Series of neither dialect, and GPU series without an index, are ignored.
    """
    dcgm: dict[tuple[str, int], _GpuDraft] = {}
    smi: dict[tuple[str, str], _GpuDraft] = {}
    for sample in samples:
        name = sample.name
        labels = sample.labels
        if name.startswith("DCGM_"):
            target = DCGM_FIELDS.get(name)
            index = gpu_index(labels.get("gpu"))
            if target is None or index is None:
                continue
            owner = node if node is not None else node_of(labels)
            key = (owner, index)
            draft = dcgm.get(key)
            if draft is None:
                draft = dcgm[key] = _GpuDraft(owner, index=key[1])
            draft.identity(labels)
            instance = labels.get("GPU_I_ID")
            if instance and target in MIG_FIELDS:
                _, readings = draft.mig.setdefault(instance, (labels.get("GPU_I_PROFILE", ""), {}))
                readings[target] = dcgm_value(sample.value)
                continue
            if stats is not None and target in draft.values:
                stats.duplicate_series += 1
            draft.values[target] = dcgm_value(sample.value)
        elif name.startswith("nvidia_smi_") and "uuid" in labels:
            owner = node if node is not None else node_of(labels)
            smi_key = (owner, labels["uuid"])
            draft = smi.get(smi_key)
            if draft is None:
                draft = smi[smi_key] = _GpuDraft(owner, uuid=labels["uuid"])
            _apply_nvidia_smi(draft, name, labels, sample.value)
    gpus = [draft.build(index) for (_, index), draft in dcgm.items()]
    gpus.extend(_number_smi_gpus(smi.values()))
    return _one_per_key(gpus)


def _one_per_key(gpus: list[Gpu]) -> list[Gpu]:
    """Sorted by (node, index), the first of GPUs that share one (a page mixing dialects, or
    two nvidia_smi GPUs claiming one index) kept: a GPU is never listed twice."""
    seen: set[tuple[str, int]] = set()
    kept = []
    for gpu in gpus:
        if gpu.key not in seen:
            seen.add(gpu.key)
            kept.append(gpu)
    kept.sort(key=lambda gpu: (gpu.node, gpu.index))
    return kept


# A page containing any of these goes through the general parser: the fast path would have
# to know escapes, CRLF, the OpenMetrics end marker, the nvidia_smi dialect or MIG slices.
_FAST_PATH_GIVE_UP = ("\\", "\r", "# EOF", "nvidia_smi_", "GPU_I_ID")
# Text read between yields to the event loop: about 4 ms of work.
FAST_PATH_CHUNK_CHARS = 1_000_000

# What a sample line's head (all before its value: `name{labels}`) means to the fast path:
# (the Gpu field its value fills, or None; its label block text).
_Head = tuple[str | None, str]
# The head of a comment line.
_COMMENT: _Head = ("#", "")


class DcgmLineCache:
    """What DcgmFastPath learnt from earlier pages, kept across scrapes: every sample line's
    head (`name{labels}`) comes back on each scrape until a GPU's job changes, and a GPU's
    label block on each of its metrics. Cleared when most of it went unused, so it holds at
    most about twice the heads of one cycle's pages."""

    __slots__ = ("blocks", "heads", "lines_seen")

    def __init__(self) -> None:
        self.heads: dict[str, _Head] = {}
        # Label block text -> (labels, GPU index from the `gpu` label).
        self.blocks: dict[str, tuple[Mapping[str, str], int | None]] = {}
        self.lines_seen = 0

    def new_cycle(self) -> None:
        if len(self.heads) > 2 * self.lines_seen + 1024:
            self.heads.clear()
            self.blocks.clear()
        self.lines_seen = 0

    def forget(self, heads: Iterable[str]) -> None:
        """Drop these heads and their label blocks: a page template holds what they meant."""
        for head in heads:
            meaning = self.heads.pop(head, None)
            if meaning is not None and meaning is not _COMMENT:
                self.blocks.pop(meaning[1], None)

    def learn(self, line: str, head: str) -> _Head | None:
        """What `head` means, remembered; None when `line` is not a plain dcgm line."""
        if not line or line[0] == "#":
            if head[:1] == "#":
                self.heads[head] = _COMMENT
            return _COMMENT
        brace = head.find("{")
        if brace <= 0 or head[-1] != "}" or not METRIC_NAME_RE.fullmatch(head[:brace]):
            return None
        block = head[brace + 1 : -1]
        if block not in self.blocks:
            labels = parse_label_block(block)
            if labels is None:
                return None
            self.blocks[block] = (labels, gpu_index(labels.get("gpu")))
        meaning = (DCGM_FIELDS.get(head[:brace]), block)
        self.heads[head] = meaning
        return meaning


# Sentinel draft for a label block without a GPU index; never written to.
_NO_DRAFT = _GpuDraft("")


class DcgmFastPath:
    """The dcgm branch of `gpus_from_samples`, fed a page's lines straight from the text.

    Measured need: on the simulator's 1,024 node pages (24 MiB), parse_samples plus
    gpus_from_samples took 0.49 s per cycle; this path takes about 0.2 s once its
    DcgmLineCache knows the pages. It reads only the plain form `name{labels} value`,
    comments and empty lines, so that what it returns is exactly what the general path
    returns. `feed` answers False on any line it cannot be sure of, and `gpus` None when
    nothing was found: the caller then runs the general parser, which also words errors.
    """

    __slots__ = ("_by_block", "_drafts", "cache", "learned", "node", "node_of", "stats")

    def __init__(
        self, cache: DcgmLineCache, node: str | None = None, node_of: NodeOf = node_from_labels
    ) -> None:
        self.cache = cache
        self.node = node
        self.node_of = node_of
        self.stats = PageStats()
        self._drafts: dict[tuple[str, int], _GpuDraft] = {}
        # Label block of a GPU field's line -> its GPU's draft (_NO_DRAFT: no GPU index).
        self._by_block: dict[str, _GpuDraft] = {}
        # The heads this path taught its cache.
        self.learned: list[str] = []

    @staticmethod
    def accepts(text: str) -> bool:
        return not any(marker in text for marker in _FAST_PATH_GIVE_UP)

    def feed(self, lines: list[str]) -> bool:
        """Take these lines of the page; False when one is not a plain dcgm line."""
        cache = self.cache
        cache.lines_seen += len(lines)
        heads = cache.heads
        by_block = self._by_block
        learned = self.learned
        blank = DCGM_INT32_BLANK
        for line in lines:
            head, _, value = line.rpartition(" ")
            meaning = heads.get(head)
            if meaning is None:
                meaning = cache.learn(line, head)
                if meaning is None:
                    return False
                learned.append(head)
            if meaning is _COMMENT:
                continue
            try:
                number = float(value)
            except ValueError:
                return False
            target, block = meaning
            if target is None:
                continue
            draft = by_block.get(block)
            if draft is None:
                draft = self._draft_for(block)
            if draft is not _NO_DRAFT:
                values = draft.values
                if target in values:
                    self.stats.duplicate_series += 1
                # dcgm_value inlined (74k calls a cycle): NaN, infinities, negatives, blanks.
                values[target] = None if not 0 <= number < blank else number
        return True

    def gpus(self) -> list[Gpu] | None:
        """The GPUs fed so far, sorted by (node, index); None when there are none."""
        if not self._drafts:
            return None
        return [draft.build(index) for (_, index), draft in sorted(self._drafts.items())]

    def drafts(self) -> list[_GpuDraft]:
        """The drafts of the GPUs fed so far, in the order `gpus` returns them."""
        return [draft for _, draft in sorted(self._drafts.items())]

    def meaning_of(self, head: str) -> tuple[str | None, _GpuDraft | None] | None:
        """What a sample line's head (`name{labels}`) fed so far filled: (field, its GPU's
        draft), either None when it fills none; None when no line fed had this head."""
        meaning = self.cache.heads.get(head)
        if meaning is None or meaning is _COMMENT:
            return None
        target, block = meaning
        if target is None:
            return None, None
        draft = self._by_block.get(block)
        if draft is None:
            return None
        return target, None if draft is _NO_DRAFT else draft

    def _draft_for(self, block: str) -> _GpuDraft:
        labels, index = self.cache.blocks[block]
        draft = _NO_DRAFT
        if index is not None:
            owner = self.node if self.node is not None else self.node_of(labels)
            key = (owner, index)
            draft = self._drafts.get(key) or self._drafts.setdefault(key, _GpuDraft(owner, index))
            draft.identity(labels)
        self._by_block[block] = draft
        return draft


def _apply_nvidia_smi(draft: _GpuDraft, name: str, labels: Mapping[str, str], value: float) -> None:
    mapped = NVIDIA_SMI_FIELDS.get(name)
    if mapped is not None:
        field_name, factor = mapped
        reading = finite(value)
        draft.values[field_name] = None if reading is None else reading * factor
    elif name == "nvidia_smi_gpu_info":
        draft.model = labels.get("name", draft.model)
        draft.pci_bus_id = labels.get("pci_bus_id", draft.pci_bus_id)
        index = gpu_index(labels.get("index"))
        if index is not None:
            draft.index = index
    elif name == "nvidia_smi_index" and finite(value) is not None and value < 2**20:
        draft.index = int(value)
    elif (
        name == "nvidia_smi_xid_last_timestamp_seconds"
        and (xid := gpu_index(labels.get("xid"))) is not None
        and value > draft.xid_seen_at
    ):
        # The most recent XID event is the one with the latest timestamp.
        draft.xid_seen_at = value
        draft.values["last_xid"] = float(xid)


def _number_smi_gpus(drafts: Iterable[_GpuDraft]) -> list[Gpu]:
    """nvidia_smi GPUs; one whose index the exporter did not report takes the next free one."""
    gpus = []
    by_node: dict[str, list[_GpuDraft]] = {}
    for draft in drafts:
        by_node.setdefault(draft.node, []).append(draft)
    for node_drafts in by_node.values():
        taken = {d.index for d in node_drafts if d.index is not None}
        spare = (i for i in range(len(node_drafts) + len(taken)) if i not in taken)
        for draft in sorted(node_drafts, key=lambda d: d.pci_bus_id):
            gpus.append(draft.build(draft.index if draft.index is not None else next(spare)))
    return gpus


# --- scraping ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScrapeTarget:
    """One exporter. `node` is the Slurm node its GPUs belong to; empty for an explicit URL
    target, whose GPUs take their node from the Hostname label (else the URL's host)."""

    node: str
    url: str

    @property
    def key(self) -> str:
        return self.node or self.url


TargetSpec = ScrapeTarget | tuple[str, str] | str
TargetsSource = Sequence[TargetSpec] | Callable[[], Iterable[TargetSpec]]


def targets_for_nodes(
    nodes: Iterable[str], url_template: str = DEFAULT_URL_TEMPLATE
) -> list[ScrapeTarget]:
    """One target per valid Slurm node name; names that are not host names are skipped."""
    targets = []
    for node in nodes:
        if NODE_NAME_RE.match(node):
            targets.append(ScrapeTarget(node, url_template.format(node=node)))
        else:
            logger.warning("not scraping node with invalid name {!r}", node)
    return targets


def as_target(spec: TargetSpec) -> ScrapeTarget:
    if isinstance(spec, ScrapeTarget):
        return spec
    if isinstance(spec, str):
        return ScrapeTarget("", spec)
    node, url = spec
    return ScrapeTarget(node, url)


def describe_http_error(error: BaseException, timeout_s: float) -> str:
    """An httpx failure as the short phrase an operator expects."""
    if isinstance(error, httpx.TimeoutException | asyncio.TimeoutError):
        return f"timeout after {timeout_s:g}s"
    if isinstance(error, httpx.HTTPStatusError):
        response = error.response
        return f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    if isinstance(error, httpx.RemoteProtocolError):
        return f"truncated body ({one_line(error)})"
    if isinstance(error, httpx.ConnectError):
        causes = _causes(error)
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return "connection refused"
        if any(isinstance(c, socket.gaierror) for c in causes):
            return "unknown host"
        text = " ".join(str(c) for c in causes).lower()
        if "refused" in text:
            return "connection refused"
        return f"cannot connect: {one_line(causes[-1])}"
    if isinstance(error, httpx.HTTPError):
        return one_line(error)
    return f"{type(error).__name__}: {one_line(error)}"


def _causes(error: BaseException) -> list[BaseException]:
    """The error and the exceptions it was raised from, outermost first."""
    chain = [error]
    while (cause := chain[-1].__cause__ or chain[-1].__context__) is not None and len(chain) < 8:
        chain.append(cause)
    return chain


def _node_or(fallback: str) -> NodeOf:
    """For an explicit URL target: the node from the labels, else `fallback`."""

    def node_of(labels: Mapping[str, str]) -> str:
        return node_from_labels(labels) or fallback

    return node_of


def _fallback_nodes(targets: Sequence[ScrapeTarget]) -> dict[int, str]:
    """Position -> the node an explicit URL target's GPUs take when its page has no Hostname
    label: the URL's host, else host:port, else the whole URL less its scheme, whichever
    first tells it apart from the other targets (each target keeps its own GPUs)."""
    names: dict[int, list[str]] = {}
    for i, target in enumerate(targets):
        if not target.node:
            parts = urlsplit(target.url) if "//" in target.url else None
            whole = target.url.split("://", 1)[-1]
            names[i] = [host_of(target.url), parts.netloc if parts else whole, whole]
    fallbacks: dict[int, str] = {}
    for level in range(3):
        counts = Counter(choices[level] for choices in names.values())
        for i, choices in list(names.items()):
            if counts[choices[level]] == 1 or level == 2:
                fallbacks[i] = choices[level]
                del names[i]
    return fallbacks


class _SlotLease:
    """A held concurrency slot, given back once: at the lease's end or when the scrape ends."""

    __slots__ = ("_semaphore",)

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore: asyncio.Semaphore | None = semaphore

    def give_back(self) -> None:
        if self._semaphore is not None:
            self._semaphore.release()
            self._semaphore = None


class ExporterGpuSource:
    """Scrapes every target's exporter concurrently; one node's failure hides no other's data.

    Targets come from, in order of preference: the explicit `targets` (a sequence, or a
    callable returning one, of ScrapeTarget / (node, url) / url), else the node names the
    collector last passed to `set_nodes` (Slurm's node list) formatted into `url_template`.

    http:// targets are fetched with ScrapeClient (scrape_http.py: measured 50x faster than
    httpx on this path); https:// targets, or every target when `client` is given, with httpx.
    """

    name = "gpu"

    def __init__(
        self,
        targets: TargetsSource | None = None,
        *,
        url_template: str = DEFAULT_URL_TEMPLATE,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        concurrency: int = DEFAULT_CONCURRENCY,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._targets = targets
        self._url_template = url_template
        self._nodes: tuple[str, ...] = ()
        self.timeout_s = timeout_s
        self._concurrency = max(1, concurrency)
        self._semaphore = asyncio.Semaphore(self._concurrency)
        self._client = client
        self._scraper = (
            ScrapeClient(
                max_body_bytes=MAX_BODY_BYTES, max_idle=self._concurrency, headers=ACCEPT_HEADERS
            )
            if client is None
            else None
        )
        self._own_client = False
        self._line_cache = DcgmLineCache()
        # Target key -> (node, fallback node, the template of its last page).
        self._templates: dict[str, tuple[str, str, PageTemplate]] = {}
        self._warned: set[str] = set()

    def set_nodes(self, nodes: Iterable[str]) -> None:
        """The Slurm node names to scrape when no explicit targets were given."""
        self._nodes = tuple(nodes)

    def targets(self) -> list[ScrapeTarget]:
        if self._targets is None:
            return targets_for_nodes(self._nodes, self._url_template)
        specs = self._targets() if callable(self._targets) else self._targets
        return [as_target(spec) for spec in specs]

    async def fetch(self) -> GpuReading:
        """One cycle over every target, over by `timeout_s` whatever the exporters do.

        `timeout_s` is the deadline for the whole cycle: a target still queued or running
        then fails with a timeout, and every answer that arrived before it is kept."""
        targets = self.targets()
        if not targets:
            return GpuReading(gpus=())
        self._line_cache.new_cycle()
        if len(self._templates) > len(targets):
            keys = {target.key for target in targets}
            self._templates = {k: v for k, v in self._templates.items() if k in keys}
        if self._scraper is not None:
            self._scraper.max_idle = keepalive_pool_size(len(targets), self._concurrency)
        fallbacks = _fallback_nodes(targets)
        started: set[int] = set()
        tasks = [
            asyncio.create_task(self._scrape(target, fallbacks.get(i, ""), started, i))
            for i, target in enumerate(targets)
        ]
        try:
            _, pending = await asyncio.wait(tasks, timeout=self.timeout_s)
        finally:
            for task in tasks:
                task.cancel()
        if pending:
            await asyncio.wait(pending)
        results: list[list[Gpu] | str] = []
        for i, task in enumerate(tasks):
            if task in pending:
                where = "" if i in started else " (still queued)"
                results.append(f"timeout after {self.timeout_s:g}s{where}")
            else:
                results.append(task.result())
        return self._reading(targets, results)

    def _reading(self, targets: list[ScrapeTarget], results: list[list[Gpu] | str]) -> GpuReading:
        gpus: list[Gpu] = []
        errors: dict[str, str] = {}
        seen: set[tuple[str, int]] = set()
        duplicates = 0
        for target, result in zip(targets, results, strict=True):
            if isinstance(result, str):
                errors[target.key] = result
                continue
            for gpu in result:
                key = gpu.key
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
                gpus.append(gpu)
        if duplicates:
            self._warn_once(
                "duplicate-gpus",
                f"{duplicates} GPU(s) reported by more than one target were dropped "
                "(two exporters naming the same Hostname?)",
            )
        if len(errors) == len(targets):
            first_key, first_error = next(iter(errors.items()))
            count = len(targets)
            noun = "exporter" if count == 1 else f"all {count} exporters"
            raise SourceError(f"{noun} failed; {first_key}: {first_error}")
        return GpuReading(gpus=tuple(gpus), errors=errors)

    def _warn_once(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            logger.warning(message)

    async def scrape_one(self, target: ScrapeTarget) -> list[Gpu]:
        """One target's GPUs; raises SourceError with a one-line reason."""
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await self._scrape(target, _fallback_nodes([target]).get(0, ""))
        except TimeoutError:
            result = f"timeout after {self.timeout_s:g}s"
        if isinstance(result, str):
            raise SourceError(f"{target.key}: {result}")
        return result

    async def _scrape(
        self,
        target: ScrapeTarget,
        fallback_node: str,
        started_ids: set[int] | None = None,
        task_id: int = 0,
    ) -> list[Gpu] | str:
        """This target's GPUs, or one line saying why not. The caller bounds the time."""
        started = time.monotonic()
        try:
            page = await self._get_page_in_slot(target.url, started_ids, task_id)
        except asyncio.CancelledError:
            raise
        except ScrapeError as error:
            return str(error)
        except BodyTooLarge as error:
            return f"not a GPU exporter: {error}"
        except Exception as error:  # nothing one target does may fail the others
            return describe_http_error(error, self.timeout_s)
        result = await self.gpus_from_response(page, target, fallback_node)
        logger.trace("scraped {} in {:.3f}s", target.key, time.monotonic() - started)
        return result

    async def _get_page_in_slot(
        self, url: str, started_ids: set[int] | None, task_id: int
    ) -> ScrapeResponse:
        """The page at `url`, fetched in one of the `concurrency` slots. An exporter that has
        not answered within SLOT_LEASE_S gives its slot up and is waited for outside it: hung
        exporters must not hold every slot while the answering ones queue to the deadline."""
        await self._semaphore.acquire()
        if started_ids is not None:
            started_ids.add(task_id)
        # A timer rather than a second task and asyncio.wait: measured 18-20 ms of CPU per
        # 1,024 scrapes for the slot's bookkeeping against 35-50 ms (0.39-0.53x).
        lease = _SlotLease(self._semaphore)
        timer = asyncio.get_running_loop().call_later(SLOT_LEASE_S, lease.give_back)
        try:
            return await self._get_page(url)
        finally:
            timer.cancel()
            lease.give_back()

    async def gpus_from_response(
        self, page: ScrapeResponse, target: ScrapeTarget, fallback_node: str = ""
    ) -> list[Gpu] | str:
        """The GPUs on one exporter's answer, read with its last page's template where the
        page has its shape, else in full (leaving a template for the next one). Never
        raises (but for cancellation), as gpus_from_page."""
        try:
            gpus = self._gpus_from_template(page, target, fallback_node)
        except Exception as error:  # whatever one page holds is that target's problem only
            logger.opt(exception=error).debug("template of {} not applied", target.key)
            self._templates.pop(target.key, None)
            gpus = None
        if gpus is not None:
            return gpus
        return await self.gpus_from_page(page.text(), target, fallback_node, page)

    def _gpus_from_template(
        self, page: ScrapeResponse, target: ScrapeTarget, fallback_node: str
    ) -> list[Gpu] | None:
        """The page's GPUs read with the template its target's last page left; None when
        there is none or the page is not of its shape."""
        known = self._templates.get(target.key)
        if known is None:
            return None
        node, fallback, template = known
        if node != target.node or fallback != fallback_node or template.charset != page.charset:
            return None
        return template.read(page.body)

    async def gpus_from_page(
        self,
        text: str,
        target: ScrapeTarget,
        fallback_node: str = "",
        page: ScrapeResponse | None = None,
    ) -> list[Gpu] | str:
        """The GPUs on one exporter page, or one line saying why there are none. Never raises
        (but for cancellation): whatever one page holds is that target's problem only.

        With `page` (what `text` was decoded from), a page the fast path reads leaves its
        template for the target's next page."""
        fallback = fallback_node or host_of(target.url)
        node_of = node_from_labels if target.node else _node_or(fallback)
        stats = PageStats()
        self._templates.pop(target.key, None)
        try:
            fast = await self._read_fast(text, target.node or None, node_of, stats)
            gpus = fast.gpus() if fast is not None else None
            if gpus is not None and page is not None:
                self._learn(target, fallback_node, page, fast)
            if gpus is None:
                stats = PageStats()
                samples = await parse_samples_async(text)
                gpus = gpus_from_samples(samples, target.node or None, node_of, stats)
        except asyncio.CancelledError:
            raise
        except ParseError as error:
            return f"not Prometheus text: {error}"
        except Exception as error:
            logger.opt(exception=error).debug("page of {} not understood", target.key)
            return f"page not understood: {type(error).__name__}: {one_line(error)}"
        if not gpus:
            return f"no GPU metrics in {len(samples)} samples (not a dcgm or nvidia_smi exporter?)"
        if stats.duplicate_series:
            self._warn_once(
                f"duplicates {target.key}",
                f"exporter {target.key}: {stats.duplicate_series} series repeat a reading "
                '(a series twice, or gpu="01" next to gpu="1"); the last one counts',
            )
        return gpus

    def _learn(
        self,
        target: ScrapeTarget,
        fallback_node: str,
        page: ScrapeResponse,
        fast: DcgmFastPath | None,
    ) -> None:
        if fast is None:
            return
        template = PageTemplate.learn(
            page.body, page.charset, fast.meaning_of, fast.drafts(), DCGM_INT32_BLANK
        )
        if template is not None:
            self._templates[target.key] = (target.node, fallback_node, template)
            # The template reads this page's next ones: its heads need not stay in memory
            # (at 4,096 nodes they are about 1.1 million strings).
            self._line_cache.forget(fast.learned)

    async def _read_fast(
        self, text: str, node: str | None, node_of: NodeOf, stats: PageStats
    ) -> DcgmFastPath | None:
        """DcgmFastPath fed `text`, yielding to the event loop between big chunks; None when
        the general parser must decide."""
        if not DcgmFastPath.accepts(text):
            return None
        fast = DcgmFastPath(self._line_cache, node, node_of)
        fast.stats = stats
        start = 0
        while start < len(text):
            end = text.find("\n", start + FAST_PATH_CHUNK_CHARS)
            end = len(text) if end < 0 else end + 1
            if not fast.feed(text[start:end].split("\n")):
                return None
            start = end
            if start < len(text):
                await asyncio.sleep(0)
        return fast

    async def _get_page(self, url: str) -> ScrapeResponse:
        if self._scraper is not None and url[:7].lower() == "http://":
            return await self._scraper.get(url)
        if self._client is None:
            self._own_client = True
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s),
                limits=httpx.Limits(
                    max_connections=self._concurrency,
                    max_keepalive_connections=self._concurrency,
                ),
                headers=ACCEPT_HEADERS,
                follow_redirects=True,
            )
        async with self._client.stream("GET", url) as response:
            response.raise_for_status()
            chunks = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise BodyTooLarge(f"body over {MAX_BODY_BYTES // 2**20} MiB")
                chunks.append(chunk)
        return ScrapeResponse(b"".join(chunks), response.encoding)

    async def aclose(self) -> None:
        if self._scraper is not None:
            await self._scraper.aclose()
        if self._own_client and self._client is not None:
            await self._client.aclose()
