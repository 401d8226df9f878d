"""Alert service: persistence across restart, ack, silences and expiry, webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tui.alerts.engine import AlertEngine, AlertState
from tui.alerts.notifiers import WebhookNotifier
from tui.alerts.persistence import AlertRepository
from tui.alerts.rules import Comparator, Rule, Severity, Watch
from tui.alerts.service import AlertService
from tui.model import ClusterSnapshot, Gpu
from tui.store import Store

T0 = 2_000_000.0
HOT = Rule("hot", Watch.GPU_TEMPERATURE, Comparator.GTE, 90, severity=Severity.CRITICAL)
WARM = Rule("warm", Watch.GPU_TEMPERATURE, Comparator.GTE, 80, for_s=120)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def snap(at: float, temperature: float, index: int = 0) -> ClusterSnapshot:
    return ClusterSnapshot(taken_at=at, gpus=(Gpu("gpu-01", index, temperature_c=temperature),))


async def service_at(path: Path, clock: Clock, rules: list[Rule], **kw: Any) -> AlertService:
    store = await Store.open(path)
    service = AlertService(
        AlertEngine(rules, keep_firing_s=30, clock=clock),
        AlertRepository(store),
        clock=clock,
        **kw,
    )
    await service.start()
    return service


async def test_restart_mid_pending_and_firing_keeps_state(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "h.sqlite3"
    first = await service_at(db, clock, [HOT, WARM])
    await first.on_snapshot(snap(T0, 95))
    assert {(a.rule, a.state) for a in first.active()} == {
        ("hot", AlertState.FIRING),
        ("warm", AlertState.PENDING),
    }
    await first.repository.store.close()  # type: ignore[union-attr]

    clock.now = T0 + 120
    second = await service_at(db, clock, [HOT, WARM])
    assert {(a.rule, a.state) for a in second.active()} == {
        ("hot", AlertState.FIRING),
        ("warm", AlertState.PENDING),
    }
    transitions = await second.on_snapshot(snap(T0 + 120, 95))
    assert [(t.alert.rule, t.previous) for t in transitions] == [("warm", AlertState.PENDING)]
    history = await second.history(rule="hot")
    assert [e.state for e in history] == ["firing"], "firing is not announced twice"
    await second.repository.store.close()  # type: ignore[union-attr]


async def test_history_by_time_rule_target_severity(tmp_path: Path) -> None:
    clock = Clock()
    service = await service_at(tmp_path / "h.sqlite3", clock, [HOT])
    await service.on_snapshot(snap(T0, 95))
    await service.on_snapshot(snap(T0 + 10, 95, index=1))  # gpu0 gone: clear from T0+10
    await service.on_snapshot(snap(T0 + 100, 20))  # gpu0 resolves; gpu1 clear from T0+100
    await service.on_snapshot(snap(T0 + 130, 20))  # gpu1 resolves after keep_firing (30 s)
    events = await service.history()
    assert [(e.target, e.state) for e in events] == [
        ("gpu-01/gpu1", "resolved"),
        ("gpu-01/gpu0", "resolved"),
        ("gpu-01/gpu1", "firing"),
        ("gpu-01/gpu0", "firing"),
    ]
    assert len(await service.history(target="gpu-01/gpu1")) == 2
    assert len(await service.history(since=T0 + 5, until=T0 + 50)) == 1
    assert [e.ts for e in await service.history(target="gpu-01/gpu0")] == [T0 + 100, T0]
    assert await service.history(severity="info") == []
    await service.repository.store.close()  # type: ignore[union-attr]


async def test_ack_is_recorded_and_survives_restart(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "h.sqlite3"
    service = await service_at(db, clock, [HOT])
    await service.on_snapshot(snap(T0, 95))
    clock.now = T0 + 5
    assert await service.acknowledge("hot", "gpu-01/gpu0", "ops-anna")
    assert not await service.acknowledge("hot", "gpu-09/gpu0", "ops-anna")
    await service.on_snapshot(snap(T0 + 6, 95))
    [alert] = service.active()
    assert (alert.ack_by, alert.ack_at) == ("ops-anna", T0 + 5)
    await service.repository.store.close()  # type: ignore[union-attr]
    again = await service_at(db, clock, [HOT])
    assert again.active()[0].ack_by == "ops-anna"
    await again.repository.store.close()  # type: ignore[union-attr]


async def test_silence_suppresses_notifications_until_it_expires_or_is_lifted(
    tmp_path: Path,
) -> None:
    clock = Clock()
    heard: list[str] = []
    service = await service_at(tmp_path / "h.sqlite3", clock, [HOT])
    service.add_listener(lambda ts: heard.extend(f"{t.alert.target} {t.alert.state}" for t in ts))
    silence = await service.silence(rule="hot", target=None, duration_s=60, who="ops")
    await service.on_snapshot(snap(T0, 95))
    assert heard == []
    assert service.active(), "silenced alerts still exist, they are just quiet"
    clock.now = T0 + 61
    assert service.silences() == [], "silences expire by themselves"
    await service.on_snapshot(snap(T0 + 61, 95, index=1))
    assert heard == ["gpu-01/gpu1 firing"]
    other = await service.silence(rule=None, target="gpu-01/gpu2", duration_s=600, who="ops")
    assert await service.lift(other.id)
    assert not await service.lift(other.id)
    await service.on_snapshot(snap(T0 + 62, 95, index=2))
    assert heard[-1] == "gpu-01/gpu2 firing"
    assert silence.describe() == "rule hot"
    with pytest.raises(ValueError, match="rule, a target"):
        await service.silence(rule=None, target=None, duration_s=5, who="x")
    await service.repository.store.close()  # type: ignore[union-attr]


class Recorder(BaseHTTPRequestHandler):
    statuses: list[int]
    received: list[tuple[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, json.loads(body)))
        status = self.statuses.pop(0) if self.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook_server() -> Iterator[tuple[str, type[Recorder]]]:
    handler = type("Handler", (Recorder,), {"statuses": [], "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


async def test_generic_webhook_retries_then_delivers(
    webhook_server: tuple[str, type[Recorder]],
) -> None:
    url, handler = webhook_server
    handler.statuses.extend([500, 503])
    notifier = WebhookNotifier(f"{url}/hook", cluster="prod", backoff_s=0.01)
    engine = AlertEngine([HOT])
    service = AlertService(engine, notifiers=[notifier])
    await service.on_snapshot(snap(T0, 95))
    await notifier.deliver(notifier._queue.get_nowait())
    assert len(handler.received) == 3
    path, body = handler.received[-1]
    assert path == "/hook"
    assert body["cluster"] == "prod"
    assert body["alerts"][0]["rule"] == "hot"
    assert body["alerts"][0]["state"] == "firing"
    assert notifier.status.delivered == 1
    await notifier.aclose()


async def test_alertmanager_webhook_shape_and_resolution(
    webhook_server: tuple[str, type[Recorder]],
) -> None:
    url, handler = webhook_server
    notifier = WebhookNotifier(url, kind="alertmanager", cluster="prod", backoff_s=0.01)
    engine = AlertEngine([HOT], keep_firing_s=0)
    firing = engine.evaluate(snap(T0, 95), now=T0)
    resolved = engine.evaluate(snap(T0 + 5, 20), now=T0 + 5)
    assert await notifier.deliver(firing + resolved)
    path, body = handler.received[0]
    assert path == "/api/v2/alerts"
    assert body[0]["labels"]["alertname"] == "hot"
    assert body[0]["labels"]["severity"] == "critical"
    assert "endsAt" not in body[0]
    assert body[1]["endsAt"].endswith("Z")
    await notifier.aclose()


async def test_failing_webhook_is_recorded_and_never_delays_evaluation() -> None:
    notifier = WebhookNotifier("http://127.0.0.1:9/unreachable", retries=1, backoff_s=0.01)
    service = AlertService(AlertEngine([HOT]), notifiers=[notifier])
    await service.on_snapshot(snap(T0, 95))  # returns at once: delivery is queued
    assert notifier.status.delivered == 0
    assert not await notifier.deliver(notifier._queue.get_nowait())
    assert notifier.status.failed == 1
    assert "127.0.0.1:9" in (notifier.status.last_error or "")
    await notifier.aclose()


async def test_client_error_is_not_retried(webhook_server: tuple[str, type[Recorder]]) -> None:
    url, handler = webhook_server
    handler.statuses.append(400)
    notifier = WebhookNotifier(url, backoff_s=0.01)
    engine = AlertEngine([HOT])
    assert not await notifier.deliver(engine.evaluate(snap(T0, 95), now=T0))
    assert len(handler.received) == 1
    assert notifier.status.last_error and "HTTP 400" in notifier.status.last_error
    await notifier.aclose()


async def test_overview_feeds_the_assistant_tool(tmp_path: Path) -> None:
    from tui.agent.tool_context import ToolContext
    from tui.agent.tools import alerts

    clock = Clock()
    service = await service_at(tmp_path / "h.sqlite3", clock, [HOT])
    await service.on_snapshot(snap(T0, 95))
    await service.on_snapshot(snap(T0 + 100, 20))
    await service.on_snapshot(snap(T0 + 150, 20))  # resolved: clear for keep_firing (30 s)
    await service.on_snapshot(snap(T0 + 200, 95, index=1))
    context = ToolContext(snapshot=lambda: None, alerts=service.overview)
    result = await alerts(context)
    assert [a["target"] for a in result["active"]] == ["gpu-01/gpu1"]
    assert [(e["target"], e["state"]) for e in result["history"]] == [
        ("gpu-01/gpu0", "firing"),
        ("gpu-01/gpu0", "resolved"),
        ("gpu-01/gpu1", "firing"),
    ]
    await service.repository.store.close()  # type: ignore[union-attr]


def multi_snap(at: float, temperatures: list[float]) -> ClusterSnapshot:
    return ClusterSnapshot(
        taken_at=at,
        gpus=tuple(Gpu("gpu-01", i, temperature_c=t) for i, t in enumerate(temperatures)),
    )


def restored_view(service: AlertService) -> set[tuple[str, str, AlertState, float]]:
    return {(a.rule, a.target, a.state, a.value) for a in service.active()}


async def test_every_step_of_alert_state_survives_a_restart(tmp_path: Path) -> None:
    """Only changed rows are written, yet a restart after any step restores exactly that step."""
    clock = Clock()
    db = tmp_path / "h.sqlite3"
    steps = [
        [95, 85, 85, 30],  # hot firing on gpu 0; warm pending on 0, 1, 2
        [96, 85, 30, 30],  # hot's value changes; warm on gpu 2 clears while pending
        [30, 85, 30, 91],  # gpu 0 cools (resolving after keep_firing); gpu 3 heats up
        [30, 30, 30, 91],
    ]
    service = await service_at(db, clock, [HOT, WARM])
    for step, temperatures in enumerate(steps):
        clock.now = T0 + 40 * step
        await service.on_snapshot(multi_snap(clock.now, temperatures))
        expected = restored_view(service)
        await service.repository.store.close()  # type: ignore[union-attr]
        service = await service_at(db, clock, [HOT, WARM])
        assert restored_view(service) == expected, f"step {step}"
    await service.repository.store.close()  # type: ignore[union-attr]


async def test_an_unchanged_evaluation_writes_nothing(tmp_path: Path) -> None:
    clock = Clock()
    service = await service_at(tmp_path / "h.sqlite3", clock, [HOT])
    store = service.repository.store  # type: ignore[union-attr]
    await service.on_snapshot(multi_snap(T0, [95, 96, 97]))
    assert len(service.active()) == 3
    before = store.db.total_changes
    clock.now = T0 + 5
    await service.on_snapshot(multi_snap(clock.now, [95, 96, 97]))
    assert store.db.total_changes == before
    clock.now = T0 + 10
    await service.on_snapshot(multi_snap(clock.now, [95, 99, 97]))
    assert store.db.total_changes == before + 1  # one alert's value changed: one row
    await store.close()
