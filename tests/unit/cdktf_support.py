"""Shared set-up for the cdktf tests: import path, quiet jsii, one synth of both stacks."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from tests.conftest import need

REPO_ROOT = Path(__file__).resolve().parents[2]
CDKTF_DIR = REPO_ROOT / "cdktf"
SCHEMA_FIXTURE = REPO_ROOT / "tests" / "fixtures" / "runpod_provider_schema.json"
PROVIDER_KEY = "registry.terraform.io/decentralized-infrastructure/runpod"

# Distinct values no synthesized file may contain: set as every way a secret can be supplied.
SECRET_VALUES: dict[str, str] = {
    "RUNPOD_API_KEY": "rpa_SECRETcanary0001",
    "HF_TOKEN": "hf_SECRETcanary0002",
    "MUNGE_KEY": "U0VDUkVUY2FuYXJ5MDAwM211bmdla2V5bXVuZ2VrZXltdW5nZWtleQ==",
    "SSH_PUBLIC_KEY": "ssh-ed25519 AAAASECRETcanary0004 operator@example",
    "GATEWAY_HTPASSWD": "operator:$2y$05$SECRETcanary0005",
}


def use_cdktf_sources() -> None:
    """Make `clusterdash_infra` importable (cdktf/ has no __init__.py on purpose)."""
    if str(CDKTF_DIR) not in sys.path:
        sys.path.insert(0, str(CDKTF_DIR))


def secret_environment() -> dict[str, str]:
    env = dict(SECRET_VALUES)
    env.update({f"TF_VAR_{k}": v for k, v in _tf_names().items()})
    return env


def _tf_names() -> dict[str, str]:
    return {
        "runpod_api_key": SECRET_VALUES["RUNPOD_API_KEY"],
        "hf_token": SECRET_VALUES["HF_TOKEN"],
        "munge_key": SECRET_VALUES["MUNGE_KEY"],
        "ssh_public_key": SECRET_VALUES["SSH_PUBLIC_KEY"],
        "gateway_htpasswd": SECRET_VALUES["GATEWAY_HTPASSWD"],
    }


def start_jsii_quietly() -> None:
    """Skip without Node.js; otherwise set the environment jsii's node process starts with."""
    need(shutil.which("node") is not None, "node not installed: cdktf needs Node.js >= 20")
    use_cdktf_sources()
    from clusterdash_infra.node import node_major, quiet_jsii_environment

    quiet = quiet_jsii_environment(os.environ, node_major())
    for key, value in quiet.items():
        if key.startswith("JSII_"):
            os.environ[key] = value


def synthesize(outdir: Path) -> dict[str, dict[str, Any]]:
    """Both stacks synthesized into outdir: {stack name: cdk.tf.json as a dict}."""
    start_jsii_quietly()
    from clusterdash_infra.stacks import build_app

    build_app(str(outdir)).synth()
    stacks = outdir / "stacks"
    return {d.name: json.loads((d / "cdk.tf.json").read_text()) for d in sorted(stacks.iterdir())}
