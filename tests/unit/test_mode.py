"""Which cluster is shown: simulated only when asked for or when there is no Slurm at all."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tui.config import ConfigError, load_settings
from tui.mode import Mode, choose_mode, cluster_identity, store_path_for


def _fake_sinfo(directory: Path, script: str = "exit 1") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    sinfo = directory / "sinfo"
    sinfo.write_text(f"#!/bin/sh\n{script}\n")
    sinfo.chmod(sinfo.stat().st_mode | stat.S_IXUSR)
    return directory


@pytest.fixture
def no_slurm_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


def test_no_slurm_at_all_is_simulated_with_a_note(no_slurm_path: Path) -> None:
    choice = choose_mode(load_settings(environ={}), demo_flag=False)
    assert choice.mode == Mode.DEMO
    assert "no Slurm" in choice.note and "\n" not in choice.note


def test_failing_sinfo_on_path_is_the_real_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = _fake_sinfo(tmp_path / "bin", 'echo "Unable to contact slurm controller" >&2; exit 1')
    monkeypatch.setenv("PATH", str(bin_dir))
    choice = choose_mode(load_settings(environ={}), demo_flag=False)
    assert choice.mode == Mode.REAL and choice.note == ""


def test_slow_sinfo_is_never_run_to_choose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "ran"
    bin_dir = _fake_sinfo(tmp_path / "bin", f"touch {marker}; sleep 30")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert choose_mode(load_settings(environ={}), demo_flag=False).mode == Mode.REAL
    assert not marker.exists()


def test_slurm_conf_alone_is_the_real_cluster(
    no_slurm_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(environ={"CLUSTERDASH_SLURM_CONF": str(tmp_path / "slurm.conf")})
    assert choose_mode(settings, demo_flag=False).mode == Mode.REAL
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "slurm.conf"))
    assert choose_mode(load_settings(environ={}), demo_flag=False).mode == Mode.REAL


def test_demo_flag_and_sim_source_are_simulated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(_fake_sinfo(tmp_path / "bin")))
    assert choose_mode(load_settings(environ={}), demo_flag=True).mode == Mode.DEMO
    sim = load_settings(environ={"CLUSTERDASH_GPU_SOURCE": "sim"})
    assert choose_mode(sim, demo_flag=False).mode == Mode.DEMO


def test_slurm_disabled_with_targets_from_environment_is_real(no_slurm_path: Path) -> None:
    settings = load_settings(
        environ={
            "CLUSTERDASH_SLURM_ENABLED": "false",
            "CLUSTERDASH_GPU_TARGETS": "http://127.0.0.1:9/metrics",
        }
    )
    assert choose_mode(settings, demo_flag=False).mode == Mode.REAL


def test_slurm_disabled_with_nothing_to_collect_is_a_config_error(no_slurm_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"slurm\.enabled"):
        choose_mode(load_settings(environ={"CLUSTERDASH_SLURM_ENABLED": "0"}), demo_flag=False)


def test_identity_is_slurm_cluster_name_read_from_the_conf_file(tmp_path: Path) -> None:
    conf = tmp_path / "slurm.conf"
    conf.write_text("# comment\nClusterName=prod-a  # the name\nSlurmctldHost=head\n")
    settings = load_settings(
        environ={"CLUSTERDASH_SLURM_CONF": str(conf), "CLUSTERDASH_CLUSTER_NAME": "shown"}
    )
    assert cluster_identity(settings, Mode.REAL, "shown") == "prod-a"
    assert cluster_identity(settings, Mode.DEMO, "shown") == "simulated"
    named = load_settings(environ={"CLUSTERDASH_CLUSTER_NAME": "lab"})
    assert cluster_identity(named, Mode.REAL, "lab") == "lab"


def test_demo_has_its_own_database_beside_the_real_one(tmp_path: Path) -> None:
    settings = load_settings(environ={"CLUSTERDASH_STORE_PATH": str(tmp_path / "h.sqlite3")})
    assert store_path_for(settings, Mode.REAL) == tmp_path / "h.sqlite3"
    assert store_path_for(settings, Mode.DEMO) == tmp_path / "h-demo.sqlite3"


def test_mode_reads_and_prints_as_the_word_the_logs_and_flags_use() -> None:
    assert Mode("demo") is Mode.DEMO and Mode("slurm") is Mode.REAL
    assert f"{Mode.REAL} mode" == "slurm mode"
