"""The synthesized Terraform JSON of both stacks: resources, variables, outputs, secrets, schema."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.unit.cdktf_support import (
    PROVIDER_KEY,
    SCHEMA_FIXTURE,
    SECRET_VALUES,
    secret_environment,
    start_jsii_quietly,
    synthesize,
    use_cdktf_sources,
)

use_cdktf_sources()

from clusterdash_infra.settings import (  # noqa: E402
    GLOBAL_NETWORKING_DATA_CENTERS,
    MAX_WORKERS,
    ClusterSettings,
    DevSettings,
    InfraConfigError,
)

CLUSTER_VARIABLES = {
    "cluster_name",
    "worker_count",
    "gpu_type_ids",
    "gpu_count",
    "cloud_type",
    "data_center_ids",
    "volume_in_gb",
    "container_disk_in_gb",
    "image",
    "head_ports",
    "worker_ports",
    "gpu_hourly_price",
    "prometheus_url",
    "runpod_api_key",
    "hf_token",
    "munge_key",
    "ssh_public_key",
    "gateway_htpasswd",
}
CLUSTER_OUTPUTS = {
    "head_pod_id",
    "worker_pod_ids",
    "head_address",
    "head_public_ip",
    "worker_addresses",
    "ssh_commands",
    "hourly_cost_usd",
    "reported_hourly_cost_usd",
    "clusterdash_config",
    "clusterdash_config_toml",
    "dashboard_command",
}
SECRETS = {"runpod_api_key", "hf_token", "munge_key", "ssh_public_key"}


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("cdktf.out")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in secret_environment().items():
            patch.setenv(key, value)
        synthesize(outdir)
    return outdir


@pytest.fixture(scope="module")
def stacks(synth_dir: Path) -> dict[str, dict[str, Any]]:
    return {
        d.name: json.loads((d / "cdk.tf.json").read_text())
        for d in sorted((synth_dir / "stacks").iterdir())
    }


@pytest.fixture(scope="module")
def cluster(stacks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return stacks["clusterdash"]


@pytest.fixture(scope="module")
def dev(stacks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return stacks["clusterdash-dev"]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FIXTURE.read_text())["provider_schemas"][PROVIDER_KEY]


def test_both_stacks_are_synthesized_with_the_pinned_provider(
    stacks: dict[str, dict[str, Any]],
) -> None:
    assert set(stacks) == {"clusterdash", "clusterdash-dev"}
    for stack in stacks.values():
        assert stack["terraform"]["required_providers"]["runpod"] == {
            "source": "decentralized-infrastructure/runpod",
            "version": "~> 1.0",
        }
        assert stack["provider"]["runpod"] == [{"api_key": "${var.runpod_api_key}"}]


def test_state_path_is_relative_to_the_stack_directory(
    stacks: dict[str, dict[str, Any]],
) -> None:
    for name, stack in stacks.items():
        path = stack["terraform"]["backend"]["local"]["path"]
        assert path == f"../../../terraform.{name}.tfstate"


def test_cluster_has_one_head_and_worker_count_workers(cluster: dict[str, Any]) -> None:
    pods = cluster["resource"]["runpod_pod"]
    assert set(pods) == {"head", "worker"}
    assert "count" not in pods["head"]
    assert pods["worker"]["count"] == "${var.worker_count}"
    assert pods["worker"]["name"] == "${var.cluster_name}-worker-${count.index}"
    assert pods["head"]["name"] == "${var.cluster_name}-head"


def test_every_pod_uses_global_networking_and_the_variables(cluster: dict[str, Any]) -> None:
    for role, pod in cluster["resource"]["runpod_pod"].items():
        assert pod["global_networking"] is True, role
        assert pod["support_public_ip"] is True, role
        assert pod["gpu_type_ids"] == "${var.gpu_type_ids}"
        assert pod["gpu_count"] == "${var.gpu_count}"
        assert pod["cloud_type"] == "${var.cloud_type}"
        assert pod["data_center_ids"] == "${var.data_center_ids}"
        assert pod["image_name"] == "${var.image}"
        assert pod["volume_in_gb"] == "${var.volume_in_gb}"
        assert pod["container_disk_in_gb"] == "${var.container_disk_in_gb}"
        assert pod["ports"] == f"${{var.{role}_ports}}"
        assert pod["env"]["NODE_ROLE"] == role
        assert pod["env"]["MUNGE_KEY_B64"] == "${var.munge_key}"
        assert pod["env"]["PUBLIC_KEY"] == "${var.ssh_public_key}"


def test_workers_get_the_head_address_from_the_configuration(cluster: dict[str, Any]) -> None:
    worker_env = cluster["resource"]["runpod_pod"]["worker"]["env"]
    assert worker_env["SLURM_HEAD_HOST"] == "${runpod_pod.head.id}.runpod.internal"
    assert worker_env["WORKER_INDEX"] == "${count.index}"


def test_only_the_head_gets_the_hugging_face_token(cluster: dict[str, Any]) -> None:
    pods = cluster["resource"]["runpod_pod"]
    assert pods["head"]["env"]["HF_TOKEN"] == "${var.hf_token}"
    assert "HF_TOKEN" not in pods["worker"]["env"]


def test_port_defaults_are_the_seed_table(cluster: dict[str, Any]) -> None:
    variables = cluster["variable"]
    assert variables["head_ports"]["default"] == [
        "22/tcp",
        "8000/http",
        "8002/http",
        "9400/http",
        "9341/http",
        "3000/http",
    ]
    assert variables["worker_ports"]["default"] == ["22/tcp", "9400/http"]


def test_cluster_variables_are_declared_with_settings_defaults(cluster: dict[str, Any]) -> None:
    variables = cluster["variable"]
    assert set(variables) == CLUSTER_VARIABLES
    defaults = ClusterSettings()
    assert variables["cluster_name"]["default"] == defaults.cluster_name
    assert variables["worker_count"]["default"] == defaults.worker_count
    assert variables["gpu_type_ids"]["default"] == ["NVIDIA A100-SXM4-80GB"]
    assert variables["cloud_type"]["default"] == "SECURE"
    assert variables["data_center_ids"]["default"] == list(defaults.data_center_ids)
    assert variables["gpu_hourly_price"]["default"] == defaults.gpu_hourly_price
    for name, variable in variables.items():
        assert variable.get("description"), name
        assert variable.get("type"), name


def test_every_non_secret_variable_has_a_validation_on_itself(cluster: dict[str, Any]) -> None:
    for name, variable in cluster["variable"].items():
        if name in {"runpod_api_key", "hf_token"}:
            continue
        rules = variable.get("validation", [])
        assert rules, name
        for rule in rules:
            assert f"var.{name}" in rule["condition"], name
            # Terraform before 1.9 only allows a variable's rule to reference itself.
            others = set(re.findall(r"var\.(\w+)", rule["condition"])) - {name}
            assert not others, (name, others)
            assert rule["error_message"].endswith("."), name


def test_data_center_rule_lists_exactly_the_global_networking_data_centers(
    cluster: dict[str, Any],
) -> None:
    condition = cluster["variable"]["data_center_ids"]["validation"][0]["condition"]
    listed = re.search(r"contains\((\[.*?\]), dc\)", condition)
    assert listed is not None
    assert json.loads(listed.group(1)) == list(GLOBAL_NETWORKING_DATA_CENTERS)
    assert "US-OR-1" not in listed.group(1)


def test_secrets_are_sensitive_variables_without_values(stacks: dict[str, Any]) -> None:
    for name, stack in stacks.items():
        for secret in SECRETS & set(stack["variable"]):
            variable = stack["variable"][secret]
            assert variable["sensitive"] is True, (name, secret)
            assert variable.get("default", "") == "", (name, secret)
            assert f"TF_VAR_{secret}" in variable["description"]


def test_secret_values_from_the_environment_never_reach_synthesized_files(
    synth_dir: Path,
) -> None:
    files = [p for p in synth_dir.rglob("*") if p.is_file()]
    assert any(p.name == "cdk.tf.json" for p in files)
    for path in files:
        text = path.read_text(errors="replace")
        for name, value in SECRET_VALUES.items():
            assert value not in text, f"{name} leaked into {path.name}"


def test_cluster_outputs(cluster: dict[str, Any]) -> None:
    outputs = {k: v["value"] for k, v in cluster["output"].items()}
    assert set(outputs) == CLUSTER_OUTPUTS
    assert outputs["head_pod_id"] == "${runpod_pod.head.id}"
    assert outputs["worker_pod_ids"] == "${runpod_pod.worker[*].id}"
    assert outputs["head_address"] == "${local.head_address}"
    assert cluster["locals"]["head_address"] == "${runpod_pod.head.id}.runpod.internal"
    assert outputs["ssh_commands"]["head"] == "ssh root@${runpod_pod.head.public_ip}"
    assert "ssh -J root@%s" in outputs["ssh_commands"]["workers"]
    assert outputs["hourly_cost_usd"] == (
        "${(var.worker_count + 1) * var.gpu_count * var.gpu_hourly_price}"
    )
    assert "cost_per_hr" in outputs["reported_hourly_cost_usd"]
    assert outputs["dashboard_command"] == "ssh -t root@${runpod_pod.head.public_ip} clusterdash"
    for output in cluster["output"].values():
        assert "sensitive" not in output
        assert "var.munge_key" not in json.dumps(output)


def test_clusterdash_config_output_has_the_config_sections(cluster: dict[str, Any]) -> None:
    config = cluster["output"]["clusterdash_config"]["value"]
    assert set(config) == {"cluster", "slurm", "gpu", "prometheus", "agent"}
    assert config["cluster"]["name"] == "${var.cluster_name}"
    assert config["slurm"] == {"enabled": True}
    assert config["gpu"] == {"source": "exporters", "targets": "${local.exporter_targets}"}
    assert ":9400/metrics" in cluster["locals"]["exporter_targets"]
    assert config["agent"] == {
        "base_url": "http://${local.head_address}:8000/v1",
        "log_url": "http://${local.head_address}:8002",
    }
    toml_text = cluster["output"]["clusterdash_config_toml"]["value"]
    for header in ("[cluster]", "[slurm]", "[gpu]", "[prometheus]", "[agent]"):
        assert header in toml_text


def test_dev_stack_is_one_small_pod(dev: dict[str, Any]) -> None:
    pods = dev["resource"]["runpod_pod"]
    assert set(pods) == {"dev"}
    pod = pods["dev"]
    assert "count" not in pod
    assert pod.get("global_networking", False) is False
    assert dev["variable"]["cloud_type"]["default"] == "COMMUNITY"
    assert dev["variable"]["gpu_count"]["default"] == 1
    assert dev["variable"]["gpu_type_ids"]["default"] == list(DevSettings().gpu_type_ids)
    assert set(dev["output"]) == {"pod_id", "public_ip", "ssh_command", "hourly_cost_usd"}
    assert dev["output"]["hourly_cost_usd"]["value"] == "${var.gpu_count * var.gpu_hourly_price}"
    # The image's environment contract (containers/README.md): Slurm needs the munge key.
    assert pod["env"]["MUNGE_KEY_B64"] == "${var.munge_key}"
    assert pod["env"]["VLLM_ENABLED"] == "0"
    assert dev["variable"]["munge_key"]["sensitive"] is True


def test_pods_land_only_on_hosts_whose_driver_runs_the_images_cuda(
    stacks: dict[str, dict[str, Any]],
) -> None:
    dockerfile = (ROOT / "containers" / "Dockerfile").read_text()
    image_cuda = re.search(r"nvidia/cuda:(\d+\.\d+)\.\d+-base", dockerfile)
    assert image_cuda is not None
    for stack in stacks.values():
        for role, pod in stack["resource"]["runpod_pod"].items():
            allowed = pod["allowed_cuda_versions"]
            assert allowed, role
            for version in allowed:
                major, minor = (int(part) for part in version.split("."))
                image_major, image_minor = (int(part) for part in image_cuda[1].split("."))
                assert (major, minor) >= (image_major, image_minor), (role, version)


def test_changes_runpod_cannot_apply_in_place_replace_the_pods(
    stacks: dict[str, dict[str, Any]],
) -> None:
    for name, stack in stacks.items():
        shape = stack["resource"]["terraform_data"]["pod_shape"]["input"]
        assert shape["gpu_count"] == "${var.gpu_count}"
        assert shape["gpu_type_ids"] == "${var.gpu_type_ids}"
        assert shape["cloud_type"] == "${var.cloud_type}"
        if name == "clusterdash":
            assert shape["data_center_ids"] == "${var.data_center_ids}"
        for role, pod in stack["resource"]["runpod_pod"].items():
            assert pod["lifecycle"] == {"replace_triggered_by": ["terraform_data.pod_shape"]}, role


def test_slurm_admits_every_worker_the_stack_allows(cluster: dict[str, Any]) -> None:
    head_env = cluster["resource"]["runpod_pod"]["head"]["env"]
    assert int(head_env["SLURM_MAX_NODES"]) >= MAX_WORKERS
    rule = cluster["variable"]["worker_count"]["validation"][0]["condition"]
    assert f"var.worker_count <= {MAX_WORKERS}" in rule


def test_cluster_cloud_type_must_offer_global_networking(cluster: dict[str, Any]) -> None:
    rule = cluster["variable"]["cloud_type"]["validation"][0]
    assert rule["condition"] == '${contains(["SECURE"], var.cloud_type)}'
    assert "global networking" in rule["error_message"]


def test_worker_env_uses_the_image_contract(cluster: dict[str, Any]) -> None:
    worker = cluster["resource"]["runpod_pod"]["worker"]
    head = cluster["resource"]["runpod_pod"]["head"]
    entrypoint_vars = (ROOT / "containers" / "README.md").read_text()
    for key in (*worker["env"], *head["env"]):
        assert f"`{key}`" in entrypoint_vars or key in {
            "WORKER_INDEX",
            "VLLM_PORT",
            "VLLM_LOG_PORT",
            "SLURM_EXPORTER_PORT",
            "GPU_EXPORTER_PORT",
        }, f"{key} is not an environment variable the pod image reads"


ROOT = Path(__file__).resolve().parents[2]


def _schema_type_matches(declared: Any, value: Any) -> bool:
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return True  # a reference: Terraform checks its type against the variable's
    if declared == "string":
        return isinstance(value, str)
    if declared == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if declared == "bool":
        return isinstance(value, bool)
    if isinstance(declared, list) and declared[0] == "list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if isinstance(declared, list) and declared[0] == "map":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    return False


META_ARGUMENTS = {"//", "count", "for_each", "depends_on", "lifecycle", "provider"}


def test_resources_match_the_provider_schema(
    stacks: dict[str, dict[str, Any]], schema: dict[str, Any]
) -> None:
    checked = 0
    for stack in stacks.values():
        for resource_type, resources in stack["resource"].items():
            if resource_type == "terraform_data":
                continue  # Terraform's built-in resource, not the provider's
            attributes = schema["resource_schemas"][resource_type]["block"]["attributes"]
            required = {k for k, a in attributes.items() if a.get("required")}
            for name, body in resources.items():
                given = set(body) - META_ARGUMENTS
                unknown = given - set(attributes)
                assert not unknown, f"{resource_type}.{name}: unknown {sorted(unknown)}"
                settable = {
                    k for k, a in attributes.items() if a.get("optional") or a.get("required")
                }
                read_only = given - settable
                assert not read_only, f"{resource_type}.{name}: read-only {sorted(read_only)}"
                assert required <= given, f"{resource_type}.{name}: missing {required - given}"
                for key in given:
                    assert _schema_type_matches(attributes[key]["type"], body[key]), (name, key)
                checked += 1
        provider_attributes = schema["provider"]["block"]["attributes"]
        for block in stack["provider"]["runpod"]:
            assert set(block) <= set(provider_attributes)
    assert checked == 3


def test_schema_check_notices_an_unknown_attribute(schema: dict[str, Any]) -> None:
    attributes = schema["resource_schemas"]["runpod_pod"]["block"]["attributes"]
    # Names of other RunPod providers' pod resources must not pass as this one's.
    for foreign in ("gpu_type_id", "docker_args", "image", "gpu"):
        assert foreign not in attributes
    assert not _schema_type_matches(["list", "string"], "8000/http")


def test_pod_construct_rejects_bad_static_values() -> None:
    start_jsii_quietly()
    from clusterdash_infra.runpod import RunpodPod, RunpodProvider

    from cdktf import TerraformStack, Testing

    stack = TerraformStack(Testing.app(), "bad")
    good: dict[str, Any] = {
        "name": "p",
        "image_name": "img:1",
        "gpu_type_ids": ["NVIDIA A100-SXM4-80GB"],
        "gpu_count": 1,
        "cloud_type": "SECURE",
        "ports": ["22/tcp"],
        "env": {"A": "1"},
        "container_disk_in_gb": 20,
        "volume_in_gb": 0,
    }
    RunpodPod(stack, "ok", **good)
    cases = {
        "cloud_type": ("SPOT", "cloud_type 'SPOT'"),
        "ports": (["8000"], "port '8000'"),
        "env": ({"BAD-NAME": "x"}, "env name 'BAD-NAME'"),
        "gpu_count": (0, "gpu_count 0"),
        "volume_mount_path": ("workspace", "not absolute"),
    }
    for index, (key, (value, message)) in enumerate(cases.items()):
        with pytest.raises(InfraConfigError, match=re.escape(message)):
            RunpodPod(stack, f"bad{index}", **{**good, key: value})
    with pytest.raises(InfraConfigError, match="never a literal"):
        RunpodProvider(stack, "runpod", api_key="plain-text-key")


def test_settings_become_variable_defaults_in_testing_synth() -> None:
    start_jsii_quietly()
    from clusterdash_infra.stacks import ClusterStack

    from cdktf import Testing

    settings = ClusterSettings(
        cluster_name="lab",
        worker_count=7,
        gpu_count=8,
        data_center_ids=("EU-SE-1",),
    )
    synthesized = json.loads(Testing.synth(ClusterStack(Testing.app(), "lab", settings)))
    variables = synthesized["variable"]
    assert variables["cluster_name"]["default"] == "lab"
    assert variables["worker_count"]["default"] == 7
    assert variables["gpu_count"]["default"] == 8
    assert variables["data_center_ids"]["default"] == ["EU-SE-1"]
    assert synthesized["resource"]["runpod_pod"]["worker"]["count"] == "${var.worker_count}"
