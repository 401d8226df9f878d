"""A bug in one handler becomes a status-bar line and a log entry, not a dead dashboard.

Textual stops a widget's message loop (and exits the app) when a handler raises. The
app, its screens and the busiest widgets dispatch through ContainedErrors, which hands
the exception to the app's `contain_error` (see ClusterDashApp) and keeps going.
"""

from __future__ import annotations

from asyncio import CancelledError
from typing import Protocol, runtime_checkable

from textual.message import Message
from textual.message_pump import MessagePump


@runtime_checkable
class ErrorContainer(Protocol):
    def contain_error(self, error: Exception) -> bool:
        """True when the error was shown and logged; False to let Textual handle it."""
        ...


class ContainedErrors(MessagePump):
    async def _dispatch_message(self, message: Message) -> None:
        try:
            await super()._dispatch_message(message)
        except CancelledError:
            raise
        except Exception as error:
            app = self.app
            if not (isinstance(app, ErrorContainer) and app.contain_error(error)):
                raise
