"""`clusterdash collect` in its own process, for tests and benchmarks of attached viewers."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Collect:
    """`clusterdash collect` in its own process, stopped (or killed) on exit."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.env, self.args = env, args
        self.process: subprocess.Popen[str] | None = None
        # A file, not a pipe: a collector must never block on a log nobody reads.
        self.log = tempfile.NamedTemporaryFile("w+", prefix="collect-", suffix=".log")  # noqa: SIM115
        self.socket = Path(env["XDG_RUNTIME_DIR"]) / "clusterdash" / "collect.sock"

    def start(self) -> Collect:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "collect", *self.args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            text=True,
        )
        wait_until(self._serving, 60, "the collector socket")
        return self

    def _serving(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"collect exited: {self.stderr()}")
        return self.socket.exists()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> str:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        return self.stderr()
