"""The wheel as a user installs it: built from the sources, installed without extras into a fresh
venv outside the checkout (so the checkout cannot mask a missing file), its commands run.

Needs the package registry pip is configured with (the dependencies are installed for real);
skipped with a reason without it, or failed under CLUSTERDASH_REQUIRE_INTEGRATION=1.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import need
from tests.unit.test_base_install import OPTIONAL_MODULES

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
# What the wheel is built from; the pod image copies the same (containers/Dockerfile).
BUILD_INPUTS = ("pyproject.toml", "README.md", "tui")
UNREACHABLE = ("NewConnectionError", "Failed to establish", "Temporary failure in name resolution")
ANSI = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)")


@dataclass(frozen=True)
class InstalledWheel:
    wheel: Path
    bin: Path
    workdir: Path
    build_log: str

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "clusterdash"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.workdir,
            env=clean_env(),
            check=False,
        )


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["TERM"] = "xterm-256color"
    return env


def _pip(args: list[str], cwd: Path, what: str) -> str:
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=540, cwd=cwd, env=clean_env(), check=False
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        need(
            not any(marker in output for marker in UNREACHABLE),
            f"package registry unreachable ({what})",
        )
        pytest.fail(f"{what} failed:\n{output[-3000:]}", pytrace=False)
    return output


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InstalledWheel]:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        path = REPO / name
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    dist = root / "dist"
    build_log = _pip(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(dist), str(source)],
        root,
        "building the wheel",
    )
    (wheel,) = dist.glob("clusterdash-*.whl")
    shutil.rmtree(source)  # nothing of the sources is left to import from
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    _pip([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], root, "installing the wheel")
    workdir = root / "work"
    workdir.mkdir()
    yield InstalledWheel(wheel, venv / "bin", workdir, build_log)


def project_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]


def test_the_build_has_no_warnings(installed: InstalledWheel) -> None:
    warnings = [
        line
        for line in installed.build_log.splitlines()
        if "Warning" in line or "deprecated" in line.lower()
    ]
    assert warnings == []


def test_the_wheel_carries_every_runtime_file(installed: InstalledWheel) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    runtime_files = [
        path.relative_to(REPO).as_posix()
        for path in (REPO / "tui").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    assert runtime_files
    assert sorted(set(runtime_files) - names) == []


def test_version(installed: InstalledWheel) -> None:
    result = installed.run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"clusterdash {project_version()}"


def test_demo_snapshot_json(installed: InstalledWheel) -> None:
    result = installed.run("snapshot", "--demo", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["demo"] is True
    assert len(data["nodes"]) == 16
    assert all(source["ok"] for source in data["sources"].values())


def test_every_core_module_imports(installed: InstalledWheel) -> None:
    optional = sorted(m for modules in OPTIONAL_MODULES.values() for m in modules)
    code = (
        "import importlib, pkgutil, tui\n"
        f"optional = set({optional!r})\n"
        "names = [m.name for m in pkgutil.walk_packages(tui.__path__, 'tui.')]\n"
        "[importlib.import_module(n) for n in names if n not in optional]\n"
        "print(tui.__file__)\n"
    )
    result = subprocess.run(
        [str(installed.bin / "python"), "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=installed.workdir,
        env=clean_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(installed.bin.parent)


def test_serve_names_its_extra(installed: InstalledWheel) -> None:
    result = installed.run("serve", "--demo")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "pip install 'clusterdash[web]'" in result.stderr


def test_the_dashboard_runs_and_quits(installed: InstalledWheel) -> None:
    """The demo dashboard in a terminal (a pty, as over SSH): paints nodes, runs, quits on q."""
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.chdir(installed.workdir)
        binary = str(installed.bin / "clusterdash")
        os.execve(binary, [binary, "--demo"], clean_env())
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    output = bytearray()

    def read_for(seconds: float, until: bytes | None = None) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    return False
                if not chunk:
                    return False
                output.extend(chunk)
            if until is not None and until in ANSI.sub(b"", bytes(output)):
                return True
        return until is None

    reaped = False
    try:
        assert read_for(60, until=b"gpu-01"), f"no node painted: {bytes(output[-500:])!r}"
        read_for(3)  # a few seconds of refreshes
        os.write(fd, b"q")
        deadline = time.monotonic() + 30
        status = 0
        while time.monotonic() < deadline:
            read_for(0.5)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                reaped = True
                break
        assert reaped and os.WIFEXITED(status), "q did not quit the dashboard"
        assert os.WEXITSTATUS(status) == 0
        assert b"Traceback" not in output
        assert b"DEMO" in ANSI.sub(b"", bytes(output))
    finally:
        if not reaped:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
