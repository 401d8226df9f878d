"""Config: file, environment and flags, in that order; bad values are one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.config import (
    ConfigError,
    config_dir,
    data_dir,
    default_config_path,
    load_settings,
    state_dir,
)
from tui.durations import format_duration, parse_duration


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_file() -> None:
    settings = load_settings(environ={})
    assert settings.gpu.interval == 5.0
    assert settings.slurm.interval == 10.0
    assert settings.store.raw_retention == 3600
    assert settings.store.rollup_retention == 7 * 86400
    assert settings.source_file == ""


def test_xdg_file_then_env_then_flags(tmp_path: Path) -> None:
    write(
        default_config_path(),
        '[gpu]\ninterval = "2s"\nsource = "prometheus"\n[cluster]\nname = "a"\n',
    )
    settings = load_settings(
        environ={"CLUSTERDASH_GPU_INTERVAL": "7s", "CLUSTERDASH_CLUSTER_NAME": "b"},
        overrides={"cluster": {"name": "c"}},
    )
    assert settings.gpu.source == "prometheus"
    assert settings.gpu.interval == 7.0
    assert settings.cluster.name == "c"
    assert settings.source_file == str(default_config_path())


def test_env_lists_and_booleans() -> None:
    settings = load_settings(
        environ={"CLUSTERDASH_GPU_TARGETS": "gpu-01, gpu-02", "CLUSTERDASH_ALERTS_BELL": "yes"}
    )
    assert settings.gpu.targets == ("gpu-01", "gpu-02")
    assert settings.alerts.bell is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[gpu]\nsource = "nvml"\n',
            "config.toml:2: gpu.source must be exporters, prometheus or sim",
        ),
        ('[gpu]\n\ninterval = "soon"\n', "config.toml:3: gpu.interval: 'soon' is not a duration"),
        ("[gpu]\nconcurrency = 1.5\n", "gpu.concurrency: expected an integer"),
        ("[gpu]\ncolour = 1\n", "unknown key gpu.colour"),
        ("[gpus]\nx = 1\n", "unknown section [gpus]"),
        ("[gpu\n", "config.toml: "),
    ],
)
def test_bad_file_is_one_line_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "config.toml", text)
    with pytest.raises(ConfigError) as error:
        load_settings(path, environ={})
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"environment CLUSTERDASH_DEMO_NODES: demo\.nodes"):
        load_settings(environ={"CLUSTERDASH_DEMO_NODES": "many"})


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_api_key_env_is_not_a_setting() -> None:
    settings = load_settings(environ={"CLUSTERDASH_AGENT_API_KEY": "sk-secret"})
    assert "sk-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("1h", 3600), ("7d", 604800), (12, 12)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59.9, "59s"),
        (60, "1m"),
        (3599, "59m"),
        (3660, "1h01m"),
        (90000, "1d01h"),
        (-5, "0s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_a_price_that_is_not_a_finite_number_names_the_key(tmp_path: Path, value: str) -> None:
    path = write(tmp_path / "c.toml", f"[cluster]\ngpu_hourly_price = {value}\n")
    with pytest.raises(ConfigError, match=r"cluster\.gpu_hourly_price.*finite"):
        load_settings(path, environ={})
    with pytest.raises(ConfigError, match=r"CLUSTERDASH_CLUSTER_GPU_HOURLY_PRICE.*finite"):
        load_settings(environ={"CLUSTERDASH_CLUSTER_GPU_HOURLY_PRICE": value})


def test_files_live_in_the_xdg_directories_or_their_home_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "conf"))
    assert default_config_path() == tmp_path / "conf" / "clusterdash" / "config.toml"
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_dir() == tmp_path / ".config" / "clusterdash"
    assert state_dir() == tmp_path / ".local" / "state" / "clusterdash"
    assert data_dir() == tmp_path / ".local" / "share" / "clusterdash"
