"""One collector per cluster: `collect` serves viewers over its Unix socket.

Real processes (`clusterdash collect`), a real socket, a real SQLite file, a real webhook
receiver and a real exporter on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.collect_process import Collect, wait_until
from tests.ports import free_port
from tests.unit.exposition_server import Reply, serve
from tui.collect_client import RemoteCollector, request, serving_socket
from tui.config import Settings, load_settings
from tui.mode import Mode
from tui.services import attach_or_build

FIXTURE = Path(__file__).parent.parent / "fixtures" / "exposition" / "dcgm-exporter-3.x.prom"


async def _await(condition: Callable[[], bool], limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running_viewers(settings: Settings, mode: Mode, count: int) -> AsyncIterator[list[Any]]:
    """`count` viewers attached to the running collector, following it until the block ends."""
    viewers = [await attach_or_build(settings, mode) for _ in range(count)]
    tasks = [asyncio.create_task(v.run_background()) for v in viewers]
    try:
        yield viewers
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for viewer in viewers:
            await viewer.aclose()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(
        os.environ,
        CLUSTERDASH_STORE_PATH=str(tmp_path / "h.sqlite3"),
        CLUSTERDASH_GPU_INTERVAL="1s",
        CLUSTERDASH_SLURM_INTERVAL="1s",
    )


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, object]]]]:
    received: list[dict[str, object]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


async def test_viewers_never_scrape_and_one_drained_node_is_one_event_and_one_post(
    env: dict[str, str],
    webhook: tuple[str, list[dict[str, object]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = webhook
    env["CLUSTERDASH_ALERTS_WEBHOOK_URL"] = url
    collect = Collect(env, "--demo", "--nodes", "8").start()
    try:
        settings = load_settings(environ={k: v for k, v in env.items() if k.startswith("CLUS")})
        async with running_viewers(settings, Mode.DEMO, 2) as viewers:
            for viewer in viewers:
                assert isinstance(viewer.collector, RemoteCollector), "attached, not collecting"
                assert not viewer.writer and viewer.alerts is not None
                assert not viewer.alerts.notifiers
            await _await(
                lambda: all("gpu-03" in v.snapshot.node_by_name for v in viewers), 30, "data"
            )
            await _await(lambda: bool(received), 30, "the webhook")
            seen = viewers[0].snapshot.taken_at
            await _await(lambda: viewers[0].snapshot.taken_at > seen + 2, 30, "more cycles")
    finally:
        collect.stop()
    drained = [
        a
        for body in received
        for a in body["alerts"]  # type: ignore[attr-defined]
        if a["rule"] == "node_drained" and a["target"] == "gpu-03"
    ]
    assert len(drained) == 1, received
    with sqlite3.connect(tmp_path / "h-demo.sqlite3") as db:
        events = db.execute(
            "SELECT count(*) FROM alert_events WHERE rule = 'node_drained' AND target = 'gpu-03'"
        ).fetchone()[0]
    assert events == 1


async def test_exporter_requests_per_interval_do_not_grow_with_viewers(
    env: dict[str, str], tmp_path: Path
) -> None:
    with serve({"/metrics": Reply(FIXTURE.read_text())}) as exporter:
        config = tmp_path / "c.toml"
        config.write_text(
            f'[slurm]\nenabled = false\n[gpu]\ntargets = ["{exporter.url("/metrics")}"]\n'
        )
        env["CLUSTERDASH_CLUSTER_NAME"] = "lab"
        collect = Collect(env, "--config", str(config)).start()
        try:
            settings = load_settings(
                config, environ={k: v for k, v in env.items() if k.startswith("CLUS")}
            )
            async with running_viewers(settings, Mode.REAL, 2) as viewers:
                await _await(lambda: all(v.snapshot.gpus for v in viewers), 30, "viewer data")
                before, started = len(exporter.requests), time.monotonic()
                for _ in range(3):
                    result = await asyncio.to_thread(
                        subprocess.run,
                        [
                            sys.executable,
                            "-m",
                            "tui.cli",
                            "snapshot",
                            "--json",
                            "--config",
                            str(config),
                        ],
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=60,
                    )
                    assert json.loads(result.stdout)["gpus"], result.stderr
                elapsed = time.monotonic() - started
                during = len(exporter.requests) - before
        finally:
            collect.stop()
    # The collector alone scrapes at most once per 1 s interval; viewers add nothing.
    assert during <= elapsed / 1.0 + 2, (during, elapsed)


async def test_a_viewer_shows_stale_data_while_its_collector_is_gone_then_reconnects(
    env: dict[str, str],
) -> None:
    collect = Collect(env, "--demo", "--nodes", "4").start()
    viewer = RemoteCollector(collect.socket, "demo", demo=True)
    task = asyncio.create_task(viewer.run())
    try:
        await _await(lambda: viewer.connected.is_set() and bool(viewer.latest.gpus), 30, "data")
        last = viewer.latest.taken_at
        collect.kill()
        await _await(lambda: not viewer.latest.health["collect"].ok, 30, "stale mark")
        gone = viewer.latest
        assert gone.taken_at == last, "the last real snapshot is kept, never replaced"
        assert len(gone.gpus) == 32 and gone.health["collect"].last_error
        assert any(g.utilization_pct for g in gone.gpus), "stale readings are not zeroed"
        collect.start()
        await _await(
            lambda: viewer.latest.health["collect"].ok and viewer.latest.taken_at > last,
            60,
            "reconnect",
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        collect.kill()


async def test_audit_rows_carry_the_peer_user_and_a_second_collector_is_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    collect = Collect(env, "--demo", "--nodes", "2").start()
    try:
        reply = await request(
            collect.socket,
            {
                "op": "audit",
                "user": "mallory",
                "action": "drain",
                "targets": ["gpu-01"],
                "result_ok": True,
                "reason": "bad DIMM",
            },
        )
        assert reply["ok"]
        second = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "tui.cli", "collect", "--demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert "already written by pid" in second.stderr and second.stderr.count("\n") == 1
    finally:
        collect.stop()
    with sqlite3.connect(tmp_path / "h-demo.sqlite3") as db:
        users = [row[0] for row in db.execute("SELECT user FROM audit_log")]
    assert users == [pwd.getpwuid(os.getuid()).pw_name]


def test_default_socket_is_in_the_runtime_dir(tmp_path: Path) -> None:
    settings = load_settings(environ={})
    assert (
        serving_socket(settings)
        == Path(os.environ["XDG_RUNTIME_DIR"]) / "clusterdash" / "collect.sock"
    )


async def test_an_ack_and_a_silence_in_one_viewer_reach_the_other(env: dict[str, str]) -> None:
    collect = Collect(env, "--demo", "--nodes", "8").start()
    me = pwd.getpwuid(os.getuid()).pw_name
    try:
        settings = load_settings(environ={k: v for k, v in env.items() if k.startswith("CLUS")})
        first, second = [await attach_or_build(settings, "demo") for _ in range(2)]
        tasks = [asyncio.create_task(v.run_background()) for v in (first, second)]
        try:
            assert first.alerts is not None and second.alerts is not None

            def drained(service: Any) -> Any:
                return next(
                    (a for a in service.alerts.active() if a.key == ("node_drained", "gpu-03")),
                    None,
                )

            await _await(lambda: drained(second) is not None, 60, "the alert in a viewer")
            assert await first.alerts.acknowledge("node_drained", "gpu-03", "mallory")
            await _await(lambda: drained(second).ack_by is not None, 30, "the ack elsewhere")
            assert drained(second).ack_by == me, "the collector names the peer's user"
            await first.alerts.silence(
                rule="node_drained", target=None, duration_s=600, who="mallory"
            )
            await _await(lambda: bool(second.alerts.silences()), 30, "the silence elsewhere")
            assert second.alerts.silences()[0].created_by == me
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for viewer in (first, second):
                await viewer.aclose()
    finally:
        collect.stop()


def test_loopback_http_serves_the_snapshot_and_a_stream(env: dict[str, str]) -> None:
    import httpx

    port = free_port()
    env["CLUSTERDASH_COLLECTOR_HTTP_PORT"] = str(port)
    collect = Collect(env, "--demo", "--nodes", "4").start()
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        wait_until(lambda: _answers(f"{base}/hello"), 30, "the HTTP port")
        snapshot = httpx.get(f"{base}/snapshot", timeout=10).json()
        cli = subprocess.run(
            [sys.executable, "-m", "tui.cli", "snapshot", "--json", "--demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        from_cli = json.loads(cli.stdout)
        assert snapshot.keys() == from_cli.keys() and snapshot["demo"] is True
        assert [n["name"] for n in snapshot["nodes"]] == [n["name"] for n in from_cli["nodes"]]
        with httpx.stream("GET", f"{base}/stream", timeout=10) as stream:
            assert stream.headers["content-type"] == "text/event-stream"
            lines = stream.iter_lines()
            assert next(lines) == "event: snapshot"
            assert json.loads(next(lines).removeprefix("data: "))["snapshot"]["demo"] is True
        refused = httpx.post(f"{base}/alerts", timeout=10)
        assert refused.status_code == 405
    finally:
        collect.stop()


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).is_success
    except httpx.HTTPError:
        return False


async def test_a_viewers_chat_history_is_written_by_the_collector(
    env: dict[str, str], tmp_path: Path
) -> None:
    collect = Collect(env, "--demo", "--nodes", "2").start()
    try:
        settings = load_settings(environ={k: v for k, v in env.items() if k.startswith("CLUS")})
        viewer = await attach_or_build(settings, "demo")
        try:
            assert viewer.store is not None
            conversation = await viewer.store.create_conversation("why idle?")
            await viewer.store.add_chat_message(conversation, "user", "why is gpu-02 idle?")
            messages = await viewer.store.conversation_messages(conversation)
        finally:
            await viewer.aclose()
    finally:
        collect.stop()
    assert [m.content for m in messages] == ["why is gpu-02 idle?"]


async def test_bad_requests_get_one_line_errors_and_the_collector_carries_on(
    env: dict[str, str],
) -> None:
    collect = Collect(env, "--demo", "--nodes", "2").start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(collect.socket))
        replies = []
        for line in (b"not json\n", b'{"id": 7, "op": "ack"}\n', b'{"id": 8, "op": "nope"}\n'):
            writer.write(line)
            await writer.drain()
            replies.append(json.loads(await reader.readline()))
        writer.close()
        assert [r["ok"] for r in replies] == [False, False, False]
        assert replies[1] == {"id": 7, "ok": False, "error": "missing field 'rule'"}
        assert replies[2]["error"] == "unknown op 'nope'"
        assert (await request(collect.socket, {"op": "hello"}))["demo"] is True
    finally:
        collect.stop()


async def test_ask_answers_from_the_running_collector(env: dict[str, str]) -> None:
    from tests.agent_server import Call, ScriptedServer, text_reply, tool_reply

    collect = Collect(env, "--demo", "--nodes", "8").start()
    try:
        settings = load_settings(environ={k: v for k, v in env.items() if k.startswith("CLUS")})
        viewer = await attach_or_build(settings, "demo")
        try:
            assert viewer.alerts is not None
            task = asyncio.create_task(viewer.run_background())
            await _await(
                lambda: any(a.key == ("node_drained", "gpu-03") for a in viewer.alerts.active()),
                60,
                "the collector's drained-node alert",
            )
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        finally:
            await viewer.aclose()
        script = [
            tool_reply(Call("list_nodes", {}), Call("alerts", {})),
            text_reply("gpu-03 is drained."),
        ]
        with ScriptedServer(script) as server:
            # This process would simulate 4 nodes; the collector it attaches to shows 8.
            asked = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "tui.cli", "ask", "--demo", "--nodes", "4", "drained?"],
                env=dict(env, CLUSTERDASH_AGENT_BASE_URL=server.base_url),
                capture_output=True,
                text=True,
                timeout=60,
            )
    finally:
        collect.stop()
    assert asked.returncode == 0, asked.stderr
    assert "gpu-03 is drained." in asked.stdout
    tools = [m["content"] for m in server.requests[1]["messages"] if m["role"] == "tool"]
    assert "gpu-08" in tools[0], "the nodes are the collector's, not simulated here"
    assert "node_drained" in tools[1], "the alerts are the collector's"


async def test_a_viewer_following_deltas_shows_the_collectors_snapshots(
    env: dict[str, str],
) -> None:
    from dataclasses import replace
    from types import MappingProxyType

    from tui.model import ClusterSnapshot
    from tui.snapshot_wire import decode

    collect = Collect(env, "--demo", "--nodes", "8").start()
    try:
        # A whole-snapshot subscriber beside a delta-following viewer, on one collector.
        reader, writer = await asyncio.open_unix_connection(str(collect.socket), limit=64 << 20)
        writer.write(b'{"id":1,"op":"subscribe"}\n')
        viewer = RemoteCollector(collect.socket, "", demo=True)
        followed: dict[float, ClusterSnapshot] = {}

        failures: list[str | None] = []

        def follow(snapshot: ClusterSnapshot) -> None:
            if not snapshot.health["collect"].ok:  # a delta it could not apply, or a gap
                failures.append(snapshot.health["collect"].last_error)
            followed.setdefault(snapshot.taken_at, snapshot)

        viewer.subscribe(follow)
        task = asyncio.create_task(viewer.run())
        whole: dict[float, ClusterSnapshot] = {}
        try:
            while len(set(whole) & set(followed)) < 6:
                async with asyncio.timeout(60):
                    line = await reader.readline()
                snapshot = decode(json.loads(line)["snapshot"])
                whole[snapshot.taken_at] = snapshot
                if len(whole) == 3:  # as after an action: a one-off read beside the stream
                    await viewer.collect_once()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            writer.close()
    finally:
        collect.stop()
    assert not failures, "the viewer followed one stream of deltas, never reconnecting"
    for taken_at in sorted(set(whole) & set(followed)):
        shown = followed[taken_at]
        health = MappingProxyType({k: v for k, v in shown.health.items() if k != "collect"})
        assert replace(shown, health=health) == whole[taken_at]
