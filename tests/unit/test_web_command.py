"""`clusterdash serve` refuses unsafe starts in one line, and runs the right app per session."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.cli import main
from tui.config import Settings, load_settings
from tui.web.session import session_argv


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_binding_beyond_loopback_without_a_token_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--demo", "serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "without authentication" in _one_line_error(capsys)


def test_a_short_token_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLUSTERDASH_SERVE_TOKEN", "hunter2")
    assert main(["--demo", "serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = _one_line_error(capsys)
    assert "at least 16" in err
    assert "hunter2" not in err


def test_a_missing_token_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    assert main(["--demo", "serve", "--token-file", str(missing)]) == 2
    assert f"token file {missing} does not exist" in _one_line_error(capsys)


def test_readonly_and_allow_actions_together_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--demo", "--readonly", "serve", "--allow-actions"]) == 2
    assert "contradict" in _one_line_error(capsys)


def test_bad_max_sessions_in_config_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[web]\nmax_sessions = 0\n")
    assert main(["--config", str(config), "--demo", "serve"]) == 2
    assert "web.max_sessions" in _one_line_error(capsys)


def test_a_port_in_use_exits_1_in_one_line(
    busy_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--demo", "serve", "--port", str(busy_port)]) == 1
    assert f"cannot serve on 127.0.0.1:{busy_port}" in _one_line_error(capsys)


def test_sessions_run_the_same_cli_read_only_unless_actions_are_allowed(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[demo]\nnodes = 8\nseed = 3\n[web]\nmax_sessions = 2\n")
    settings = load_settings(config)
    assert settings.web.max_sessions == 2
    argv = session_argv(settings, "demo", readonly=True)
    assert argv[:3] == [sys.executable, "-m", "tui.cli"]
    assert argv[3:] == [
        "--config",
        str(config),
        "--demo",
        "--nodes",
        "8",
        "--seed",
        "3",
        "--readonly",
        "tui",
    ]
    acting = session_argv(Settings(), "slurm", readonly=False)
    assert "--readonly" not in acting
    assert "--demo" not in acting
    assert acting[-1] == "tui"
