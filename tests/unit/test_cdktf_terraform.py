"""The synthesized configuration evaluated by the real terraform binary, offline.

The runpod provider cannot be installed without network, so the cluster stack's variables,
locals and outputs are kept verbatim and its two pods are replaced by Terraform's built-in
`terraform_data` holding what RunPod would report (id, public_ip, cost_per_hr) and the workers'
synthesized env. `terraform apply` then computes every output from the real expressions, and
`terraform plan` exercises every variable's validation block.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.unit.cdktf_support import SECRET_VALUES, synthesize
from tui.terraform_outputs import load_outputs, read_terraform_config

HEAD_ID = "headpod01"
HEAD_IP = "203.0.113.10"
WORKERS = 2


def _terraform() -> str:
    path = shutil.which("terraform")
    if path is None:
        pytest.skip("terraform not installed: offline evaluation of the stack skipped")
    return path


def _offline_config(cluster: dict[str, Any]) -> dict[str, Any]:
    def stand_in(value: Any) -> Any:
        text = json.dumps(value)
        text = text.replace("runpod_pod.head.", "terraform_data.head.output.")
        text = text.replace("runpod_pod.worker[*].", "terraform_data.worker[*].output.")
        return json.loads(text)

    config = stand_in({k: cluster[k] for k in ("variable", "locals", "output")})
    worker_env = stand_in(cluster["resource"]["runpod_pod"]["worker"]["env"])
    config["resource"] = {
        "terraform_data": {
            "head": {"input": {"id": HEAD_ID, "public_ip": HEAD_IP, "cost_per_hr": 1.89}},
            "worker": {
                "count": cluster["resource"]["runpod_pod"]["worker"]["count"],
                "input": {
                    "id": "workerpod${count.index}",
                    "public_ip": "",
                    "cost_per_hr": 1.89,
                    "env": worker_env,
                },
            },
        }
    }
    config["output"]["test_worker_head_address"] = {
        "value": "${nonsensitive(terraform_data.worker[0].output.env.SLURM_HEAD_HOST)}"
    }
    return config


def _secret_vars() -> list[str]:
    names = {
        "runpod_api_key": "RUNPOD_API_KEY",
        "hf_token": "HF_TOKEN",
        "munge_key": "MUNGE_KEY",
        "ssh_public_key": "SSH_PUBLIC_KEY",
    }
    return [f"-var={var}={SECRET_VALUES[env]}" for var, env in names.items()]


def _run(terraform: str, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    return subprocess.run(
        [terraform, f"-chdir={workdir}", *args, "-no-color"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    terraform = _terraform()
    stacks = synthesize(tmp_path_factory.mktemp("cdktf.out"))
    workdir = tmp_path_factory.mktemp("offline")
    (workdir / "main.tf.json").write_text(json.dumps(_offline_config(stacks["clusterdash"])))
    init = _run(terraform, workdir, "init", "-input=false", "-backend=false")
    assert init.returncode == 0, init.stderr
    apply = _run(
        terraform,
        workdir,
        "apply",
        "-input=false",
        "-auto-approve",
        f"-var=worker_count={WORKERS}",
        *_secret_vars(),
    )
    assert apply.returncode == 0, apply.stderr
    for value in SECRET_VALUES.values():
        assert value not in apply.stdout
    return workdir


def test_outputs_evaluate_to_the_cluster_addresses(applied: Path) -> None:
    outputs = load_outputs(applied)
    head = f"{HEAD_ID}.runpod.internal"
    assert outputs["head_pod_id"] == HEAD_ID
    assert outputs["head_address"] == head
    assert outputs["worker_pod_ids"] == ["workerpod0", "workerpod1"]
    assert outputs["worker_addresses"] == [
        "workerpod0.runpod.internal",
        "workerpod1.runpod.internal",
    ]
    assert outputs["ssh_commands"] == {
        "head": f"ssh root@{HEAD_IP}",
        "workers": [
            f"ssh -J root@{HEAD_IP} root@workerpod0.runpod.internal",
            f"ssh -J root@{HEAD_IP} root@workerpod1.runpod.internal",
        ],
    }
    assert outputs["hourly_cost_usd"] == pytest.approx((WORKERS + 1) * 1 * 1.89)
    assert outputs["reported_hourly_cost_usd"] == pytest.approx((WORKERS + 1) * 1.89)
    assert outputs["dashboard_command"] == f"ssh -t root@{HEAD_IP} clusterdash"


def test_workers_env_holds_the_head_address(applied: Path) -> None:
    assert load_outputs(applied)["test_worker_head_address"] == f"{HEAD_ID}.runpod.internal"


def test_from_terraform_reads_a_config_fragment_that_matches_the_toml(applied: Path) -> None:
    fragment = read_terraform_config(applied)
    head = f"{HEAD_ID}.runpod.internal"
    assert fragment["agent"] == {
        "base_url": f"http://{head}:8000/v1",
        "log_url": f"http://{head}:8002",
    }
    assert fragment["gpu"]["targets"] == [
        f"http://{head}:9400/metrics",
        "http://workerpod0.runpod.internal:9400/metrics",
        "http://workerpod1.runpod.internal:9400/metrics",
    ]
    assert fragment["cluster"]["name"] == "clusterdash"
    assert fragment["slurm"] == {"enabled": True}
    toml_text = load_outputs(applied)["clusterdash_config_toml"]
    assert tomllib.loads(toml_text) == fragment


def test_saved_output_file_gives_the_same_fragment(applied: Path, tmp_path: Path) -> None:
    saved = _run(_terraform(), applied, "output", "-json")
    assert saved.returncode == 0, saved.stderr
    path = tmp_path / "outputs.json"
    path.write_text(saved.stdout)
    assert read_terraform_config(path) == read_terraform_config(applied)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("cloud_type", "SPOT", "cloud_type must be SECURE:"),
        ("cloud_type", "COMMUNITY", "which RunPod offers on Secure Cloud only."),
        ("data_center_ids", '["US-OR-1"]', "global networking"),
        ("worker_count", "-1", "worker_count must be a whole number from 0 to 1000."),
        ("gpu_count", "0", "gpu_count must be a whole number from 1 to 8."),
        ("head_ports", '["8000"]', "head_ports entries must look like 8000/http"),
        ("cluster_name", "Bad Name", "cluster_name must be 1-31 lowercase"),
        ("munge_key", "short", "munge_key must be a base64-encoded key"),
        ("ssh_public_key", "not-a-key", "ssh_public_key must be an OpenSSH public key"),
        ("gateway_htpasswd", "no-colon-here", "gateway_htpasswd must be one htpasswd line"),
    ],
)
def test_terraform_rejects_bad_variables(
    applied: Path, variable: str, value: str, message: str
) -> None:
    args = [a for a in _secret_vars() if not a.startswith(f"-var={variable}=")]
    result = _run(
        _terraform(),
        applied,
        "plan",
        "-input=false",
        "-lock=false",
        "-refresh=false",
        *args,
        f"-var={variable}={value}",
    )
    assert result.returncode != 0
    assert "Invalid value for variable" in result.stderr
    assert message in " ".join(result.stderr.split())


def test_changing_what_runpod_cannot_update_replaces_the_pod(tmp_path: Path) -> None:
    """The pods' lifecycle, evaluated by terraform: a new GPU count plans a replacement."""
    terraform = _terraform()
    cluster = synthesize(tmp_path / "cdktf.out")["clusterdash"]
    shape = cluster["resource"]["terraform_data"]["pod_shape"]
    head = cluster["resource"]["runpod_pod"]["head"]
    names = ("gpu_count", "gpu_type_ids", "cloud_type", "data_center_ids")
    config = {
        "variable": {name: cluster["variable"][name] for name in names},
        "resource": {
            "terraform_data": {
                "pod_shape": {"input": shape["input"]},
                "head": {"input": "head pod", "lifecycle": head["lifecycle"]},
            }
        },
    }
    workdir = tmp_path / "lifecycle"
    workdir.mkdir()
    (workdir / "main.tf.json").write_text(json.dumps(config))
    assert _run(terraform, workdir, "init", "-input=false", "-backend=false").returncode == 0
    apply = _run(terraform, workdir, "apply", "-input=false", "-auto-approve")
    assert apply.returncode == 0, apply.stderr

    same = _run(terraform, workdir, "plan", "-input=false", "-detailed-exitcode")
    changed = _run(terraform, workdir, "plan", "-input=false", "-var=gpu_count=2")

    assert same.returncode == 0, same.stdout + same.stderr  # nothing to do
    assert "terraform_data.head will be replaced due to changes in replace_triggered_by" in (
        changed.stdout
    ), changed.stdout
