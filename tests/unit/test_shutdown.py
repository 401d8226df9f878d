"""A long-running command stops when the service manager or the user says so."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from tui.shutdown import stop_event_on_signals


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_sigterm_and_sigint_set_the_stop_event(signum: signal.Signals) -> None:
    stop = stop_event_on_signals()
    assert not stop.is_set()
    os.kill(os.getpid(), signum)
    await asyncio.wait_for(stop.wait(), timeout=10)
    for each in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().remove_signal_handler(each)
