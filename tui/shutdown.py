"""The stop signal of the commands that run until SIGINT or SIGTERM (collect, sim, serve)."""

from __future__ import annotations

import asyncio
import signal

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_event_on_signals() -> asyncio.Event:
    """An event that SIGTERM or SIGINT sets; the running loop drops the handlers when it closes."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    return stop
