"""The dashboard's side of alerting: notifications, the alert screens, ack and silence.

Read-only mode (--readonly) blocks every change, like k9s: not only the cluster's
state but also the team's alert state (acknowledgements, silences, rules), since a
silence mutes the webhooks everyone relies on and a read-only dashboard may be
served to many people.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from loguru import logger
from textual.notifications import SeverityLevel

from tui.actions import current_user
from tui.alerts.engine import Alert, AlertState, Transition
from tui.alerts.rules import Severity
from tui.app.widgets.alert_feed import AlertRow, health_alerts
from tui.model import ClusterSnapshot
from tui.text import one_line

if TYPE_CHECKING:
    from tui.app.app import ClusterDashApp

NOTIFY_SEVERITY: dict[str, SeverityLevel] = {
    Severity.CRITICAL.value: "error",
    Severity.WARNING.value: "warning",
    Severity.INFO.value: "information",
}
# One toast per alert up to this many in one evaluation, then one line for the rest:
# a cluster-wide event (a switch failing) must not bury the screen under toasts.
MAX_TOASTS = 4
READONLY_MESSAGE = "read-only mode: alert {what} is disabled"
T = TypeVar("T")


def alert_key(row: AlertRow) -> tuple[str, str] | None:
    """(rule, target) of a feed row from the alert engine; None for source-health rows."""
    if "|" not in row.key:
        return None
    rule, target = row.key.split("|", 1)
    return rule, target


class AlertsController:
    """Owned by the app; screens and palette entries go through it."""

    def __init__(self, app: ClusterDashApp) -> None:
        self.app = app

    @property
    def service(self) -> Any:
        return self.app.alert_service

    # ------------------------------------------------------------------ the feed

    def rows(self, snapshot: ClusterSnapshot) -> list[AlertRow]:
        """The alert engine's active alerts, plus any source-health problem."""
        rows = health_alerts(snapshot)
        service = self.service
        if service is None:
            return rows
        now = self.app.now()
        for alert in service.active():
            state = str(getattr(alert.state, "value", alert.state))
            if state == "pending":
                continue
            rows.append(
                AlertRow(
                    key=f"{alert.rule}|{alert.target}",
                    severity=str(getattr(alert.severity, "value", alert.severity)),
                    firing=state == "firing",
                    since=alert.fired_at or alert.active_since,
                    target=alert.target,
                    summary=alert.summary,
                    acked=alert.ack_by is not None,
                    silenced=service.is_silenced(alert, now),
                )
            )
        return rows

    # ------------------------------------------------------------------ notifications

    def attach(self) -> None:
        """Subscribe to the alert service (once services exist)."""
        if self.service is not None:
            self.service.add_listener(self.on_transitions)

    def on_transitions(self, transitions: Sequence[Transition]) -> None:
        """Every non-silenced firing or resolved alert: a toast, and the bell if asked for."""
        shown = list(transitions)[:MAX_TOASTS]
        for transition in shown:
            alert = transition.alert
            if alert.state is AlertState.FIRING:
                self.app.notify(
                    alert.summary,
                    title=f"{alert.severity.value.upper()} {alert.rule} firing",
                    severity=NOTIFY_SEVERITY.get(alert.severity.value, "warning"),
                    timeout=10 if alert.severity is Severity.CRITICAL else 6,
                )
            else:
                self.app.notify(alert.summary, title=f"{alert.rule} resolved", timeout=4)
        rest = len(transitions) - len(shown)
        if rest > 0:
            firing = sum(t.alert.state is AlertState.FIRING for t in transitions[len(shown) :])
            self.app.notify(
                f"and {rest} more alert changes ({firing} firing): see the alert feed (3)",
                severity="warning" if firing else "information",
            )
        if self.app.settings.alerts.bell and any(
            t.alert.state is AlertState.FIRING for t in transitions
        ):
            self.app.bell()

    # ------------------------------------------------------------------ screens

    def open_detail(self, row: AlertRow) -> None:
        key = alert_key(row)
        if key is None or self.service is None:
            self.app.notify(
                "source-health problems have no alert detail: the status bar shows the error",
                severity="warning",
            )
            return
        from tui.app.screens.alert_detail import AlertDetailScreen

        self.app.push_screen(AlertDetailScreen(*key), callback=self._screen_closed)

    def open_rules(self) -> None:
        if not self._has_service():
            return
        from tui.app.screens.alert_rules import AlertRulesScreen

        if not isinstance(self.app.screen, AlertRulesScreen):
            self.app.push_screen(AlertRulesScreen(), callback=self._screen_closed)

    def open_silences(self) -> None:
        if not self._has_service():
            return
        from tui.app.screens.silences import SilencesScreen

        if not isinstance(self.app.screen, SilencesScreen):
            self.app.push_screen(SilencesScreen(), callback=self._screen_closed)

    def _screen_closed(self, _: object = None) -> None:
        """Back on the main screen: show what changed (acks, silences, rules) at once."""
        self.app.call_after_refresh(self.app.apply_latest)

    def _has_service(self) -> bool:
        if self.service is None:
            self.app.notify("alerting is not running (no store)", severity="warning")
            return False
        return True

    # ------------------------------------------------------------------ ack and silence

    def allowed(self, what: str) -> bool:
        """False (and says so) in read-only mode."""
        if self.app.readonly:
            self.app.notify(READONLY_MESSAGE.format(what=what), severity="warning")
            return False
        return True

    def selected(self) -> tuple[str, str] | None:
        """The alert on screen: the open detail, else the feed's highlighted row."""
        from tui.app.screens.alert_detail import AlertDetailScreen
        from tui.app.widgets.alert_feed import AlertFeed

        screen = self.app.screen
        if isinstance(screen, AlertDetailScreen):
            return screen.key
        main = self.app.main_screen
        row = main.query_one(AlertFeed).current() if main is not None else None
        return alert_key(row) if row is not None else None

    def find(self, key: tuple[str, str]) -> Alert | None:
        if self.service is None:
            return None
        return next((a for a in self.service.active() if a.key == key), None)

    def ack_selected(self) -> None:
        self._on_selected(self.acknowledge)

    def silence_selected(self) -> None:
        self._on_selected(self.ask_silence)

    def _on_selected(self, then: Callable[[str, str], None]) -> None:
        key = self.selected()
        if key is None:
            self.app.notify("no alert selected (3 focuses the alert feed)", severity="warning")
        else:
            then(*key)

    def acknowledge_row(self, row: AlertRow) -> None:
        key = self._engine_key(row)
        if key is not None:
            self.acknowledge(*key)

    def silence_row(self, row: AlertRow) -> None:
        key = self._engine_key(row)
        if key is not None:
            self.ask_silence(*key)

    def _engine_key(self, row: AlertRow) -> tuple[str, str] | None:
        key = alert_key(row)
        if key is None:
            self.app.notify("source-health problems clear by themselves once the source answers")
        return key

    def acknowledge(self, rule: str, target: str) -> None:
        if self._has_service() and self.allowed("acknowledgement"):
            self.app.run_worker(self._acknowledge(rule, target), group="alerts")

    async def _acknowledge(self, rule: str, target: str) -> None:
        def report(done: bool) -> None:
            if done:
                self.app.notify(f"acknowledged {rule} on {target}")
            else:
                self.app.notify(f"{rule} on {target} is no longer active", severity="warning")

        user = current_user()
        await self._change(
            "acknowledge", lambda: self.service.acknowledge(rule, target, user), report
        )

    def ask_silence(self, rule: str, target: str) -> None:
        if not (self._has_service() and self.allowed("silencing")):
            return
        from tui.app.screens.silences import SilenceDialog

        self.app.push_screen(SilenceDialog(rule, target), callback=self._silence_chosen)

    def _silence_chosen(self, request: Any) -> None:
        if request is None:
            self.app.notify("not silenced", timeout=2)
            return
        self.app.run_worker(self._silence(request), group="alerts")

    async def _silence(self, request: Any) -> None:
        def report(silence: Any) -> None:
            self.app.notify(f"silenced {silence.describe()} for {request.duration_text}")

        def change() -> Awaitable[Any]:
            return self.service.silence(
                rule=request.rule,
                target=request.target,
                duration_s=request.duration_s,
                who=current_user(),
                comment=request.comment,
            )

        await self._change("silence", change, report)

    def lift(self, silence_id: int) -> None:
        if self._has_service() and self.allowed("silence lifting"):
            self.app.run_worker(self._lift(silence_id), group="alerts")

    async def _lift(self, silence_id: int) -> None:
        def report(lifted: bool) -> None:
            if lifted:
                self.app.notify(f"silence {silence_id} lifted")
            else:
                self.app.notify(f"silence {silence_id} had already ended", severity="warning")

        await self._change("lifting silence", lambda: self.service.lift(silence_id), report)

    async def _change(
        self, what: str, change: Callable[[], Awaitable[T]], report: Callable[[T], None]
    ) -> None:
        """One change to the alert state: its outcome, or its failure, in a toast."""
        try:
            outcome = await change()
        except Exception as error:  # shown, never raised
            logger.exception("{} failed", what)
            self.app.notify(f"{what} failed: {one_line(error)}", severity="error")
            return
        report(outcome)
        self._changed()

    def _changed(self) -> None:
        """Alert state changed: the screen showing it redraws."""
        refresh = getattr(self.app.screen, "reload", None)
        if callable(refresh):
            refresh()
        else:
            self.app.apply_latest()
