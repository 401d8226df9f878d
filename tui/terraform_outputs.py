"""`clusterdash --from-terraform DIR`: a config fragment from the cluster stack's outputs.

DIR is a Terraform working directory (cdktf.out/stacks/clusterdash after `make apply`), where
`terraform output -json` runs, or a file holding that command's saved output. The stack's
`clusterdash_config` output is already shaped like config.toml's sections; the
`clusterdash_config_toml` output is the fallback. Errors are TerraformOutputsError with one line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loguru import logger

CONFIG_OUTPUT = "clusterdash_config"
TOML_OUTPUT = "clusterdash_config_toml"
DEFAULT_TIMEOUT = 60.0


class TerraformOutputsError(ValueError):
    """Terraform outputs that cannot be read or hold no clusterdash settings; one-line message."""


def read_terraform_config(
    source: Path | str,
    *,
    terraform: str = "terraform",
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, dict[str, Any]]:
    """Config sections ({"agent": {"base_url": ...}, ...}) from a directory or a saved file."""
    path = Path(source)
    return config_fragment(load_outputs(path, terraform=terraform, timeout=timeout), path)


def load_outputs(
    source: Path, *, terraform: str = "terraform", timeout: float = DEFAULT_TIMEOUT
) -> dict[str, Any]:
    """{output name: value} from `terraform output -json` (run in a directory, or saved)."""
    if source.is_dir():
        text = _run_terraform_output(source, terraform, timeout)
    elif source.is_file():
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TerraformOutputsError(f"cannot read {source}: {exc}") from exc
    else:
        raise TerraformOutputsError(f"{source} does not exist")
    return _parse_outputs(text, source)


def config_fragment(outputs: Mapping[str, Any], source: Path | str = "") -> dict[str, Any]:
    """The clusterdash sections held in the outputs, validated as a table of tables."""
    where = f" in {source}" if source else ""
    if CONFIG_OUTPUT in outputs:
        fragment = outputs[CONFIG_OUTPUT]
    elif TOML_OUTPUT in outputs:
        toml_text = outputs[TOML_OUTPUT]
        if not isinstance(toml_text, str):
            raise TerraformOutputsError(f"output {TOML_OUTPUT}{where} is not a string")
        try:
            fragment = tomllib.loads(toml_text)
        except tomllib.TOMLDecodeError as exc:
            raise TerraformOutputsError(f"output {TOML_OUTPUT}{where} is not TOML: {exc}") from exc
    else:
        raise TerraformOutputsError(
            f"no {CONFIG_OUTPUT} output{where}: is this the clusterdash stack, and has it been "
            "applied?"
        )
    if not isinstance(fragment, dict) or not fragment:
        raise TerraformOutputsError(f"output {CONFIG_OUTPUT}{where} is not a table of sections")
    for section, keys in fragment.items():
        if not isinstance(keys, dict):
            raise TerraformOutputsError(
                f"output {CONFIG_OUTPUT}{where}: section {section!r} is not a table"
            )
    return fragment


def _run_terraform_output(directory: Path, terraform: str, timeout: float) -> str:
    binary = shutil.which(terraform)
    if binary is None:
        raise TerraformOutputsError(
            f"{terraform} not found on PATH (needed to read {directory}); or pass a file saved "
            "with `terraform output -json > outputs.json`"
        )
    argv = [binary, f"-chdir={directory}", "output", "-json", "-no-color"]
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    logger.debug("reading terraform outputs: {}", argv)
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise TerraformOutputsError(
            f"terraform output in {directory} took more than {timeout:g} s"
        ) from exc
    except OSError as exc:
        raise TerraformOutputsError(f"cannot run {binary}: {exc}") from exc
    if result.returncode != 0:
        raise TerraformOutputsError(
            f"terraform output failed in {directory}: {_first_line(result.stderr)}"
        )
    return result.stdout


def _parse_outputs(text: str, source: Path) -> dict[str, Any]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TerraformOutputsError(
            f"{source}: not `terraform output -json` output (line {exc.lineno}: {exc.msg})"
        ) from exc
    if not isinstance(raw, dict):
        raise TerraformOutputsError(f"{source}: not `terraform output -json` output (no object)")
    if not raw:
        raise TerraformOutputsError(f"{source}: no outputs; has the stack been applied?")
    outputs: dict[str, Any] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or "value" not in entry:
            raise TerraformOutputsError(f"{source}: output {name!r} has no value")
        if entry.get("sensitive"):
            continue
        outputs[name] = entry["value"]
    return outputs


def _first_line(text: str) -> str:
    """Terraform's first `Error:` line (its boxes and warnings left out)."""
    lines = [line.strip(" │╷╵\t") for line in text.splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if line.startswith("Error")]
    if errors:
        return errors[0]
    return lines[0] if lines else "no error message"
