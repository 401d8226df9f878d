"""A viewer's alerts: the collector's alert engine, read from its database, written via its socket.

A viewer evaluates nothing and sends nothing: it shows the alert state the collector
recorded (so an ack or silence made in any viewer shows in every viewer on its next
snapshot), and sends acks, silences and lifts to the collector, which records them under
the user the kernel reports for the socket.
"""

from __future__ import annotations

from pathlib import Path

from tui.alerts.engine import AlertEngine, AlertState, Transition
from tui.alerts.persistence import AlertRepository, Silence
from tui.alerts.service import AlertService
from tui.collect_client import request
from tui.model import ClusterSnapshot


class ViewerAlertService(AlertService):
    def __init__(self, engine: AlertEngine, repository: AlertRepository, socket: Path) -> None:
        super().__init__(engine, repository)
        self.socket = socket

    async def start(self) -> None:
        await self._follow(notify=False)

    async def on_snapshot(self, snapshot: ClusterSnapshot) -> list[Transition]:
        return await self._follow(notify=True)

    async def _follow(self, *, notify: bool) -> list[Transition]:
        assert self.repository is not None
        before = {a.key: a.state for a in self.engine.active}
        current = await self.repository.load_active()
        self.engine.show_only(current)
        self._silences = await self.repository.active_silences(self._clock())
        news = [
            Transition(alert, before.get(alert.key))
            for alert in current
            if alert.state is AlertState.FIRING and before.get(alert.key) is not AlertState.FIRING
        ]
        loud = [t for t in news if not self.is_silenced(t.alert)]
        if notify and loud:
            for listener in list(self._listeners):
                listener(loud)
        return news

    async def acknowledge(self, rule: str, target: str, who: str) -> bool:
        reply = await request(self.socket, {"op": "ack", "rule": rule, "target": target})
        await self._follow(notify=False)
        return bool(reply["acked"])

    async def silence(
        self,
        *,
        rule: str | None,
        target: str | None,
        duration_s: float,
        who: str,
        comment: str = "",
    ) -> Silence:
        reply = await request(
            self.socket,
            {
                "op": "silence",
                "rule": rule,
                "target": target,
                "duration_s": duration_s,
                "comment": comment,
            },
        )
        await self._follow(notify=False)
        silence_id = int(reply["silence_id"])
        found = next((s for s in self._silences if s.id == silence_id), None)
        if found is None:
            raise ValueError(f"silence {silence_id} was not recorded")
        return found

    async def lift(self, silence_id: int) -> bool:
        reply = await request(self.socket, {"op": "lift", "silence_id": silence_id})
        await self._follow(notify=False)
        return bool(reply["lifted"])

    async def send_rules(self, text: str, restart: str | None = None) -> None:
        """A rule edit made here: the collector's engine (the only one) takes the new rules.

        `text` is the rules file as saved; CollectorUnavailable says why when it is refused.
        """
        await request(self.socket, {"op": "rules", "text": text, "restart": restart})
