"""Run Slurm's commands the way the operator does: argv lists, SLURM_CONF and PATH honoured.

Every command has a timeout; a hung one is killed and reported in one line
("squeue timed out after 10s"). A missing binary or a failing command raises
SourceError with one line (Slurm's own first stderr line for failures).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from tui.sources.base import SourceError
from tui.text import one_line

DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def error_line(self) -> str:
        """Slurm's own error: the first non-empty stderr line (stdout when stderr is empty)."""
        for text in (self.stderr, self.stdout):
            for line in text.splitlines():
                if line.strip():
                    return one_line(line)
        return f"{self.argv[0]} exited with status {self.returncode}"


class SlurmCli:
    """Finds and runs Slurm client commands with one environment and timeout."""

    def __init__(
        self,
        bin_dir: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir else None
        # None: inherit this process's environment at call time (SLURM_CONF, PATH, ...).
        self.env_overrides = dict(env) if env is not None else {}
        self.timeout_s = timeout_s

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {**os.environ, **self.env_overrides}
        if extra:
            env.update(extra)
        return env

    def resolve(self, name: str, env: Mapping[str, str]) -> str:
        if self.bin_dir is not None:
            candidate = self.bin_dir / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
            raise SourceError(f"{name} not found in {self.bin_dir}")
        found = shutil.which(name, path=env.get("PATH", ""))
        if found is None:
            raise SourceError(f"{name} not found on PATH")
        return found

    async def run(
        self,
        argv: Sequence[str],
        extra_env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandResult:
        """Run argv[0] with its arguments; never a shell. Raises SourceError on timeout."""
        env = self.environment(extra_env)
        executable = self.resolve(argv[0], env)
        limit = self.timeout_s if timeout_s is None else timeout_s
        try:
            process = await asyncio.create_subprocess_exec(
                executable,
                *argv[1:],
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError as error:
            raise SourceError(f"{argv[0]}: cannot run ({one_line(error)})") from None
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), limit)
        except TimeoutError:
            await _kill(process)
            raise SourceError(f"{argv[0]} timed out after {limit:g}s") from None
        except asyncio.CancelledError:
            await _kill(process)
            raise
        finally:
            _close_transport(process)
        result = CommandResult(
            argv=tuple(argv),
            returncode=process.returncode if process.returncode is not None else -1,
            stdout=stdout.decode("utf-8", errors="replace"),
            stderr=stderr.decode("utf-8", errors="replace"),
        )
        if not result.ok:
            logger.debug("{} failed ({}): {}", argv[0], result.returncode, result.error_line())
        return result

    async def output(self, argv: Sequence[str], extra_env: Mapping[str, str] | None = None) -> str:
        """stdout of a command that must succeed; SourceError with Slurm's message otherwise."""
        result = await self.run(argv, extra_env)
        if not result.ok:
            raise SourceError(f"{argv[0]}: {result.error_line()}")
        return result.stdout


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Kill a command and anything it started (it runs in its own session)."""
    if process.returncode is not None:
        return
    try:
        os.killpg(process.pid, 9)
    except (ProcessLookupError, PermissionError):
        process.kill()
    try:
        # Read the pipes to their end too, so the transport closes with the process.
        await asyncio.wait_for(process.communicate(), 5)
    except TimeoutError:
        logger.warning("{} did not exit after SIGKILL", process.pid)


def _close_transport(process: asyncio.subprocess.Process) -> None:
    """Close the finished process's transport now, not from a later garbage collection.

    asyncio closes it with a callback that may never run when the loop stops right after
    (tests, shutdown), and its __del__ then complains "Event loop is closed".
    """
    transport = getattr(process, "_transport", None)
    if transport is not None and process.returncode is not None:
        transport.close()
