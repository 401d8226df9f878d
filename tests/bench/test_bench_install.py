"""A new user's first minute: `make run` on a clean clone to the demo's first painted frame.

The clone is of the committed HEAD; pip's cache is whatever this machine has (warm in CI).
No target: the figure goes in the README.
"""

from __future__ import annotations

import os
import pty
import resource
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import need

pytestmark = [pytest.mark.bench, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]


def _run_in_terminal(argv: list[str], cwd: Path, env: dict[str, str], until: bytes) -> float:
    """Seconds from starting argv in a pty until `until` appears in its output."""
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.chdir(cwd)
        os.execvpe(argv[0], argv, env)
    output = b""
    seen_at = None
    deadline = time.monotonic() + 840
    try:
        while time.monotonic() < deadline and seen_at is None:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if until in output:
                seen_at = time.perf_counter()
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert seen_at is not None, f"no {until!r}; exit {status}, output tail: {output[-800:]!r}"
    return seen_at - started


def test_install_to_first_frame(tmp_path: Path) -> None:
    need(shutil.which("git") is not None and shutil.which("make") is not None, "git and make")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(CLUSTERDASH_EXIT_AFTER_FIRST_PAINT="1", TERM="xterm-256color")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = _run_in_terminal(["make", "run", "ARGS=--demo"], clone, env, b"FIRST_PAINT")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    venv = clone / ".venv"
    packages = len(list(venv.glob("lib/python*/site-packages/*.dist-info")))
    size_mb = sum(p.stat().st_size for p in venv.rglob("*") if p.is_file()) / 1e6
    print(
        f"BENCH install_to_first_frame_s {seconds:.1f} s "
        f"(cpu {cpu:.1f} s, {packages} packages, {size_mb:.0f} MB)"
    )
