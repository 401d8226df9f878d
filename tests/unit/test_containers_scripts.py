"""The pod's entry scripts, run for real with bash (daemons they would exec are stand-ins)."""

from __future__ import annotations

import base64
import os
import pwd
import secrets
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "containers" / "scripts"
KEY = secrets.token_bytes(1024)


def bash(
    script: str, env: dict[str, str], *args: str, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / script), *args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def lib_call(snippet: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f'set -euo pipefail; source "{SCRIPTS / "lib.sh"}"; {snippet}'],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_entrypoint_refuses_to_start_without_the_munge_key(tmp_path: Path) -> None:
    key_file = tmp_path / "munge" / "munge.key"
    result = bash("entrypoint.sh", {"NODE_ROLE": "head", "MUNGE_KEY_FILE": str(key_file)})

    assert result.returncode == 1
    assert "MUNGE_KEY_B64 is not set: refusing to start Slurm" in last_line(result)
    assert not key_file.exists()


@pytest.mark.parametrize("role", ["", "controller", "head;id"])
def test_entrypoint_names_a_bad_role(role: str) -> None:
    result = bash("entrypoint.sh", {"NODE_ROLE": role, "MUNGE_KEY_B64": "x"})
    assert result.returncode == 1
    assert f"NODE_ROLE must be 'head' or 'worker' (got '{role}')" in last_line(result)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("%%%not-base64%%%", "MUNGE_KEY_B64 is not valid base64"),
        (base64.b64encode(b"short").decode(), "decodes to fewer than 32 bytes"),
    ],
)
def test_a_bad_munge_key_is_refused(tmp_path: Path, value: str, message: str) -> None:
    key_file = tmp_path / "munge.key"
    result = bash(
        "entrypoint.sh",
        {"NODE_ROLE": "worker", "MUNGE_KEY_B64": value, "MUNGE_KEY_FILE": str(key_file)},
    )
    assert result.returncode == 1
    assert message in last_line(result)
    assert list(tmp_path.iterdir()) == []


def test_munge_key_is_installed_read_only_and_dropped_from_the_environment(
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "etc" / "munge.key"
    env = {"MUNGE_KEY_B64": base64.b64encode(KEY).decode()}
    snippet = f'install_munge_key "{key_file}"; echo "left:${{MUNGE_KEY_B64:-}}"'

    first = lib_call(snippet, env)
    second = lib_call(snippet, env)  # a restarted pod installs it again

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert first.stdout == "left:\n"
    assert key_file.read_bytes() == KEY
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o400
    assert sorted(path.name for path in key_file.parent.iterdir()) == ["munge.key"]


def test_wait_for_tcp_returns_once_the_port_answers(listener: int) -> None:
    result = lib_call(f"wait_for_tcp 127.0.0.1 {listener} 5; echo reached", {})
    assert result.stdout == "reached\n"


def test_worker_gives_up_on_an_absent_head_after_its_bound(tmp_path: Path) -> None:
    port = closed_port()
    started = time.monotonic()
    result = bash(
        "start-worker.sh",
        {"SLURM_HEAD_HOST": "127.0.0.1", "SLURMCTLD_PORT": str(port), "HEAD_WAIT_SECONDS": "2"},
    )
    assert result.returncode == 1
    assert f"127.0.0.1:{port} did not accept connections within 2s" in last_line(result)
    assert time.monotonic() - started < 10


def test_worker_needs_to_know_its_head() -> None:
    result = bash("start-worker.sh", {})
    assert result.returncode == 1
    assert "SLURM_HEAD_HOST is not set" in last_line(result)


@pytest.fixture
def fake_vllm(tmp_path: Path) -> Path:
    """A stand-in for the vllm executable that records the argv it was given."""
    stub = tmp_path / "vllm"
    stub.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$(dirname "$0")/argv"\n')
    stub.chmod(0o755)
    return stub


def test_vllm_starts_with_the_assistant_flags(tmp_path: Path, fake_vllm: Path) -> None:
    plugin = tmp_path / "nano_v3_reasoning_parser.py"
    plugin.write_text("# parser\n")
    log_file = tmp_path / "log" / "vllm.log"
    result = bash(
        "start-vllm.sh",
        {
            "VLLM_BIN": str(fake_vllm),
            "VLLM_LOG_FILE": str(log_file),
            "VLLM_REASONING_PARSER_PLUGIN": str(plugin),
        },
    )
    assert result.returncode == 0, result.stderr
    argv = (tmp_path / "argv").read_text().splitlines()

    assert argv[:2] == ["serve", "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"]
    joined = " ".join(argv)
    assert "--port 8000" in joined
    # The original system's settings: room for the KV cache beside 63 GB of weights on 80 GB.
    assert "--max-model-len 32768" in joined
    assert "--max-num-seqs 4" in joined
    assert "--enable-auto-tool-choice --tool-call-parser qwen3_coder" in joined
    assert f"--reasoning-parser-plugin {plugin}" in joined
    assert "--reasoning-parser nano_v3" in joined
    assert log_file.parent.is_dir()


def test_vllm_with_a_builtin_parser_needs_no_plugin(tmp_path: Path, fake_vllm: Path) -> None:
    result = bash(
        "start-vllm.sh",
        {
            "VLLM_BIN": str(fake_vllm),
            "VLLM_LOG_FILE": str(tmp_path / "vllm.log"),
            "VLLM_REASONING_PARSER_PLUGIN": "builtin",
        },
    )
    assert result.returncode == 0, result.stderr
    argv = (tmp_path / "argv").read_text().splitlines()
    assert "--reasoning-parser-plugin" not in argv
    assert argv[-2:] == ["--reasoning-parser", "nano_v3"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VLLM_PORT": "80; id"}, "VLLM_PORT='80; id' is not a port number"),
        ({"VLLM_REASONING_PARSER_PLUGIN": "/nowhere.py"}, "/nowhere.py does not exist"),
        ({"VLLM_BIN": "/nowhere/vllm"}, "vLLM is not installed at /nowhere/vllm"),
    ],
)
def test_vllm_bad_settings_are_named(
    tmp_path: Path, fake_vllm: Path, env: dict[str, str], message: str
) -> None:
    result = bash(
        "start-vllm.sh",
        {"VLLM_BIN": str(fake_vllm), "VLLM_LOG_FILE": str(tmp_path / "v.log")} | env,
    )
    assert result.returncode == 1
    assert message in last_line(result)
    assert not (tmp_path / "argv").exists()


def test_munge_key_is_handed_to_the_munge_user(tmp_path: Path) -> None:
    try:
        munge_uid = pwd.getpwnam("munge").pw_uid
    except KeyError:
        pytest.skip("no munge user on this machine")
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    key_file = tmp_path / "munge.key"
    env = {"MUNGE_KEY_B64": base64.b64encode(KEY).decode(), "MUNGE_USER": "munge"}

    result = lib_call(f'install_munge_key "{key_file}"', env)

    assert result.returncode == 0, result.stderr
    assert key_file.stat().st_uid == munge_uid
