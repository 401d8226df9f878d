"""The head node's systemd unit for `clusterdash collect`: valid, its paths the ones used."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from tests.conftest import need_binaries
from tui.config import load_settings

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "containers" / "systemd" / "clusterdash-collect.service"


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file as (key, value) lists; keys such as Environment repeat."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"key outside a section: {line}"
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def service() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in parse_unit(UNIT.read_text(encoding="utf-8"))["Service"]:
        values.setdefault(key, []).append(value)
    return values


def unit_environment() -> dict[str, str]:
    env = {}
    for assignment in service()["Environment"]:
        for word in shlex.split(assignment):
            name, _, value = word.partition("=")
            env[name] = value
    return env


def test_the_unit_runs_clusterdash_collect_as_its_own_user() -> None:
    unit = service()
    argv = shlex.split(unit["ExecStart"][0])
    assert PurePosixPath(argv[0]).name == "clusterdash"
    assert PurePosixPath(argv[0]).is_absolute()
    assert argv[1:] == ["collect"]
    assert unit["User"] == ["clusterdash"] and unit["Group"] == ["clusterdash"]
    assert unit["RuntimeDirectory"] == ["clusterdash"]
    assert unit["StateDirectory"] == ["clusterdash"]


def test_socket_and_database_are_for_the_group_only() -> None:
    unit = service()
    umask = int(unit["UMask"][0], 8)
    assert umask & 0o007 == 0o007, "nothing for other users"
    assert umask & 0o070 == 0, "the operators group may read and connect"
    for key in ("RuntimeDirectoryMode", "StateDirectoryMode"):
        assert int(unit[key][0], 8) & 0o007 == 0


def test_the_collector_reads_the_paths_the_unit_gives_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The unit's environment through the real config loader: keys known, paths as documented."""
    unit = service()
    env = unit_environment()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(environ=env)
    state = Path("/var/lib") / unit["StateDirectory"][0]
    runtime = Path("/run") / unit["RuntimeDirectory"][0]
    logs = Path("/var/log") / unit["LogsDirectory"][0]
    assert settings.store_path == state / "history.sqlite3"
    assert settings.log_path.parent == logs
    assert settings.rules_path == Path("/etc/clusterdash/rules.toml")
    assert Path(settings.collector.socket) == runtime / "collect.sock"
    assert settings.collector.group == unit["Group"][0], "operators in the group may attach"
    assert not any("KEY" in name or "TOKEN" in name for name in env), "secrets stay out of it"


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = need_binaries("systemd-analyze")["systemd-analyze"]
    installed = shutil.which("clusterdash", path=str(Path(sys.executable).parent))
    assert installed, "the clusterdash console script of this environment"
    # verify insists that ExecStart exists: point it at this environment's script.
    text = UNIT.read_text(encoding="utf-8").replace("/usr/local/bin/clusterdash", installed)
    copy = tmp_path / UNIT.name
    copy.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", "systemd warns about the unit"
