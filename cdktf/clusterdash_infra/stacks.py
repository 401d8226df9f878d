"""The stacks: `clusterdash` (one head pod and N worker pods) and `clusterdash-dev` (one pod).

Everything an operator may change at apply time is a Terraform variable with a `validation`
block; the Python settings give the defaults and are validated before anything is synthesized.
Secrets are sensitive variables without defaults, supplied as TF_VAR_* at apply time: the
synthesized JSON only ever holds references to them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from constructs import Construct

from cdktf import (
    App,
    DataResource,
    LocalBackend,
    TerraformCount,
    TerraformLocal,
    TerraformOutput,
    TerraformStack,
    TerraformVariable,
    TerraformVariableValidationConfig,
)
from clusterdash_infra.runpod import RunpodPod, RunpodProvider
from clusterdash_infra.settings import (
    ALLOWED_CUDA_VERSIONS,
    CLOUD_TYPES,
    GLOBAL_NETWORKING_CLOUD_TYPES,
    GLOBAL_NETWORKING_DATA_CENTERS,
    GPU_EXPORTER_PORT,
    GPU_TYPE_PATTERN,
    IMAGE_PATTERN,
    MAX_GPUS_PER_POD,
    MAX_WORKERS,
    NAME_PATTERN,
    PORT_PATTERN,
    SLURM_EXPORTER_PORT,
    VLLM_LOG_PORT,
    VLLM_PORT,
    ClusterSettings,
    DevSettings,
)

CLUSTER_STACK = "clusterdash"
DEV_STACK = "clusterdash-dev"


def _hcl(value: str) -> str:
    """A Python string as an HCL string literal (JSON string syntax is valid HCL)."""
    return json.dumps(value)


def _ref(expression: str) -> str:
    """A Terraform expression as a JSON-syntax string."""
    return "${" + expression + "}"


def _hcl_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_hcl(v) for v in values) + "]"


def _local_state(stack: TerraformStack, name: str) -> None:
    """State beside the repository root, not in cdktf.out/ (which `make clean` removes).

    Relative to the stack's directory (cdktf.out/stacks/NAME), where terraform runs; no
    absolute path of the machine that synthesized it ends up in the configuration.
    """
    LocalBackend(stack, path=f"../../../terraform.{name}.tfstate")


def _rule(condition: str, message: str) -> TerraformVariableValidationConfig:
    return TerraformVariableValidationConfig(condition=_ref(condition), error_message=message)


def _whole(var: str, low: int, high: int) -> str:
    return f"{var} >= {low} && {var} <= {high} && floor({var}) == {var}"


def _pod_shape(
    stack: TerraformStack, common: dict[str, TerraformVariable], data_center_ids: Any
) -> DataResource:
    """What RunPod cannot change on a running pod (the provider's update ignores it): pods
    name this in `replace_triggered_by`, so changing it replaces them instead of looking
    applied while nothing changed."""
    shape: dict[str, Any] = {
        "gpu_type_ids": common["gpu_type_ids"].list_value,
        "gpu_count": common["gpu_count"].number_value,
        "cloud_type": common["cloud_type"].string_value,
    }
    if data_center_ids is not None:
        shape["data_center_ids"] = data_center_ids
    resource = DataResource(stack, "pod_shape", input=shape)
    resource.override_logical_id("pod_shape")
    return resource


class _Variables:
    """Declares the variables shared by both stacks."""

    def __init__(self, stack: TerraformStack) -> None:
        self.stack = stack

    def string(self, name: str, default: str, description: str, **rules: str) -> TerraformVariable:
        return TerraformVariable(
            self.stack,
            name,
            type="string",
            default=default,
            description=description,
            validation=[_rule(c, m) for c, m in rules.items()],
        )

    def pod_name(self, name: str, default: str, description: str) -> TerraformVariable:
        """A name RunPod and Slurm both accept: lowercase letters, digits and '-'."""
        return self.string(
            name,
            default,
            description,
            **{
                f"can(regex({_hcl(NAME_PATTERN)}, var.{name}))": (
                    f"{name} must be 1-31 lowercase letters, digits or '-', starting with a letter."
                )
            },
        )

    def secret(
        self, name: str, env: str, *, optional: bool, rule: tuple[str, str] | None = None
    ) -> TerraformVariable:
        validation = [_rule(*rule)] if rule else None
        return TerraformVariable(
            self.stack,
            name,
            type="string",
            sensitive=True,
            nullable=False,
            default="" if optional else None,
            description=f"Secret, never stored in code: set TF_VAR_{name} (make reads ${env}).",
            validation=validation,
        )

    def common(
        self,
        settings: ClusterSettings | DevSettings,
        cloud_types: Sequence[str] = CLOUD_TYPES,
        cloud_type_message: str = "cloud_type must be SECURE or COMMUNITY.",
    ) -> dict[str, TerraformVariable]:
        s = self.stack
        gpu_types = TerraformVariable(
            s,
            "gpu_type_ids",
            type="list(string)",
            default=list(settings.gpu_type_ids),
            description="RunPod GPU type ids, in order of preference.",
            validation=[
                _rule(
                    "length(var.gpu_type_ids) > 0 && alltrue([for g in var.gpu_type_ids : "
                    f"can(regex({_hcl(GPU_TYPE_PATTERN)}, g))])",
                    "gpu_type_ids needs at least one RunPod GPU type id, "
                    "such as NVIDIA A100-SXM4-80GB.",
                )
            ],
        )
        gpu_count = TerraformVariable(
            s,
            "gpu_count",
            type="number",
            default=settings.gpu_count,
            description="GPUs per pod.",
            validation=[
                _rule(
                    _whole("var.gpu_count", 1, MAX_GPUS_PER_POD),
                    f"gpu_count must be a whole number from 1 to {MAX_GPUS_PER_POD}.",
                )
            ],
        )
        cloud_type = TerraformVariable(
            s,
            "cloud_type",
            type="string",
            default=settings.cloud_type,
            description=f"RunPod cloud type: {' or '.join(cloud_types)}.",
            validation=[
                _rule(f"contains({_hcl_list(cloud_types)}, var.cloud_type)", cloud_type_message)
            ],
        )
        volume = TerraformVariable(
            s,
            "volume_in_gb",
            type="number",
            default=settings.volume_in_gb,
            description="Persistent pod volume (GB), mounted at /workspace.",
            validation=[
                _rule(_whole("var.volume_in_gb", 0, 4000), "volume_in_gb must be 0-4000 GB.")
            ],
        )
        disk = TerraformVariable(
            s,
            "container_disk_in_gb",
            type="number",
            default=settings.container_disk_in_gb,
            description="Container disk (GB), wiped when the pod restarts.",
            validation=[
                _rule(
                    _whole("var.container_disk_in_gb", 10, 4000),
                    "container_disk_in_gb must be 10-4000 GB.",
                )
            ],
        )
        image = self.string(
            "image",
            settings.image,
            "Container image every pod runs.",
            **{
                f"can(regex({_hcl(IMAGE_PATTERN)}, var.image))": (
                    "image must be a container image reference without spaces."
                )
            },
        )
        price = TerraformVariable(
            s,
            "gpu_hourly_price",
            type="number",
            default=settings.gpu_hourly_price,
            description="USD per GPU-hour, for the cost outputs.",
            validation=[_rule("var.gpu_hourly_price >= 0", "gpu_hourly_price must be >= 0.")],
        )
        return {
            "gpu_type_ids": gpu_types,
            "gpu_count": gpu_count,
            "cloud_type": cloud_type,
            "volume_in_gb": volume,
            "container_disk_in_gb": disk,
            "image": image,
            "gpu_hourly_price": price,
        }

    def ports(self, name: str, default: Sequence[str], description: str) -> TerraformVariable:
        return TerraformVariable(
            self.stack,
            name,
            type="list(string)",
            default=list(default),
            description=description,
            validation=[
                _rule(
                    f"length(var.{name}) > 0 && alltrue([for p in var.{name} : "
                    f"can(regex({_hcl(PORT_PATTERN)}, p))])",
                    f"{name} entries must look like 8000/http or 22/tcp.",
                )
            ],
        )


GATEWAY_RULE = (
    'var.gateway_htpasswd == "" || can(regex("^[^: ]+:[^ ]+$", var.gateway_htpasswd))',
    "gateway_htpasswd must be one htpasswd line, user:hash (for example: htpasswd -nB operator).",
)
MUNGE_RULE = (
    'can(regex("^[A-Za-z0-9+/]+={0,2}$", var.munge_key)) && length(var.munge_key) >= 44',
    "munge_key must be a base64-encoded key of at least 32 bytes "
    "(for example: head -c 1024 /dev/urandom | base64 -w0).",
)
SSH_KEY_RULE = (
    'can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) ", var.ssh_public_key))',
    "ssh_public_key must be an OpenSSH public key line (ssh-ed25519 AAAA...).",
)


class ClusterStack(TerraformStack):
    """One head pod (slurmctld, munge, vLLM, exporters) and worker_count worker pods."""

    def __init__(self, scope: Construct, id_: str, settings: ClusterSettings) -> None:
        super().__init__(scope, id_)
        _local_state(self, id_)
        variables = _Variables(self)
        name = variables.pod_name(
            "cluster_name",
            settings.cluster_name,
            "Cluster name: pod names and the Slurm cluster name.",
        )
        workers = TerraformVariable(
            self,
            "worker_count",
            type="number",
            default=settings.worker_count,
            description="Worker pods besides the head.",
            validation=[
                _rule(
                    _whole("var.worker_count", 0, MAX_WORKERS),
                    f"worker_count must be a whole number from 0 to {MAX_WORKERS}.",
                )
            ],
        )
        common = variables.common(
            settings,
            GLOBAL_NETWORKING_CLOUD_TYPES,
            "cloud_type must be SECURE: the pods talk over global networking, "
            "which RunPod offers on Secure Cloud only.",
        )
        data_centers = TerraformVariable(
            self,
            "data_center_ids",
            type="list(string)",
            default=list(settings.data_center_ids),
            description="RunPod data centers to place pods in; each must offer global networking.",
            validation=[
                _rule(
                    "length(var.data_center_ids) > 0 && alltrue([for dc in var.data_center_ids : "
                    f"contains({_hcl_list(GLOBAL_NETWORKING_DATA_CENTERS)}, dc)])",
                    "data_center_ids must only name data centers with RunPod global networking: "
                    + ", ".join(GLOBAL_NETWORKING_DATA_CENTERS)
                    + ".",
                )
            ],
        )
        head_ports = variables.ports("head_ports", settings.head_ports, "Ports the head exposes.")
        worker_ports = variables.ports(
            "worker_ports", settings.worker_ports, "Ports each worker exposes."
        )
        variables.string(
            "prometheus_url",
            settings.prometheus_url,
            "Prometheus (or compatible) URL for clusterdash; empty scrapes exporters directly.",
            **{
                'var.prometheus_url == "" || can(regex("^https?://", var.prometheus_url))': (
                    "prometheus_url must be empty or an http(s) URL."
                )
            },
        )
        api_key = variables.secret("runpod_api_key", "RUNPOD_API_KEY", optional=False)
        hf_token = variables.secret("hf_token", "HF_TOKEN", optional=True)
        munge_key = variables.secret("munge_key", "MUNGE_KEY", optional=False, rule=MUNGE_RULE)
        gateway_htpasswd = variables.secret(
            "gateway_htpasswd", "GATEWAY_HTPASSWD", optional=True, rule=GATEWAY_RULE
        )
        ssh_key = variables.secret(
            "ssh_public_key", "SSH_PUBLIC_KEY", optional=False, rule=SSH_KEY_RULE
        )

        RunpodProvider(self, "runpod", api_key=api_key.string_value)

        pod_args: dict[str, Any] = {
            "image_name": common["image"].string_value,
            "gpu_type_ids": common["gpu_type_ids"].list_value,
            "gpu_count": common["gpu_count"].number_value,
            "cloud_type": common["cloud_type"].string_value,
            "data_center_ids": data_centers.list_value,
            "container_disk_in_gb": common["container_disk_in_gb"].number_value,
            "volume_in_gb": common["volume_in_gb"].number_value,
            "volume_mount_path": settings.volume_mount_path,
            "global_networking": True,
            "support_public_ip": True,
            "allowed_cuda_versions": ALLOWED_CUDA_VERSIONS,
            "replace_when_changed": [
                _pod_shape(self, common, data_centers.list_value).terraform_resource_type
                + ".pod_shape"
            ],
        }
        shared_env = {
            "SLURM_CLUSTER_NAME": name.string_value,
            "MUNGE_KEY_B64": munge_key.string_value,
            "PUBLIC_KEY": ssh_key.string_value,
            "GPU_EXPORTER_PORT": str(GPU_EXPORTER_PORT),
        }
        head = RunpodPod(
            self,
            "head",
            name=f"{name.string_value}-head",
            ports=head_ports.list_value,
            env={
                **shared_env,
                "NODE_ROLE": "head",
                "HF_TOKEN": hf_token.string_value,
                "GATEWAY_HTPASSWD": gateway_htpasswd.string_value,
                "VLLM_ENABLED": "1",
                "VLLM_PORT": str(VLLM_PORT),
                "VLLM_LOG_PORT": str(VLLM_LOG_PORT),
                "SLURM_EXPORTER_PORT": str(SLURM_EXPORTER_PORT),
                # Slurm's MaxNodeCount: every worker the stack allows may join.
                "SLURM_MAX_NODES": str(MAX_WORKERS),
            },
            **pod_args,
        )
        RunpodPod(
            self,
            "worker",
            name=f"{name.string_value}-worker-${{count.index}}",
            ports=worker_ports.list_value,
            env={
                **shared_env,
                "NODE_ROLE": "worker",
                # Straight from the head's resource: no patching over SSH after apply.
                "SLURM_HEAD_HOST": head.internal_hostname,
                "WORKER_INDEX": "${count.index}",
            },
            count=TerraformCount.of(workers.number_value),
            **pod_args,
        )
        self._outputs()

    def _outputs(self) -> None:
        head_ip = "runpod_pod.head.public_ip"
        worker_ids = "runpod_pod.worker[*].id"
        base_url = f"http://${{local.head_address}}:{VLLM_PORT}/v1"
        log_url = f"http://${{local.head_address}}:{VLLM_LOG_PORT}"
        head_address = TerraformLocal(
            self, "local_head_address", "${runpod_pod.head.id}.runpod.internal"
        )
        head_address.override_logical_id("head_address")
        targets = TerraformLocal(
            self,
            "local_exporter_targets",
            _ref(
                f'formatlist("http://%s.runpod.internal:{GPU_EXPORTER_PORT}/metrics", '
                f"concat([runpod_pod.head.id], {worker_ids}))"
            ),
        )
        targets.override_logical_id("exporter_targets")

        def out(key: str, value: Any, description: str) -> None:
            TerraformOutput(self, key, value=value, description=description)

        out("head_pod_id", _ref("runpod_pod.head.id"), "RunPod id of the head pod.")
        out("worker_pod_ids", _ref(worker_ids), "RunPod ids of the worker pods.")
        out("head_address", _ref("local.head_address"), "Head's name on RunPod's global network.")
        out("head_public_ip", _ref(head_ip), "Head's public IP (SSH, vLLM).")
        out(
            "worker_addresses",
            _ref(f'formatlist("%s.runpod.internal", {worker_ids})'),
            "Workers' names on RunPod's global network.",
        )
        out(
            "ssh_commands",
            {
                "head": f"ssh root@${{{head_ip}}}",
                "workers": _ref(
                    f'formatlist("ssh -J root@%s root@%s.runpod.internal", {head_ip}, {worker_ids})'
                ),
            },
            "SSH into each pod; workers are reached through the head.",
        )
        out(
            "hourly_cost_usd",
            _ref("(var.worker_count + 1) * var.gpu_count * var.gpu_hourly_price"),
            "Estimated USD per hour: pods x GPUs per pod x gpu_hourly_price.",
        )
        out(
            "reported_hourly_cost_usd",
            _ref("sum(concat([runpod_pod.head.cost_per_hr], runpod_pod.worker[*].cost_per_hr))"),
            "USD per hour as RunPod reports it for the running pods.",
        )
        out(
            "clusterdash_config",
            {
                "cluster": {
                    "name": _ref("var.cluster_name"),
                    "gpu_hourly_price": _ref("var.gpu_hourly_price"),
                },
                "slurm": {"enabled": True},
                "gpu": {"source": "exporters", "targets": _ref("local.exporter_targets")},
                "prometheus": {"url": _ref("var.prometheus_url")},
                "agent": {"base_url": base_url, "log_url": log_url},
            },
            "clusterdash settings for this cluster (read by clusterdash --from-terraform).",
        )
        toml_lines = [
            "[cluster]",
            "name = ${jsonencode(var.cluster_name)}",
            'gpu_hourly_price = ${format("%.4f", var.gpu_hourly_price)}',
            "",
            "[slurm]",
            "# clusterdash runs on the head node, where the Slurm CLI needs no SSH.",
            "enabled = true",
            "",
            "[gpu]",
            'source = "exporters"',
            "targets = ${jsonencode(local.exporter_targets)}",
            "",
            "[prometheus]",
            "url = ${jsonencode(var.prometheus_url)}",
            "",
            "[agent]",
            f'base_url = "{base_url}"',
            f'log_url = "{log_url}"',
            "",
        ]
        out(
            "clusterdash_config_toml",
            "\n".join(toml_lines),
            "The same settings as a config.toml file.",
        )
        out(
            "dashboard_command",
            f"ssh -t root@${{{head_ip}}} clusterdash",
            "Opens the dashboard on the head node.",
        )


class DevStack(TerraformStack):
    """One small pod to try an image cheaply; no global networking, no workers."""

    def __init__(self, scope: Construct, id_: str, settings: DevSettings) -> None:
        super().__init__(scope, id_)
        _local_state(self, id_)
        variables = _Variables(self)
        name = variables.pod_name("name", settings.name, "Pod name.")
        common = variables.common(settings)
        ports = variables.ports("ports", settings.ports, "Ports the pod exposes.")
        api_key = variables.secret("runpod_api_key", "RUNPOD_API_KEY", optional=False)
        hf_token = variables.secret("hf_token", "HF_TOKEN", optional=True)
        ssh_key = variables.secret(
            "ssh_public_key", "SSH_PUBLIC_KEY", optional=False, rule=SSH_KEY_RULE
        )
        # The image refuses to start Slurm without a munge key, dev pod included.
        munge_key = variables.secret("munge_key", "MUNGE_KEY", optional=False, rule=MUNGE_RULE)
        RunpodProvider(self, "runpod", api_key=api_key.string_value)
        pod = RunpodPod(
            self,
            "dev",
            name=name.string_value,
            image_name=common["image"].string_value,
            gpu_type_ids=common["gpu_type_ids"].list_value,
            gpu_count=common["gpu_count"].number_value,
            cloud_type=common["cloud_type"].string_value,
            container_disk_in_gb=common["container_disk_in_gb"].number_value,
            volume_in_gb=common["volume_in_gb"].number_value,
            ports=ports.list_value,
            support_public_ip=True,
            allowed_cuda_versions=ALLOWED_CUDA_VERSIONS,
            replace_when_changed=[
                _pod_shape(self, common, None).terraform_resource_type + ".pod_shape"
            ],
            env={
                "NODE_ROLE": "head",
                "SLURM_CLUSTER_NAME": name.string_value,
                "PUBLIC_KEY": ssh_key.string_value,
                "MUNGE_KEY_B64": munge_key.string_value,
                "HF_TOKEN": hf_token.string_value,
                "VLLM_ENABLED": "0",
                "GPU_EXPORTER_PORT": str(GPU_EXPORTER_PORT),
            },
        )
        TerraformOutput(self, "pod_id", value=pod.pod_id, description="RunPod id of the pod.")
        TerraformOutput(self, "public_ip", value=pod.public_ip, description="The pod's public IP.")
        TerraformOutput(
            self,
            "ssh_command",
            value=f"ssh root@{pod.public_ip}",
            description="SSH into the pod.",
        )
        TerraformOutput(
            self,
            "hourly_cost_usd",
            value=_ref("var.gpu_count * var.gpu_hourly_price"),
            description="Estimated USD per hour.",
        )


def build_app(
    outdir: str,
    cluster: ClusterSettings | None = None,
    dev: DevSettings | None = None,
) -> App:
    """Both stacks in one app writing to outdir (cdktf.out)."""
    app = App(outdir=outdir)
    ClusterStack(app, CLUSTER_STACK, cluster or ClusterSettings())
    DevStack(app, DEV_STACK, dev or DevSettings())
    return app
