"""Python-side checks of the cdktf app: settings validation, Node.js detection, make commands."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.cdktf_support import CDKTF_DIR, REPO_ROOT, SECRET_VALUES, use_cdktf_sources

use_cdktf_sources()

from clusterdash_infra.commands import (  # noqa: E402
    PreflightError,
    resolve_stack,
    run_terraform,
    terraform_variables,
)
from clusterdash_infra.node import NodeError, node_major, quiet_jsii_environment  # noqa: E402
from clusterdash_infra.settings import (  # noqa: E402
    GLOBAL_NETWORKING_DATA_CENTERS,
    ClusterSettings,
    DevSettings,
    InfraConfigError,
)


def test_defaults_are_valid_and_cost_what_they_say() -> None:
    settings = ClusterSettings()
    assert settings.gpu_type_ids == ("NVIDIA A100-SXM4-80GB",)
    assert settings.pod_count == 3
    assert settings.hourly_cost == pytest.approx(3 * 1 * 1.89)
    assert set(settings.data_center_ids) <= set(GLOBAL_NETWORKING_DATA_CENTERS)
    DevSettings()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cloud_type": "SPOT"}, "cloud_type: 'SPOT' must be one of SECURE, COMMUNITY"),
        ({"cloud_type": "COMMUNITY"}, "cloud_type: 'COMMUNITY' has no global networking"),
        ({"data_center_ids": ("US-OR-1",)}, "data_center_ids: 'US-OR-1' has no RunPod global"),
        ({"data_center_ids": ()}, "data_center_ids: at least one data center"),
        ({"worker_count": -1}, "worker_count: -1 must be a whole number from 0 to 1000"),
        ({"worker_count": 1.5}, "worker_count: 1.5 must be a whole number"),
        ({"gpu_count": 9}, "gpu_count: 9 must be a whole number from 1 to 8"),
        ({"cluster_name": "My Cluster"}, "cluster_name: 'My Cluster' must be 1-31 lowercase"),
        ({"gpu_type_ids": ()}, "gpu_type_ids: at least one GPU type"),
        ({"volume_in_gb": -5}, "volume_in_gb: -5 must be a whole number of GB"),
        ({"container_disk_in_gb": 5}, "container_disk_in_gb: 5 must be"),
        ({"image": "my image"}, "image: 'my image' is not a container image reference"),
        ({"head_ports": ("8000/http",)}, "head_ports: 22/tcp must be exposed"),
        ({"worker_ports": ("22/tcp", "22/http")}, "worker_ports: a port is listed twice"),
        ({"worker_ports": ("70000/tcp",)}, "worker_ports: '70000/tcp' is outside 1-65535"),
        ({"gpu_hourly_price": float("nan")}, "gpu_hourly_price: nan must be a price"),
        ({"prometheus_url": "prom:9090"}, "prometheus_url: 'prom:9090' must be empty or"),
    ],
)
def test_bad_cluster_settings_fail_with_one_line_naming_the_key(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(InfraConfigError) as caught:
        ClusterSettings(**change)  # type: ignore[arg-type]
    text = str(caught.value)
    assert text.startswith(message)
    assert "\n" not in text


def test_dev_settings_are_validated_too() -> None:
    with pytest.raises(InfraConfigError, match="cloud_type"):
        DevSettings(cloud_type="ALL")
    with pytest.raises(InfraConfigError, match="ports"):
        DevSettings(ports=("http",))


def test_jsii_environment_silences_only_node_20_end_of_life() -> None:
    quiet = quiet_jsii_environment({"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "18"}, 20)
    assert quiet["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] == "18,20"
    assert quiet_jsii_environment({"PATH": "/bin"}, 22) == {"PATH": "/bin"}


def _fake_node(directory: Path, version: str) -> None:
    node = directory / "node"
    node.write_text(f"#!/bin/sh\necho {version}\n")
    node.chmod(node.stat().st_mode | stat.S_IXUSR)


def test_missing_or_old_node_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NodeError, match=r"Node.js >= 20, none found: install Node.js 20"):
        node_major()
    _fake_node(tmp_path, "v18.19.0")
    with pytest.raises(NodeError, match=r"found v18.19.0"):
        node_major()
    _fake_node(tmp_path, "v22.3.1")
    assert node_major() == 22


def test_stack_names() -> None:
    assert resolve_stack("dev") == "clusterdash-dev"
    assert resolve_stack("clusterdash") == "clusterdash"
    with pytest.raises(PreflightError, match="unknown stack 'prod'"):
        resolve_stack("prod")


def test_secrets_become_tf_vars_and_missing_ones_are_named() -> None:
    env = dict(SECRET_VALUES)
    variables = terraform_variables("clusterdash", env)
    assert variables["TF_VAR_munge_key"] == SECRET_VALUES["MUNGE_KEY"]
    assert variables["TF_VAR_runpod_api_key"] == SECRET_VALUES["RUNPOD_API_KEY"]
    del env["HF_TOKEN"]
    assert terraform_variables("clusterdash", env)["TF_VAR_hf_token"] == ""
    del env["GATEWAY_HTPASSWD"]
    assert terraform_variables("clusterdash", env)["TF_VAR_gateway_htpasswd"] == ""
    assert "TF_VAR_gateway_htpasswd" not in terraform_variables("clusterdash-dev", env)
    del env["MUNGE_KEY"]
    with pytest.raises(PreflightError, match=r"^MUNGE_KEY is not set"):
        terraform_variables("clusterdash", env)
    # The dev pod runs Slurm too: the image refuses to start it without the key.
    with pytest.raises(PreflightError, match=r"^MUNGE_KEY is not set"):
        terraform_variables("clusterdash-dev", env)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_without_network_terraform_commands_stop_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(PreflightError, match=r"^no network: terraform init must download"):
        run_terraform(
            "plan", "clusterdash", tmp_path, SECRET_VALUES, registry=("127.0.0.1", _closed_port())
        )
    assert not (tmp_path / "stacks").exists()


def _run_main(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CDKTF_DIR / "main.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )


def test_plan_without_an_api_key_says_so_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VALUES}
    env = {k: v for k, v in env.items() if not k.startswith("TF_VAR_")}
    for command in ("plan", "apply", "destroy"):
        result = _run_main(command, env=env)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert lines == [
            f"{command}: RUNPOD_API_KEY is not set: terraform needs it for clusterdash "
            "(create one at https://www.runpod.io/console/user/settings)"
        ]


def test_synth_writes_both_stacks_without_the_node_warning(tmp_path: Path) -> None:
    outdir = tmp_path / "cdktf.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JSII_")}
    result = _run_main("synth", "--outdir", str(outdir), env=env)
    assert result.returncode == 0, result.stderr
    assert (outdir / "stacks" / "clusterdash" / "cdk.tf.json").is_file()
    assert (outdir / "stacks" / "clusterdash-dev" / "cdk.tf.json").is_file()
    assert "end-of-life" not in result.stderr
    assert "!!" not in result.stderr


def test_synth_without_node_says_how_to_get_it(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}
    result = _run_main("synth", "--outdir", str(tmp_path / "out"), env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "synth: cdktf needs Node.js >= 20, none found: install Node.js 20 or newer "
        "(https://nodejs.org, or `asdf install` with the repository's .tool-versions) and make "
        "sure `node` is on PATH"
    ]
    assert not (tmp_path / "out").exists()
