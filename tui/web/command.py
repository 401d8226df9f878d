"""`clusterdash serve`: check the bind policy, then serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from tui.config import Settings
from tui.exit_codes import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from tui.mode import Mode
from tui.shutdown import stop_event_on_signals
from tui.web.access import TokenGate, WebConfigError, load_token, require_auth_off_loopback

if TYPE_CHECKING:
    from tui.web.server import WebDashboard

# Seconds a stopping server waits for sessions to end before it stops waiting.
SHUTDOWN_TIMEOUT_S = 10.0


def serve_command(
    settings: Settings,
    host: str,
    port: int,
    allow_actions: bool,
    *,
    mode: Mode,
    token_file: Path | None = None,
    max_sessions: int | None = None,
    from_terraform: Path | None = None,
) -> int:
    """Serve the dashboard to browsers; one line on stderr and exit 2 when it may not start."""
    try:
        from tui.web.server import WebDashboard, WebOptions
        from tui.web.session import session_argv
    except ImportError as error:
        print(
            f"clusterdash: serve needs textual-serve ({error.name} is missing):"
            " pip install 'clusterdash[web]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        if allow_actions and settings.readonly:
            raise WebConfigError("--readonly and --allow-actions contradict each other")
        if not 0 <= port <= 65535:
            raise WebConfigError(f"--port {port} is not a TCP port")
        if max_sessions is not None and not 1 <= max_sessions <= 256:
            raise WebConfigError("--max-sessions must be between 1 and 256")
        token = load_token(token_file, os.environ, settings.web.token_file)
        require_auth_off_loopback(host, token)
    except WebConfigError as error:
        print(f"clusterdash: {error}", file=sys.stderr)
        return EXIT_USAGE
    readonly = not allow_actions
    options = WebOptions(
        argv=tuple(session_argv(settings, mode, readonly, from_terraform)),
        max_sessions=max_sessions or settings.web.max_sessions,
        gate=TokenGate(token) if token else None,
        title=f"clusterdash {settings.cluster.name or socket.gethostname()}",
        readonly=readonly,
    )
    try:
        asyncio.run(_serve(WebDashboard(options), host, port))
    except OSError as error:
        print(
            f"clusterdash: cannot serve on {host}:{port}: {error.strerror or error}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    return EXIT_OK


async def _serve(dashboard: WebDashboard, host: str, port: int) -> None:
    from aiohttp import web

    runner = web.AppRunner(
        dashboard.application(), shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None
    )
    await runner.setup()
    stop = stop_event_on_signals()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        actual_port = runner.addresses[0][1] if runner.addresses else port
        shown = f"[{host}]" if ":" in host else host
        options = dashboard.options
        print(
            f"clusterdash: serving on http://{shown}:{actual_port}/"
            f" ({'read-only' if options.readonly else 'actions allowed'},"
            f" at most {options.max_sessions} sessions,"
            f" {'token required' if options.gate else 'no token: loopback only'})",
            file=sys.stderr,
            flush=True,
        )
        logger.info("web: serving {} on {}:{}", options.argv, host, actual_port)
        await stop.wait()
        logger.info("web: stopping, {} sessions open", len(dashboard.sessions))
    finally:
        await runner.cleanup()
