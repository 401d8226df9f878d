"""One browser session: the dashboard in its own process, driven over textual-serve's protocol."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from loguru import logger
from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

from tui.config import Settings
from tui.mode import Mode
from tui.web.access import TOKEN_ENV

# A dashboard asked to quit exits in well under a second; past this it is killed.
STOP_GRACE_S = 5.0


def session_argv(
    settings: Settings, mode: Mode, readonly: bool, from_terraform: Path | None = None
) -> list[str]:
    """The command each browser session runs: the same CLI, same config, same cluster."""
    argv = [sys.executable, "-m", "tui.cli"]
    if settings.source_file:
        argv += ["--config", settings.source_file]
    if from_terraform is not None:
        argv += ["--from-terraform", str(from_terraform)]
    if mode == Mode.DEMO:
        argv += ["--demo", "--nodes", str(settings.demo.nodes), "--seed", str(settings.demo.seed)]
    if readonly:
        argv.append("--readonly")
    argv.append("tui")
    return argv


class AppSession(AppService):
    """textual-serve's AppService, started from an argv list rather than a shell string."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        write_bytes: Callable[[bytes], Awaitable[None]],
        write_str: Callable[[str], Awaitable[None]],
        close: Callable[[], Awaitable[object]],
        download_manager: DownloadManager,
    ) -> None:
        super().__init__(
            shlex.join(argv),  # shown in textual-serve's logs only; never run by a shell
            write_bytes=write_bytes,
            write_str=write_str,
            close=close,  # type: ignore[arg-type]
            download_manager=download_manager,
        )
        self.argv = tuple(argv)

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width, height)
        environment.pop(TOKEN_ENV, None)  # the app never needs the gateway's secret
        return environment

    async def _open_app_process(
        self, width: int = 80, height: int = 24
    ) -> asyncio.subprocess.Process:
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._build_environment(width=width, height=height),
        )
        assert process.stdin is not None
        self._stdin = process.stdin
        logger.info("web session {} started app pid {}", self.app_service_id, process.pid)
        return process

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def run(self) -> None:
        await super().run()
        # The app ended (quit, crash): the browser shows "Session ended" instead of a frozen screen.
        await self.remote_close()

    async def stop(self) -> None:
        """Ask the app to quit; kill it if it has not within STOP_GRACE_S. Always reaps it."""
        try:
            await asyncio.wait_for(super().stop(), STOP_GRACE_S)
        except (TimeoutError, ConnectionError) as error:
            logger.warning("web session {} did not quit cleanly: {!r}", self.app_service_id, error)
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await process.wait()
        logger.info("web session {} ended (exit {})", self.app_service_id, process.returncode)
