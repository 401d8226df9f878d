"""GPUs from the dcgm families' instant-query answers: the dcgm branch of
`gpus_from_samples`, fed series whose labels were read once and remembered.

`DcgmSeries` is what one label set means (its GPU, its MIG slice, the identity its labels
give); `SeriesReader` (prometheus_answer.py) keeps it across cycles, so that a cycle's work
per series is a lookup, a float and a store. `DcgmAssembly` gives the same GPUs as
`gpus_from_samples` given the same series in the same order
(tests/unit/test_prometheus_gpus.py checks it on generated answers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tui.model import Gpu
from tui.sources.exporters import (
    DCGM_INT32_BLANK,
    MIG_FIELDS,
    GpuIdentity,
    NodeOf,
    _GpuDraft,
    gpu_identity,
    gpu_index,
)

# The labels a dcgm series is read by, beside those naming its node.
DCGM_LABELS = (
    "gpu",
    "GPU_I_ID",
    "GPU_I_PROFILE",
    "UUID",
    "uuid",
    "modelName",
    "gpu_name",
    "pci_bus_id",
    "hpc_job",
    "health_error_code",
)


class DcgmSeries:
    """One dcgm label set: its GPU's (node, index), MIG slice and identity, and the cycle's
    draft of its GPU (set by DcgmAssembly the first time the cycle meets it)."""

    __slots__ = ("cycle", "draft", "gpu_instance", "identity", "key", "profile")

    def __init__(self, node: str, index: int, labels: Mapping[str, str]) -> None:
        self.key = (node, index)
        self.gpu_instance = labels.get("GPU_I_ID") or ""
        self.profile = labels.get("GPU_I_PROFILE", "")
        self.identity: GpuIdentity = gpu_identity(labels)
        self.cycle: object = None
        self.draft: _GpuDraft | None = None


# A series without a GPU index or a node: read, and left out.
NOT_A_GPU = DcgmSeries("", -1, {})


def dcgm_series(labels: Mapping[str, str], node_of: NodeOf) -> DcgmSeries:
    """What a dcgm series' labels mean (NOT_A_GPU without a GPU index or a node)."""
    index = gpu_index(labels.get("gpu"))
    if index is None:
        return NOT_A_GPU
    node = node_of(labels)
    return DcgmSeries(node, index, labels) if node else NOT_A_GPU


class DcgmAssembly:
    """One cycle's dcgm GPUs, built from each family's series and values in turn."""

    __slots__ = ("_cycle", "_drafts")

    def __init__(self) -> None:
        self._drafts: dict[tuple[str, int], _GpuDraft] = {}
        self._cycle = object()

    def add(self, target: str, series: Sequence[DcgmSeries], values: Sequence[float]) -> None:
        """A family's answer: `target` is the Gpu field (or derived reading) it fills."""
        cycle = self._cycle
        drafts = self._drafts
        blank = DCGM_INT32_BLANK
        per_slice = target in MIG_FIELDS
        for one, number in zip(series, values, strict=True):
            if one is NOT_A_GPU:
                continue
            if one.cycle is not cycle:
                draft = drafts.get(one.key)
                if draft is None:
                    draft = drafts[one.key] = _GpuDraft(one.key[0], index=one.key[1])
                draft.take_identity(one.identity)
                one.draft = draft
                one.cycle = cycle
            else:
                draft = one.draft  # type: ignore[assignment]
            # dcgm_value inlined: NaN, infinities, negatives and dcgm's blanks are None.
            reading = None if not 0 <= number < blank else number
            if per_slice and one.gpu_instance:
                _, readings = draft.mig.setdefault(one.gpu_instance, (one.profile, {}))
                readings[target] = reading
            else:
                draft.values[target] = reading

    def gpus(self) -> list[Gpu]:
        """The GPUs added so far, in the order their first series came."""
        return [draft.build(index) for (_, index), draft in self._drafts.items()]
