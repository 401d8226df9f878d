"""dcgm-exporter's rate fields, which NVML gives only as the difference of two readings.

- DCGM_FI_PROF_GR_ENGINE_ACTIVE, _PIPE_TENSOR_ACTIVE, _DRAM_ACTIVE: NVML's GPU Performance
  Monitoring (GPM, Hopper and later) between the previous scrape's sample and this one's,
  as ratios 0..1 like DCGM's profiling fields;
- DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL: NVLink traffic of all links, TX plus RX including
  protocol overhead, in KiB/s (the unit DCGM reports), from NVML's cumulative per-link
  throughput fields.

The first scrape of a GPU has no previous reading, so these series appear from the second
scrape on. A device or metric NVML does not support raises NVML_ERROR_NOT_SUPPORTED, which
the reader remembers and stops asking for: the series is left out, never shown as zero.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .nvml_fields import Nvml, field_value

# dcgm-exporter field -> NVML GPM metric id constant (pynvml names).
GPM_METRICS: dict[str, str] = {
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": "NVML_GPM_METRIC_GRAPHICS_UTIL",
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": "NVML_GPM_METRIC_ANY_TENSOR_UTIL",
    "DCGM_FI_PROF_DRAM_ACTIVE": "NVML_GPM_METRIC_DRAM_BW_UTIL",
}
NVLINK_BANDWIDTH = "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL"
NVLINK_COUNTERS = ("NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_TX", "NVML_FI_DEV_NVLINK_THROUGHPUT_RAW_RX")


def _not_supported(nvml: Nvml) -> BaseException:
    return nvml.NVMLError(nvml.NVML_ERROR_NOT_SUPPORTED)


class GpmSampler:
    """GPM utilisation ratios of each GPU between consecutive calls."""

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}

    def read(self, nvml: Nvml, handle: Any, index: int) -> dict[str, float]:
        if (
            index not in self._previous
            and not nvml.nvmlGpmQueryDeviceSupport(handle).isSupportedDevice
        ):
            raise _not_supported(nvml)
        sample = nvml.nvmlGpmSampleAlloc()
        try:
            nvml.nvmlGpmSampleGet(handle, sample)
        except nvml.NVMLError:
            nvml.nvmlGpmSampleFree(sample)
            raise
        previous = self._previous.pop(index, None)
        self._previous[index] = sample
        if previous is None:
            return {}
        try:
            return self._metrics(nvml, previous, sample)
        finally:
            nvml.nvmlGpmSampleFree(previous)

    def _metrics(self, nvml: Nvml, first: Any, second: Any) -> dict[str, float]:
        request = nvml.c_nvmlGpmMetricsGet_t()
        request.version = nvml.NVML_GPM_METRICS_GET_VERSION
        request.numMetrics = len(GPM_METRICS)
        request.sample1 = first
        request.sample2 = second
        names = list(GPM_METRICS)
        for position, name in enumerate(names):
            request.metrics[position].metricId = getattr(nvml, GPM_METRICS[name])
        nvml.nvmlGpmMetricsGet(request)
        values: dict[str, float] = {}
        for position, name in enumerate(names):
            metric = request.metrics[position]
            if metric.nvmlReturn == nvml.NVML_SUCCESS:
                values[name] = metric.value / 100.0
        return values


@dataclass(frozen=True)
class _Reading:
    kib: float
    at: float


class NvlinkBandwidth:
    """All NVLink links' traffic rate of each GPU between consecutive calls."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._previous: dict[int, _Reading] = {}

    def read(self, nvml: Nvml, handle: Any, index: int) -> dict[str, float]:
        ids = [getattr(nvml, counter) for counter in NVLINK_COUNTERS]
        requests = [(field, link) for link in range(nvml.NVML_NVLINK_MAX_LINKS) for field in ids]
        answered = [
            field_value(nvml, value)
            for value in nvml.nvmlDeviceGetFieldValues(handle, requests)
            if value.nvmlReturn == nvml.NVML_SUCCESS
        ]
        if not answered:
            raise _not_supported(nvml)
        now = _Reading(kib=sum(answered), at=self._clock())
        previous = self._previous.get(index)
        self._previous[index] = now
        if previous is None or now.at <= previous.at or now.kib < previous.kib:
            return {}
        return {NVLINK_BANDWIDTH: (now.kib - previous.kib) / (now.at - previous.at)}
