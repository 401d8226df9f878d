"""Alerting as one service: evaluate each snapshot, persist, notify; ack and silence.

Subscribed to the collector; the TUI and `clusterdash collect` both use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from loguru import logger

from tui.alerts.engine import Alert, AlertEngine, AlertState, Transition
from tui.alerts.notifiers import WebhookNotifier
from tui.alerts.persistence import AlertEvent, AlertRepository, Silence
from tui.model import ClusterSnapshot
from tui.store import StoreError
from tui.text import one_line

Listener = Callable[[Sequence[Transition]], None]


@dataclass(frozen=True, slots=True)
class AlertsOverview:
    """What the assistant's alerts tool reads: alerts active now, recent events oldest first."""

    active: Sequence[Alert]
    history: Sequence[AlertEvent]


class AlertService:
    def __init__(
        self,
        engine: AlertEngine,
        repository: AlertRepository | None = None,
        notifiers: Sequence[WebhookNotifier] = (),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.repository = repository
        self.notifiers = list(notifiers)
        self._clock = clock
        self._silences: list[Silence] = []
        self._listeners: list[Listener] = []
        # Why the last write of alert state failed; None while it is written.
        self.persist_error: str | None = None

    def add_listener(self, listener: Listener) -> None:
        """Called with every firing/resolved transition that is not silenced (TUI, bell)."""
        self._listeners.append(listener)

    async def start(self) -> None:
        if self.repository is not None:
            self.engine.restore(await self.repository.load_active())
            self._silences = await self.repository.active_silences(self._clock())

    async def on_snapshot(self, snapshot: ClusterSnapshot) -> list[Transition]:
        now = snapshot.taken_at
        transitions = self.engine.evaluate(snapshot, now=now)
        if self.repository is not None and (transitions or self.engine.held):
            await self._persist(self.repository, transitions)
        loud = [
            t
            for t in transitions
            if t.alert.state is not AlertState.PENDING and not self.is_silenced(t.alert, now)
        ]
        if loud:
            for notifier in self.notifiers:
                notifier.submit(loud)
            for listener in list(self._listeners):
                try:
                    listener(loud)
                except Exception:  # a listener must not stop alerting
                    logger.exception("alert listener failed")
        return transitions

    async def _persist(
        self, repository: AlertRepository, transitions: Sequence[Transition]
    ) -> None:
        """Alerting goes on while the store cannot be written (a full disk): the failure is
        logged once, with the store's health, and the active state is written once it can."""
        try:
            await repository.record(transitions, self.engine.held)
        except StoreError as error:
            if self.persist_error is None:
                logger.warning("alert state not saved (kept in memory): {}", one_line(error))
            self.persist_error = one_line(error)
            return
        if self.persist_error is not None:
            logger.info("alert state saved again")
            self.persist_error = None

    def is_silenced(self, alert: Alert, now: float | None = None) -> bool:
        now = self._clock() if now is None else now
        return any(s.active(now) and s.covers(alert.rule, alert.target) for s in self._silences)

    def active(self) -> list[Alert]:
        return self.engine.active

    def silences(self, now: float | None = None) -> list[Silence]:
        now = self._clock() if now is None else now
        return [s for s in self._silences if s.active(now)]

    async def acknowledge(self, rule: str, target: str, who: str) -> bool:
        now = self._clock()
        found = next((a for a in self.engine.active if a.key == (rule, target)), None)
        if found is None:
            return False
        self.engine.replace_alert(replace(found, ack_by=who, ack_at=now))
        if self.repository is not None:
            await self.repository.acknowledge(rule, target, who, now)
        return True

    async def silence(
        self,
        *,
        rule: str | None,
        target: str | None,
        duration_s: float,
        who: str,
        comment: str = "",
    ) -> Silence:
        if rule is None and target is None:
            raise ValueError("a silence needs a rule, a target or both")
        if duration_s <= 0:
            raise ValueError("a silence needs a positive duration")
        now = self._clock()
        if self.repository is not None:
            silence = await self.repository.add_silence(
                rule=rule,
                target=target,
                ends_at=now + duration_s,
                created_by=who,
                created_at=now,
                comment=comment,
            )
        else:
            silence = Silence(len(self._silences) + 1, now, who, rule, target, now + duration_s)
        self._silences.append(silence)
        return silence

    async def lift(self, silence_id: int) -> bool:
        now = self._clock()
        found = next((s for s in self._silences if s.id == silence_id and s.active(now)), None)
        if found is None:
            return False
        self._silences = [s for s in self._silences if s.id != silence_id]
        if self.repository is not None:
            await self.repository.lift_silence(silence_id, now)
        return True

    async def history(self, **filters: object) -> list[AlertEvent]:
        if self.repository is None:
            return []
        return await self.repository.history(**filters)  # type: ignore[arg-type]

    async def overview(self, history_limit: int = 50) -> AlertsOverview:
        events = await self.history(limit=history_limit)
        return AlertsOverview(active=self.active(), history=list(reversed(events)))


async def stored_overview(repository: AlertRepository, history_limit: int = 50) -> AlertsOverview:
    """The same overview from the database alone (what `clusterdash collect` recorded)."""
    events = await repository.history(limit=history_limit)
    return AlertsOverview(active=await repository.load_active(), history=list(reversed(events)))
