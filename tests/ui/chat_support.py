"""The app with its chat pane wired to a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from tests.agent_server import MODEL, Script, ScriptedServer
from tests.ui.conftest import make_app
from tui.app.app import ClusterDashApp
from tui.app.widgets.chat_input import ChatInput
from tui.app.widgets.chat_pane import ChatPane
from tui.app.widgets.chat_transcript import Transcript
from tui.config import AgentSettings, Settings

SIZE = (200, 50)


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not met in time")


@dataclass
class Chat:
    app: ClusterDashApp
    pilot: Pilot[Any]
    pane: ChatPane
    server: ScriptedServer | None

    @property
    def transcript(self) -> Transcript:
        return self.pane.query_one(Transcript)

    @property
    def input(self) -> ChatInput:
        return self.pane.query_one(ChatInput)

    def text(self) -> str:
        return self.transcript.plain_text()

    async def ask(self, question: str) -> None:
        """Focus the chat (key 4), type the question and press enter."""
        await self.pilot.press("4")
        self.input.text = question
        await self.pilot.press("enter")

    async def settle(self) -> None:
        await wait_for(self.pilot, lambda: not self.pane.busy)
        await self.pilot.pause()


@asynccontextmanager
async def chat_app(
    tmp_path: Path,
    script: Script | None,
    *,
    readonly: bool = False,
    holder: dict[str, Any] | None = None,
) -> AsyncIterator[Chat]:
    """The app on the fake cluster; with a model server when `script` is given."""
    if script is None:
        app = make_app(tmp_path, holder=holder, readonly=readonly)
        async with app.run_test(size=SIZE) as pilot:
            pane = app.screen.query_one(ChatPane)
            await wait_for(pilot, lambda: pane.context is not None)
            yield Chat(app, pilot, pane, None)
        return
    with ScriptedServer(script) as server:
        settings = replace(Settings(), agent=AgentSettings(base_url=server.base_url, model=MODEL))
        app = make_app(tmp_path, holder=holder, settings=settings, readonly=readonly)
        async with app.run_test(size=SIZE) as pilot:
            pane = app.screen.query_one(ChatPane)
            await wait_for(pilot, lambda: pane.session is not None)
            yield Chat(app, pilot, pane, server)


def tool_messages(request: dict[str, Any]) -> list[str]:
    """The tool results the model was sent in one request."""
    return [str(m.get("content")) for m in request["messages"] if m.get("role") == "tool"]
