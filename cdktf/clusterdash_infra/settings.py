"""What a cluster is made of: typed, validated settings and the facts they are checked against.

Pure Python (no cdktf import), so validation errors surface before the Node.js process starts.
The same rules are repeated as Terraform `validation` blocks (see stacks.py) because the values
can be changed again at apply time through TF_VAR_* variables.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Data centers where RunPod global networking (POD_ID.runpod.internal) is available, from
# RunPod's "Global networking" documentation (docs.runpod.io/pods/networking, 17 data centers).
# Multi-node Slurm needs pod-to-pod traffic, so the cluster may only use these.
GLOBAL_NETWORKING_DATA_CENTERS: tuple[str, ...] = (
    "CA-MTL-3",
    "EU-CZ-1",
    "EU-FR-1",
    "EU-NL-1",
    "EU-RO-1",
    "EU-SE-1",
    "EUR-IS-2",
    "OC-AU-1",
    "US-CA-2",
    "US-GA-1",
    "US-GA-2",
    "US-IL-1",
    "US-KS-2",
    "US-NC-1",
    "US-TX-3",
    "US-TX-4",
    "US-WA-1",
)
CLOUD_TYPES: tuple[str, ...] = ("SECURE", "COMMUNITY")

# The seed's port table.
SSH_PORT = 22
VLLM_PORT = 8000
VLLM_LOG_PORT = 8002
GPU_EXPORTER_PORT = 9400
SLURM_EXPORTER_PORT = 9341
# The browser gateway (nginx -> `clusterdash serve`); up only with the gateway_htpasswd secret.
GATEWAY_PORT = 3000
HEAD_PORTS: tuple[str, ...] = (
    f"{SSH_PORT}/tcp",
    f"{VLLM_PORT}/http",
    f"{VLLM_LOG_PORT}/http",
    f"{GPU_EXPORTER_PORT}/http",
    f"{SLURM_EXPORTER_PORT}/http",
    f"{GATEWAY_PORT}/http",
)
WORKER_PORTS: tuple[str, ...] = (f"{SSH_PORT}/tcp", f"{GPU_EXPORTER_PORT}/http")

DEFAULT_IMAGE = "ghcr.io/clusterdash/pod:0.1.0"
MAX_WORKERS = 1000
# The image is built on CUDA 12.9: only hosts whose driver runs CUDA 12.9 or newer can start
# it (RunPod's allowedCudaVersions values).
ALLOWED_CUDA_VERSIONS: tuple[str, ...] = ("12.9", "13.0")
# RunPod offers global networking (which the cluster's pods talk over) on Secure Cloud only.
GLOBAL_NETWORKING_CLOUD_TYPES: tuple[str, ...] = ("SECURE",)
MAX_GPUS_PER_POD = 8

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}$"
PORT_PATTERN = r"^[0-9]{1,5}/(http|tcp)$"
# Terraform's regex() uses RE2; these patterns mean the same in both engines.
GPU_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$"
IMAGE_PATTERN = r"^[a-z0-9][a-zA-Z0-9./_:@-]*$"


class InfraConfigError(ValueError):
    """A setting that cannot produce a working cluster; the message is one line naming it."""


def _check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise InfraConfigError(f"{key}: {message}")


def _check_name(key: str, value: str) -> None:
    _check(
        re.fullmatch(NAME_PATTERN, value) is not None,
        key,
        f"{value!r} must be 1-31 lowercase letters, digits or '-', starting with a letter",
    )


def _check_ports(key: str, ports: tuple[str, ...]) -> None:
    _check(len(ports) > 0, key, "at least one port is needed (22/tcp for SSH)")
    for port in ports:
        _check(
            re.fullmatch(PORT_PATTERN, port) is not None,
            key,
            f"{port!r} is not PORT/http or PORT/tcp",
        )
        number = int(port.split("/")[0])
        _check(1 <= number <= 65535, key, f"{port!r} is outside 1-65535")
    numbers = [p.split("/")[0] for p in ports]
    _check(len(set(numbers)) == len(numbers), key, "a port is listed twice")


def _check_common(
    *,
    gpu_type_ids: tuple[str, ...],
    gpu_count: int,
    cloud_type: str,
    volume_in_gb: int,
    container_disk_in_gb: int,
    image: str,
    gpu_hourly_price: float,
) -> None:
    _check(len(gpu_type_ids) > 0, "gpu_type_ids", "at least one GPU type is needed")
    for gpu in gpu_type_ids:
        _check(
            re.fullmatch(GPU_TYPE_PATTERN, gpu) is not None,
            "gpu_type_ids",
            f"{gpu!r} is not a RunPod GPU type id such as 'NVIDIA A100-SXM4-80GB'",
        )
    _check(
        isinstance(gpu_count, int) and 1 <= gpu_count <= MAX_GPUS_PER_POD,
        "gpu_count",
        f"{gpu_count!r} must be a whole number from 1 to {MAX_GPUS_PER_POD}",
    )
    _check(
        cloud_type in CLOUD_TYPES,
        "cloud_type",
        f"{cloud_type!r} must be one of {', '.join(CLOUD_TYPES)}",
    )
    _check(
        isinstance(volume_in_gb, int) and 0 <= volume_in_gb <= 4000,
        "volume_in_gb",
        f"{volume_in_gb!r} must be a whole number of GB from 0 to 4000",
    )
    _check(
        isinstance(container_disk_in_gb, int) and 10 <= container_disk_in_gb <= 4000,
        "container_disk_in_gb",
        f"{container_disk_in_gb!r} must be a whole number of GB from 10 to 4000",
    )
    _check(
        re.fullmatch(IMAGE_PATTERN, image) is not None,
        "image",
        f"{image!r} is not a container image reference",
    )
    _check(
        math.isfinite(gpu_hourly_price) and gpu_hourly_price >= 0,
        "gpu_hourly_price",
        f"{gpu_hourly_price!r} must be a price in USD per GPU-hour, >= 0",
    )


@dataclass(frozen=True)
class ClusterSettings:
    """Defaults of the cluster stack's Terraform variables."""

    cluster_name: str = "clusterdash"
    worker_count: int = 2
    gpu_type_ids: tuple[str, ...] = ("NVIDIA A100-SXM4-80GB",)
    gpu_count: int = 1
    cloud_type: str = "SECURE"
    data_center_ids: tuple[str, ...] = ("US-KS-2", "US-TX-3", "EU-RO-1", "CA-MTL-3")
    volume_in_gb: int = 100
    container_disk_in_gb: int = 50
    volume_mount_path: str = "/workspace"
    image: str = DEFAULT_IMAGE
    head_ports: tuple[str, ...] = HEAD_PORTS
    worker_ports: tuple[str, ...] = WORKER_PORTS
    # USD per GPU-hour; RunPod's A100 SXM 80GB on-demand price is about 1.89 (secure cloud).
    gpu_hourly_price: float = 1.89
    prometheus_url: str = ""

    def __post_init__(self) -> None:
        _check_name("cluster_name", self.cluster_name)
        _check(
            isinstance(self.worker_count, int) and 0 <= self.worker_count <= MAX_WORKERS,
            "worker_count",
            f"{self.worker_count!r} must be a whole number from 0 to {MAX_WORKERS}",
        )
        _check_common(
            gpu_type_ids=self.gpu_type_ids,
            gpu_count=self.gpu_count,
            cloud_type=self.cloud_type,
            volume_in_gb=self.volume_in_gb,
            container_disk_in_gb=self.container_disk_in_gb,
            image=self.image,
            gpu_hourly_price=self.gpu_hourly_price,
        )
        _check(
            self.cloud_type in GLOBAL_NETWORKING_CLOUD_TYPES,
            "cloud_type",
            f"{self.cloud_type!r} has no global networking, which the cluster's pods talk over; "
            "use SECURE",
        )
        _check(
            len(self.data_center_ids) > 0,
            "data_center_ids",
            "at least one data center with global networking is needed",
        )
        for dc in self.data_center_ids:
            _check(
                dc in GLOBAL_NETWORKING_DATA_CENTERS,
                "data_center_ids",
                f"{dc!r} has no RunPod global networking; use one of "
                + ", ".join(GLOBAL_NETWORKING_DATA_CENTERS),
            )
        _check(
            self.volume_mount_path.startswith("/"),
            "volume_mount_path",
            f"{self.volume_mount_path!r} must be an absolute path",
        )
        _check_ports("head_ports", self.head_ports)
        _check_ports("worker_ports", self.worker_ports)
        _check(
            f"{SSH_PORT}/tcp" in self.head_ports,
            "head_ports",
            "22/tcp must be exposed: the SSH commands and the dashboard go through it",
        )
        _check(
            self.prometheus_url == "" or re.match(r"^https?://", self.prometheus_url) is not None,
            "prometheus_url",
            f"{self.prometheus_url!r} must be empty or an http(s) URL",
        )

    @property
    def pod_count(self) -> int:
        return self.worker_count + 1

    @property
    def hourly_cost(self) -> float:
        """Estimated USD per hour for the whole cluster at the configured GPU price."""
        return self.pod_count * self.gpu_count * self.gpu_hourly_price


@dataclass(frozen=True)
class DevSettings:
    """Defaults of the dev stack: one small pod to try an image cheaply."""

    name: str = "clusterdash-dev"
    gpu_type_ids: tuple[str, ...] = ("NVIDIA RTX A4000", "NVIDIA RTX A4500")
    gpu_count: int = 1
    cloud_type: str = "COMMUNITY"
    volume_in_gb: int = 20
    container_disk_in_gb: int = 30
    image: str = DEFAULT_IMAGE
    ports: tuple[str, ...] = HEAD_PORTS
    # USD per GPU-hour; an RTX A4000 on community cloud is about 0.17.
    gpu_hourly_price: float = 0.17

    def __post_init__(self) -> None:
        _check_name("name", self.name)
        _check_common(
            gpu_type_ids=self.gpu_type_ids,
            gpu_count=self.gpu_count,
            cloud_type=self.cloud_type,
            volume_in_gb=self.volume_in_gb,
            container_disk_in_gb=self.container_disk_in_gb,
            image=self.image,
            gpu_hourly_price=self.gpu_hourly_price,
        )
        _check_ports("ports", self.ports)
