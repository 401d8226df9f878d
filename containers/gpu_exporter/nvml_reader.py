"""Read every GPU's fields through NVML (the `pynvml` module of nvidia-ml-py, or a fake of it).

The NVML module is a dependency passed in, never imported here, so tests drive the reader with
a fake that has pynvml's shape. One NVML call per field per scrape; no nvidia-smi process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from .nvml_fields import Nvml, read_field
from .nvml_rates import GpmSampler, NvlinkBandwidth

MIB = 1024 * 1024

FieldReader = Callable[[Nvml, Any], float]
# Readers of several fields at once that keep state between scrapes (rates).
RateReader = Callable[[Nvml, Any, int], dict[str, float]]


class NvmlUnavailable(RuntimeError):
    """NVML could not be initialised or stopped answering."""


@dataclass(frozen=True)
class GpuIdentity:
    """What names a GPU in dcgm-exporter's labels; read once, it never changes."""

    index: int
    uuid: str
    pci_bus_id: str
    device: str
    model_name: str


@dataclass(frozen=True)
class MigReport:
    """One MIG GPU instance of a GPU: dcgm-exporter's GPU_I_ID and GPU_I_PROFILE, its memory."""

    gpu_instance_id: int
    profile: str
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class GpuReport:
    """One GPU at one scrape: its field values, or `lost` when it fell off the bus."""

    index: int
    identity: GpuIdentity | None
    values: dict[str, float] = field(default_factory=dict)
    lost: bool = False
    mig: tuple[MigReport, ...] = ()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _util_gpu(nvml: Nvml, handle: Any) -> float:
    return float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)


def _util_mem(nvml: Nvml, handle: Any) -> float:
    return float(nvml.nvmlDeviceGetUtilizationRates(handle).memory)


def _fb(attribute: str) -> FieldReader:
    def read(nvml: Nvml, handle: Any) -> float:
        return getattr(nvml.nvmlDeviceGetMemoryInfo(handle), attribute) / MIB

    return read


def _fb_reserved(nvml: Nvml, handle: Any) -> float:
    """Memory the driver reserves (NVML's v2 memory info, driver 510 and later)."""
    version = getattr(nvml, "nvmlMemory_v2", None)
    if version is None:  # an nvidia-ml-py older than the v2 structure
        raise nvml.NVMLError(nvml.NVML_ERROR_NOT_SUPPORTED)
    return nvml.nvmlDeviceGetMemoryInfo(handle, version=version).reserved / MIB


def _codec(function: str) -> FieldReader:
    def read(nvml: Nvml, handle: Any) -> float:
        return float(getattr(nvml, function)(handle)[0])  # (utilization %, sampling period)

    return read


def _pcie_bytes_per_second(counter: str) -> FieldReader:
    def read(nvml: Nvml, handle: Any) -> float:
        return nvml.nvmlDeviceGetPcieThroughput(handle, getattr(nvml, counter)) * 1024.0  # KB/s

    return read


def _temperature(nvml: Nvml, handle: Any) -> float:
    return float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))


def _memory_temperature(nvml: Nvml, handle: Any) -> float:
    """HBM temperature: NVML has it only as a field value (not on GDDR boards)."""
    return read_field(nvml, handle, nvml.NVML_FI_DEV_MEMORY_TEMP)


def _power_watts(nvml: Nvml, handle: Any) -> float:
    return nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0


def _clock(kind: str) -> FieldReader:
    def read(nvml: Nvml, handle: Any) -> float:
        return float(nvml.nvmlDeviceGetClockInfo(handle, getattr(nvml, kind)))

    return read


def _energy(nvml: Nvml, handle: Any) -> float:
    return float(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))


def _pcie_replay(nvml: Nvml, handle: Any) -> float:
    return float(nvml.nvmlDeviceGetPcieReplayCounter(handle))


def _ecc(error_type: str) -> FieldReader:
    def read(nvml: Nvml, handle: Any) -> float:
        return float(
            nvml.nvmlDeviceGetTotalEccErrors(
                handle, getattr(nvml, error_type), nvml.NVML_VOLATILE_ECC
            )
        )

    return read


def _remapped(position: int) -> FieldReader:
    def read(nvml: Nvml, handle: Any) -> float:
        return float(nvml.nvmlDeviceGetRemappedRows(handle)[position])

    return read


