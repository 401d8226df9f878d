"""`make synth|plan|apply|destroy`: Node.js and prerequisite checks, then cdktf and terraform.

Every failure before terraform runs is one line on stderr and exit status 2. Secrets are read
from the environment and handed to terraform as TF_VAR_* variables; they are never printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from clusterdash_infra.head_endpoint import RUNPOD_API, HeadNotReady, wait_for_head
from clusterdash_infra.node import NodeError, node_major, quiet_jsii_environment

CDKTF_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = CDKTF_DIR.parent
DEFAULT_OUTDIR = REPO_ROOT / "cdktf.out"
REGISTRY = ("registry.terraform.io", 443)

# Kept here as well as in stacks.py so the checks run without starting Node.js.
STACKS: dict[str, dict[str, str]] = {
    "clusterdash": {
        "runpod_api_key": "RUNPOD_API_KEY",
        "hf_token": "HF_TOKEN",
        "munge_key": "MUNGE_KEY",
        "ssh_public_key": "SSH_PUBLIC_KEY",
        "gateway_htpasswd": "GATEWAY_HTPASSWD",
    },
    "clusterdash-dev": {
        "runpod_api_key": "RUNPOD_API_KEY",
        "hf_token": "HF_TOKEN",
        "munge_key": "MUNGE_KEY",
        "ssh_public_key": "SSH_PUBLIC_KEY",
    },
}
STACK_ALIASES = {"cluster": "clusterdash", "dev": "clusterdash-dev"}
# The output holding the pod `make apply` waits for, per stack.
HEAD_POD_OUTPUT = {"clusterdash": "head_pod_id", "clusterdash-dev": "pod_id"}
OPTIONAL_SECRETS = frozenset({"HF_TOKEN", "GATEWAY_HTPASSWD"})
SECRET_HINTS = {
    "RUNPOD_API_KEY": "create one at https://www.runpod.io/console/user/settings",
    "MUNGE_KEY": "for example: export MUNGE_KEY=$(head -c 1024 /dev/urandom | base64 -w0)",
    "SSH_PUBLIC_KEY": 'for example: export SSH_PUBLIC_KEY="$(cat ~/.ssh/id_ed25519.pub)"',
}


class PreflightError(RuntimeError):
    """A missing prerequisite; the message is one line."""


def resolve_stack(name: str) -> str:
    stack = STACK_ALIASES.get(name, name)
    if stack not in STACKS:
        choices = ", ".join([*STACKS, *STACK_ALIASES])
        raise PreflightError(f"unknown stack {name!r}; choose one of {choices}")
    return stack


def terraform_variables(stack: str, environ: Mapping[str, str]) -> dict[str, str]:
    """TF_VAR_* for the stack's secrets from their environment variables, or PreflightError."""
    env: dict[str, str] = {}
    for variable, source in STACKS[stack].items():
        value = environ.get(f"TF_VAR_{variable}") or environ.get(source, "")
        if not value and source not in OPTIONAL_SECRETS:
            hint = SECRET_HINTS.get(source, "")
            raise PreflightError(
                f"{source} is not set: terraform needs it for {stack}"
                + (f" ({hint})" if hint else "")
            )
        env[f"TF_VAR_{variable}"] = value
    return env


def check_network(address: tuple[str, int] = REGISTRY, timeout: float = 5.0) -> None:
    try:
        with socket.create_connection(address, timeout=timeout):
            pass
    except OSError as exc:
        raise PreflightError(
            f"no network: terraform init must download decentralized-infrastructure/runpod from "
            f"{address[0]}:{address[1]} ({exc.strerror or exc})"
        ) from exc


def terraform_binary() -> str:
    path = shutil.which("terraform")
    if path is None:
        raise PreflightError(
            "terraform not found: install it (https://developer.hashicorp.com/terraform/install)"
        )
    return path


