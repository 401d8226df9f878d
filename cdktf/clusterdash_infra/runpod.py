"""Typed constructs for the decentralized-infrastructure/runpod Terraform provider.

`cdktf get` needs the network to fetch provider schemas, so these few bindings are written by
hand: each Python argument is typed, static values are validated here, and the attributes are
rendered through synthesize_attributes under the names the provider documents
(tests/fixtures/runpod_provider_schema.json holds that schema; a test checks against it).
Values may also be cdktf tokens (variable references), which Terraform validates instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import jsii
from constructs import Construct

from cdktf import (
    TerraformCount,
    TerraformProvider,
    TerraformProviderGeneratorMetadata,
    TerraformResource,
    TerraformResourceLifecycle,
    Token,
)
from clusterdash_infra.settings import CLOUD_TYPES, PORT_PATTERN, InfraConfigError

PROVIDER_NAME = "runpod"
PROVIDER_SOURCE = "decentralized-infrastructure/runpod"
PROVIDER_VERSION = "~> 1.0"
POD_RESOURCE = "runpod_pod"

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_METADATA = TerraformProviderGeneratorMetadata(
    provider_name=PROVIDER_NAME, provider_version_constraint=PROVIDER_VERSION
)


def _static(value: Any) -> bool:
    """True when the value is known now (not a reference Terraform resolves later)."""
    if isinstance(value, str):
        return not Token.is_unresolved(value)
    if isinstance(value, bool | int | float):
        return not Token.is_unresolved(value)
    return False


def _static_list(values: Any) -> list[Any] | None:
    if not isinstance(values, list | tuple) or Token.is_unresolved(list(values)):
        return None
    if all(_static(v) for v in values):
        return list(values)
    return None


class RunpodProvider(TerraformProvider):
    """The runpod provider block; the API key is a reference to a sensitive variable."""

    def __init__(self, scope: Construct, id_: str, *, api_key: str) -> None:
        super().__init__(
            scope,
            id_,
            terraform_resource_type=PROVIDER_NAME,
            terraform_provider_source=PROVIDER_SOURCE,
            terraform_generator_metadata=_METADATA,
        )
        if _static(api_key):
            raise InfraConfigError(
                "runpod provider: api_key must reference a sensitive variable, never a literal"
            )
        self._api_key = api_key

    @jsii.member(jsii_name="synthesizeAttributes")
    def _synthesize_attributes(self) -> Mapping[str, Any]:
        return {"api_key": self._api_key}


class RunpodPod(TerraformResource):
    """A `runpod_pod`: one container with GPUs on RunPod."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        image_name: str,
        gpu_type_ids: Sequence[str],
        gpu_count: int | float,
        cloud_type: str,
        ports: Sequence[str],
        env: Mapping[str, str],
        container_disk_in_gb: int | float,
        volume_in_gb: int | float,
        volume_mount_path: str = "/workspace",
        data_center_ids: Sequence[str] | None = None,
        global_networking: bool = False,
        support_public_ip: bool = True,
        docker_start_cmd: Sequence[str] | None = None,
        network_volume_id: str | None = None,
        allowed_cuda_versions: Sequence[str] | None = None,
        count: TerraformCount | None = None,
        replace_when_changed: Sequence[str] | None = None,
    ) -> None:
        lifecycle = (
            TerraformResourceLifecycle(replace_triggered_by=list(replace_when_changed))
            if replace_when_changed
            else None
        )
        super().__init__(
            scope,
            id_,
            terraform_resource_type=POD_RESOURCE,
            terraform_generator_metadata=_METADATA,
            count=count,
            lifecycle=lifecycle,
        )
        self.override_logical_id(id_)
        _validate_pod(
            id_,
            cloud_type=cloud_type,
            ports=ports,
            env=env,
            gpu_count=gpu_count,
            volume_mount_path=volume_mount_path,
        )
        attributes: dict[str, Any] = {
            "name": name,
            "image_name": image_name,
            "gpu_type_ids": list(gpu_type_ids) if _static_list(gpu_type_ids) else gpu_type_ids,
            "gpu_count": gpu_count,
            "cloud_type": cloud_type,
            "data_center_ids": data_center_ids,
            "global_networking": global_networking,
            "support_public_ip": support_public_ip,
            "ports": ports,
            "env": dict(env),
            "container_disk_in_gb": container_disk_in_gb,
            "volume_in_gb": volume_in_gb,
            "volume_mount_path": volume_mount_path,
            "docker_start_cmd": docker_start_cmd,
            "network_volume_id": network_volume_id,
            "allowed_cuda_versions": list(allowed_cuda_versions) if allowed_cuda_versions else None,
        }
        self._attributes = {k: v for k, v in attributes.items() if v is not None}

    @property
    def pod_id(self) -> str:
        return self.get_string_attribute("id")

    @property
    def public_ip(self) -> str:
        return self.get_string_attribute("public_ip")

    @property
    def internal_hostname(self) -> str:
        """The pod's name on RunPod's global network (needs global_networking)."""
        return f"{self.pod_id}.runpod.internal"

    @jsii.member(jsii_name="synthesizeAttributes")
    def _synthesize_attributes(self) -> Mapping[str, Any]:
        return self._attributes


def _validate_pod(
    id_: str,
    *,
    cloud_type: str,
    ports: Sequence[str],
    env: Mapping[str, str],
    gpu_count: int | float,
    volume_mount_path: str,
) -> None:
    where = f"runpod_pod.{id_}"
    if _static(cloud_type) and cloud_type not in CLOUD_TYPES:
        raise InfraConfigError(f"{where}: cloud_type {cloud_type!r} is not one of {CLOUD_TYPES}")
    for port in _static_list(ports) or []:
        if re.fullmatch(PORT_PATTERN, port) is None:
            raise InfraConfigError(f"{where}: port {port!r} is not PORT/http or PORT/tcp")
    for key in env:
        if _ENV_NAME.fullmatch(key) is None:
            raise InfraConfigError(f"{where}: env name {key!r} is not a valid variable name")
    if _static(gpu_count) and not (isinstance(gpu_count, int) and gpu_count >= 1):
        raise InfraConfigError(f"{where}: gpu_count {gpu_count!r} must be a whole number >= 1")
    if _static(volume_mount_path) and not volume_mount_path.startswith("/"):
        raise InfraConfigError(f"{where}: volume_mount_path {volume_mount_path!r} is not absolute")
