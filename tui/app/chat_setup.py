"""The assistant in the chat pane, built once services exist and off the UI loop.

openai's imports take about 0.8 s: they run in a thread, so the first paint is not held.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.app.app import ClusterDashApp

AGENT_HOST = "tui.app.agent_host"


class ChatSetup:
    """Owned by the app: configures the main screen's chat pane."""

    def __init__(self, app: ClusterDashApp) -> None:
        self.app = app

    def start(self) -> None:
        self.app.run_worker(self._configure(), group="chat-setup")

    async def _configure(self) -> None:
        await asyncio.to_thread(importlib.import_module, AGENT_HOST)
        from tui.app.agent_host import build_chat  # imported above, in the thread

        main = self.app.main_screen
        if main is None or self.app.services is None:
            return
        context, session = build_chat(self.app)
        main.chat.configure(context, session)
