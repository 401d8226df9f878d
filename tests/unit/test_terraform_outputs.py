"""Reading `terraform output -json` into a clusterdash config fragment, and its errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tui.terraform_outputs import TerraformOutputsError, config_fragment, read_terraform_config

FRAGMENT: dict[str, Any] = {
    "cluster": {"name": "lab", "gpu_hourly_price": 1.89},
    "slurm": {"enabled": True},
    "gpu": {"source": "exporters", "targets": ["http://h.runpod.internal:9400/metrics"]},
    "prometheus": {"url": ""},
    "agent": {"base_url": "http://h.runpod.internal:8000/v1", "log_url": "http://h:8002"},
}
TOML = """[cluster]
name = "lab"
gpu_hourly_price = 1.8900

[agent]
base_url = "http://h.runpod.internal:8000/v1"
"""


def _saved(
    tmp_path: Path, outputs: dict[str, Any], sensitive: frozenset[str] = frozenset()
) -> Path:
    path = tmp_path / "outputs.json"
    raw = {
        name: {"sensitive": name in sensitive, "type": "dynamic", "value": value}
        for name, value in outputs.items()
    }
    path.write_text(json.dumps(raw))
    return path


def test_config_output_is_returned_as_sections(tmp_path: Path) -> None:
    path = _saved(tmp_path, {"clusterdash_config": FRAGMENT, "head_pod_id": "h"})
    assert read_terraform_config(path) == FRAGMENT


def test_toml_output_is_the_fallback(tmp_path: Path) -> None:
    path = _saved(tmp_path, {"clusterdash_config_toml": TOML})
    fragment = read_terraform_config(path)
    assert fragment["cluster"] == {"name": "lab", "gpu_hourly_price": 1.89}
    assert fragment["agent"]["base_url"] == "http://h.runpod.internal:8000/v1"


def test_sensitive_outputs_are_never_used(tmp_path: Path) -> None:
    path = _saved(tmp_path, {"clusterdash_config": FRAGMENT}, frozenset({"clusterdash_config"}))
    with pytest.raises(TerraformOutputsError, match="no clusterdash_config output"):
        read_terraform_config(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"not `terraform output -json` output \(line 1"),
        ("[]", r"not `terraform output -json` output \(no object\)"),
        ("{}", "no outputs; has the stack been applied?"),
        ('{"x": 1}', "output 'x' has no value"),
        ('{"head_pod_id": {"value": "h"}}', "no clusterdash_config output in .*outputs.json"),
        ('{"clusterdash_config": {"value": {"agent": "x"}}}', "section 'agent' is not a table"),
        ('{"clusterdash_config": {"value": []}}', "is not a table of sections"),
        ('{"clusterdash_config_toml": {"value": "[agent"}}', "is not TOML"),
        ('{"clusterdash_config_toml": {"value": 3}}', "is not a string"),
    ],
)
def test_bad_outputs_give_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(content)
    with pytest.raises(TerraformOutputsError, match=message) as caught:
        read_terraform_config(path)
    assert "\n" not in str(caught.value)


def test_missing_source_and_missing_terraform(tmp_path: Path) -> None:
    with pytest.raises(TerraformOutputsError, match="does not exist"):
        read_terraform_config(tmp_path / "nowhere")
    with pytest.raises(TerraformOutputsError, match="no-such-terraform not found on PATH"):
        read_terraform_config(tmp_path, terraform="no-such-terraform")


def test_undecodable_file(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TerraformOutputsError, match="cannot read"):
        read_terraform_config(path)


def test_config_fragment_works_on_plain_values() -> None:
    assert config_fragment({"clusterdash_config": FRAGMENT}) == FRAGMENT


def test_terraform_directory_errors_are_one_line(tmp_path: Path) -> None:
    if shutil.which("terraform") is None:
        pytest.skip("terraform not installed")
    with pytest.raises(TerraformOutputsError, match="no outputs; has the stack been applied"):
        read_terraform_config(tmp_path)
    (tmp_path / "terraform.tfstate").write_text("{garbage")
    with pytest.raises(TerraformOutputsError) as caught:
        read_terraform_config(tmp_path)
    assert str(caught.value) == (
        f"terraform output failed in {tmp_path}: Error: Unsupported state file format"
    )
