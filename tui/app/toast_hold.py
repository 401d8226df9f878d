"""Toasts wait while a dialog with buttons is on top, so they never cover its buttons.

Toasts dock at the bottom right, where a dialog's buttons are at 80x24. While such a
dialog is on top, the toasts on screen and any new ones are held; when it closes they
show again (every toast is in the log as it is raised).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.notifications import Notification, SeverityLevel
from textual.screen import Screen

from tui.app.screens.alert_rules import RuleFormScreen
from tui.app.screens.confirm import ConfirmActionScreen
from tui.app.screens.silences import SilenceDialog

DIALOGS: tuple[type[Screen[object]], ...] = (ConfirmActionScreen, SilenceDialog, RuleFormScreen)


def is_dialog(screen: Screen[object] | None) -> bool:
    return isinstance(screen, DIALOGS)


@dataclass(frozen=True)
class HeldToast:
    message: str
    title: str
    severity: SeverityLevel
    timeout: float | None

    @classmethod
    def of(cls, notification: Notification) -> HeldToast:
        return cls(
            notification.message,
            notification.title,
            notification.severity,
            notification.timeout,
        )


@dataclass
class ToastHold:
    """The toasts waiting for the dialog on top to close (the newest `limit` of them)."""

    limit: int
    held: list[HeldToast] = field(default_factory=list)

    def hold(self, toast: HeldToast) -> None:
        self.held = [*self.held, toast][-self.limit :]

    def release(self) -> list[HeldToast]:
        released, self.held = self.held, []
        return released