def require_cdktf() -> None:
    try:
        spec = importlib.util.find_spec("cdktf")
    except ImportError:
        spec = None
    if spec is None or spec.origin is None:  # no origin: only the repository's cdktf/ folder
        raise PreflightError("needs the cdktf library: pip install -e '.[infra]' (make synth does)")


def synth(outdir: Path, environ: Mapping[str, str]) -> int:
    require_cdktf()
    major = node_major()
    env = quiet_jsii_environment(environ, major)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CDKTF_DIR), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "clusterdash_infra.synth", str(outdir)], env=env, check=False
    )
    if result.returncode == 0:
        print(f"synthesized {', '.join(STACKS)} into {outdir}/stacks/")
    return result.returncode


def run_terraform(
    command: str,
    stack: str,
    outdir: Path,
    environ: Mapping[str, str],
    registry: tuple[str, int] = REGISTRY,
) -> int:
    variables = terraform_variables(stack, environ)
    terraform = terraform_binary()
    check_network(registry)
    status = synth(outdir, environ)
    if status != 0:
        return status
    workdir = outdir / "stacks" / stack
    env = {**environ, **variables}
    init = [terraform, f"-chdir={workdir}", "init", "-input=false"]
    status = subprocess.run(init, env=env, check=False).returncode
    if status != 0:
        return status
    argv = [terraform, f"-chdir={workdir}", command, "-input=false"]
    status = subprocess.run(argv, env=env, check=False).returncode
    if status == 0 and command == "apply":
        print(f"outputs: terraform -chdir={workdir} output")
        if stack == "clusterdash":
            print(f"dashboard config: clusterdash --from-terraform {workdir}")
        return report_head(terraform, workdir, stack, variables, environ)
    return status


def report_head(
    terraform: str,
    workdir: Path,
    stack: str,
    variables: Mapping[str, str],
    environ: Mapping[str, str],
) -> int:
    """Wait for the applied head pod to be reachable, then print how to open the dashboard."""
    output = subprocess.run(
        [terraform, f"-chdir={workdir}", "output", "-raw", HEAD_POD_OUTPUT[stack]],
        capture_output=True,
        text=True,
        check=False,
    )
    pod_id = output.stdout.strip()
    if output.returncode != 0 or not pod_id:
        print(f"apply: no {HEAD_POD_OUTPUT[stack]} in the outputs", file=sys.stderr)
        return 1
    raw_timeout = environ.get("APPLY_WAIT_SECONDS", "900")
    if not raw_timeout.isdigit():
        print(
            f"apply: APPLY_WAIT_SECONDS={raw_timeout!r} is not a number of seconds", file=sys.stderr
        )
        return 2
    print(f"waiting for pod {pod_id} to be reachable (up to {raw_timeout}s)...", flush=True)
    try:
        endpoint = wait_for_head(
            pod_id,
            variables["TF_VAR_runpod_api_key"],
            api_url=environ.get("RUNPOD_API_URL", RUNPOD_API),
            timeout=float(raw_timeout),
        )
    except HeadNotReady as exc:
        print(f"apply: {exc}", file=sys.stderr)
        return 1
    print(f"ssh: {endpoint.ssh_command()}")
    if stack == "clusterdash":
        print(f"dashboard: {endpoint.dashboard_command()}")
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cdktf/main.py", description=__doc__)
    parser.add_argument("command", choices=["synth", "plan", "apply", "destroy"])
    parser.add_argument("stack", nargs="?", default="clusterdash", help="clusterdash or dev")
    parser.add_argument("--outdir", type=Path, default=DEFAULT_OUTDIR)
    return parser.parse_args(list(argv))


def main(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> int:
    args = parse_args(argv)
    env = dict(os.environ if environ is None else environ)
    try:
        if args.command == "synth":
            return synth(args.outdir, env)
        return run_terraform(args.command, resolve_stack(args.stack), args.outdir, env)
    except (NodeError, PreflightError) as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 2
