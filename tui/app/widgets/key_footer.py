"""The footer of keys, rebuilt once per burst of binding changes."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """Textual's Footer rebuilds every key (a widget each) on every binding change: a screen
    opening changes its stack, its focus and the app's focus in one burst, three rebuilds of
    the same keys. This one schedules a rebuild only when none is waiting; the one that runs
    reads the bindings as they are by then."""

    _rebuild_waiting = False

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or self._rebuild_waiting:
            return
        if self.is_attached and screen is self.screen:
            self._rebuild_waiting = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_waiting = False
        await self.recompose()