# dcgm-exporter field name -> how to read it. nvmlDeviceGetRemappedRows returns
# (correctable, uncorrectable, pending, failure_occurred).
FIELD_READERS: dict[str, FieldReader] = {
    "DCGM_FI_DEV_GPU_UTIL": _util_gpu,
    "DCGM_FI_DEV_MEM_COPY_UTIL": _util_mem,
    "DCGM_FI_DEV_FB_USED": _fb("used"),
    "DCGM_FI_DEV_FB_FREE": _fb("free"),
    "DCGM_FI_DEV_FB_TOTAL": _fb("total"),
    "DCGM_FI_DEV_FB_RESERVED": _fb_reserved,
    "DCGM_FI_DEV_ENC_UTIL": _codec("nvmlDeviceGetEncoderUtilization"),
    "DCGM_FI_DEV_DEC_UTIL": _codec("nvmlDeviceGetDecoderUtilization"),
    "DCGM_FI_PROF_PCIE_TX_BYTES": _pcie_bytes_per_second("NVML_PCIE_UTIL_TX_BYTES"),
    "DCGM_FI_PROF_PCIE_RX_BYTES": _pcie_bytes_per_second("NVML_PCIE_UTIL_RX_BYTES"),
    "DCGM_FI_DEV_GPU_TEMP": _temperature,
    "DCGM_FI_DEV_MEMORY_TEMP": _memory_temperature,
    "DCGM_FI_DEV_POWER_USAGE": _power_watts,
    "DCGM_FI_DEV_SM_CLOCK": _clock("NVML_CLOCK_SM"),
    "DCGM_FI_DEV_MEM_CLOCK": _clock("NVML_CLOCK_MEM"),
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": _energy,
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": _pcie_replay,
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": _ecc("NVML_MEMORY_ERROR_TYPE_CORRECTED"),
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": _ecc("NVML_MEMORY_ERROR_TYPE_UNCORRECTED"),
    "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS": _remapped(0),
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS": _remapped(1),
    "DCGM_FI_DEV_ROW_REMAP_FAILURE": _remapped(3),
}


MIG_MEMORY_FIELDS = ("DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_TOTAL")
MIG_NAME_MARK = " MIG "  # NVML names a MIG device "<GPU name> MIG <profile>"


