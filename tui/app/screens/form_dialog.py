"""What the dialogs with fields share: enter in a field or the submit button submits; escape
or any other button cancels; a late key never closes the screen underneath."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.screen import ModalScreen
from textual.widgets import Button, Input

from tui.app.screens.closing import close_screen

ResultT = TypeVar("ResultT")


class FormDialog(ModalScreen[ResultT | None]):
    SUBMIT_BUTTON: ClassVar[str] = "submit"

    def submit(self) -> None:
        """Check the fields; dismiss with the result, or show what is wrong."""
        raise NotImplementedError

    def action_cancel(self) -> None:
        close_screen(self)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == self.SUBMIT_BUTTON:
            self.submit()
        else:
            self.action_cancel()
