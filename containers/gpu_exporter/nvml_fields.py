"""The NVML module's type and the decoding of NVML field values (nvmlDeviceGetFieldValues)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

# Everything NVML-shaped: the real pynvml module or a test double with the same attributes.
Nvml = ModuleType | Any

# nvmlValueType_t -> the member of the c_nvmlValue_t union that holds the value.
_VALUE_MEMBERS = {
    "NVML_VALUE_TYPE_DOUBLE": "dVal",
    "NVML_VALUE_TYPE_UNSIGNED_INT": "uiVal",
    "NVML_VALUE_TYPE_UNSIGNED_LONG": "ulVal",
    "NVML_VALUE_TYPE_UNSIGNED_LONG_LONG": "ullVal",
    "NVML_VALUE_TYPE_SIGNED_LONG_LONG": "sllVal",
    "NVML_VALUE_TYPE_SIGNED_INT": "siVal",
    "NVML_VALUE_TYPE_UNSIGNED_SHORT": "usVal",
}


def field_value(nvml: Nvml, value: Any) -> float:
    """The number in one answered c_nvmlFieldValue_t."""
    for constant, member in _VALUE_MEMBERS.items():
        if value.valueType == getattr(nvml, constant):
            return float(getattr(value.value, member))
    raise nvml.NVMLError(nvml.NVML_ERROR_UNKNOWN)


def read_field(nvml: Nvml, handle: Any, field_id: int) -> float:
    """One NVML field of a device; raises NVMLError with the field's own return code."""
    value = nvml.nvmlDeviceGetFieldValues(handle, [field_id])[0]
    if value.nvmlReturn != nvml.NVML_SUCCESS:
        raise nvml.NVMLError(value.nvmlReturn)
    return field_value(nvml, value)