class NvmlReader:
    """Reads all GPUs; a lost GPU is reported as lost and the others are still read."""

    def __init__(self, nvml: Nvml, clock: Callable[[], float] | None = None) -> None:
        self._nvml = nvml
        nvlink = NvlinkBandwidth() if clock is None else NvlinkBandwidth(clock)
        self._rate_readers: dict[str, RateReader] = {
            "gpm": GpmSampler().read,
            "nvlink": nvlink.read,
        }
        self._identities: dict[int, GpuIdentity] = {}
        self._unsupported: set[tuple[int, str]] = set()
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._initialised = False

    @property
    def nvml(self) -> Nvml:
        return self._nvml

    def start(self) -> None:
        """Initialise NVML, or raise NvmlUnavailable with NVML's one-line reason."""
        with self._lock:
            if self._initialised:
                return
            try:
                self._nvml.nvmlInit()
            except self._nvml.NVMLError as error:
                raise NvmlUnavailable(f"NVML initialisation failed: {error}") from error
            self._initialised = True

    def stop(self) -> None:
        with self._lock:
            if self._initialised:
                self._initialised = False
                try:
                    self._nvml.nvmlShutdown()
                except self._nvml.NVMLError as error:
                    logger.warning("NVML shutdown failed: {}", error)

    def is_gpu_lost(self, error: BaseException) -> bool:
        return getattr(error, "value", None) == self._nvml.NVML_ERROR_GPU_IS_LOST

    def _is_unsupported(self, error: BaseException) -> bool:
        """The device cannot give this, or the driver predates the NVML function."""
        code = getattr(error, "value", None)
        return code in (
            self._nvml.NVML_ERROR_NOT_SUPPORTED,
            self._nvml.NVML_ERROR_FUNCTION_NOT_FOUND,
        )

    def driver_version(self) -> str:
        try:
            return _text(self._nvml.nvmlSystemGetDriverVersion())
        except self._nvml.NVMLError as error:
            raise NvmlUnavailable(f"NVML driver version query failed: {error}") from error

    def device_count(self) -> int:
        try:
            return int(self._nvml.nvmlDeviceGetCount())
        except self._nvml.NVMLError as error:
            raise NvmlUnavailable(f"NVML device count query failed: {error}") from error

    def handles(self) -> dict[int, Any]:
        """Handles of the GPUs that still answer, by NVML index."""
        found: dict[int, Any] = {}
        for index in range(self.device_count()):
            try:
                found[index] = self._nvml.nvmlDeviceGetHandleByIndex(index)
            except self._nvml.NVMLError as error:
                logger.warning("GPU {}: no handle: {}", index, error)
        return found

    def read(self) -> list[GpuReport]:
        """One report per GPU NVML counts, in index order.

        Scrapes are serialised: the rate readers hand NVML's GPM samples from one scrape to
        the next, and two scrapes at once would free a sample the other still uses.
        """
        with self._read_lock:
            return [self._read_one(index) for index in range(self.device_count())]

    def _identity(self, index: int, handle: Any) -> GpuIdentity:
        known = self._identities.get(index)
        if known is not None:
            return known
        nvml = self._nvml
        identity = GpuIdentity(
            index=index,
            uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
            pci_bus_id=_text(nvml.nvmlDeviceGetPciInfo(handle).busId),
            device=f"nvidia{nvml.nvmlDeviceGetMinorNumber(handle)}",
            model_name=_text(nvml.nvmlDeviceGetName(handle)),
        )
        self._identities[index] = identity
        return identity

    def _lost(self, index: int, error: BaseException) -> GpuReport:
        logger.error("GPU {} is lost (fell off the bus): {}", index, error)
        return GpuReport(index=index, identity=self._identities.get(index), lost=True)

    def _read_one(self, index: int) -> GpuReport:
        nvml = self._nvml
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            identity = self._identity(index, handle)
        except nvml.NVMLError as error:
            if self.is_gpu_lost(error):
                return self._lost(index, error)
            logger.warning("GPU {}: identity unreadable: {}", index, error)
            return GpuReport(index=index, identity=self._identities.get(index))
        values: dict[str, float] = {}
        for name, reader in FIELD_READERS.items():
            if (index, name) in self._unsupported:
                continue
            try:
                values[name] = reader(nvml, handle)
            except nvml.NVMLError as error:
                if self.is_gpu_lost(error):
                    return self._lost(index, error)
                if self._is_unsupported(error):
                    self._unsupported.add((index, name))
                else:
                    logger.debug("GPU {}: {} unreadable: {}", index, name, error)
        for group, rate_reader in self._rate_readers.items():
            if (index, group) in self._unsupported:
                continue
            try:
                values.update(rate_reader(nvml, handle, index))
            except nvml.NVMLError as error:
                if self.is_gpu_lost(error):
                    return self._lost(index, error)
                if self._is_unsupported(error):
                    self._unsupported.add((index, group))
                else:
                    logger.debug("GPU {}: {} unreadable: {}", index, group, error)
        return GpuReport(
            index=index, identity=identity, values=values, mig=self._mig_instances(index, handle)
        )

    def _mig_instances(self, index: int, handle: Any) -> tuple[MigReport, ...]:
        """The GPU's MIG instances with their memory; () when MIG is off or unsupported."""
        nvml = self._nvml
        if (index, "mig") in self._unsupported:
            return ()
        try:
            if nvml.nvmlDeviceGetMigMode(handle)[0] != nvml.NVML_DEVICE_MIG_ENABLE:
                return ()
            slots = int(nvml.nvmlDeviceGetMaxMigDeviceCount(handle))
        except nvml.NVMLError as error:
            if self._is_unsupported(error):
                self._unsupported.add((index, "mig"))
            else:
                logger.debug("GPU {}: MIG mode unreadable: {}", index, error)
            return ()
        instances: list[MigReport] = []
        for slot in range(slots):
            try:
                device = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
                name = _text(nvml.nvmlDeviceGetName(device))
                instance_id = int(nvml.nvmlDeviceGetGpuInstanceId(device))
                memory = nvml.nvmlDeviceGetMemoryInfo(device)
            except nvml.NVMLError as error:
                if getattr(error, "value", None) != nvml.NVML_ERROR_NOT_FOUND:
                    logger.debug("GPU {}: MIG device {} unreadable: {}", index, slot, error)
                continue
            used, free, total = MIG_MEMORY_FIELDS
            values = {used: memory.used / MIB, free: memory.free / MIB, total: memory.total / MIB}
            profile = name.partition(MIG_NAME_MARK)[2]
            instances.append(MigReport(instance_id, profile, values))
        return tuple(sorted(instances, key=lambda instance: instance.gpu_instance_id))
