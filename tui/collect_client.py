"""Viewers of a running `clusterdash collect`: find its socket, read snapshots, reconnect.

A viewer that attached stays a viewer: when the collector goes away it keeps the last
snapshot (shown stale, the "collect" source failing) and reconnects; it never collects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

from loguru import logger

from tui.actions import Action
from tui.audit_record import AuditRecord
from tui.collector import Subscriber, deliver
from tui.config import Settings, state_dir
from tui.gc_tuning import gc_paused
from tui.mode import Mode
from tui.model import ClusterSnapshot, SourceHealth
from tui.snapshot_wire import decode, patch
from tui.text import one_line

SERVICE_SOCKET = Path("/run/clusterdash/collect.sock")
SOURCE = "collect"
MAX_LINE_BYTES = 256 << 20


class CollectorUnavailable(Exception):
    """No collector answers on the socket; the message is one line."""


def runtime_socket() -> Path | None:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "clusterdash" / "collect.sock" if runtime else None


def serving_socket(settings: Settings) -> Path:
    """Where `collect` listens: collector.socket, else the user's runtime dir, else state."""
    if settings.collector.socket:
        return Path(settings.collector.socket).expanduser()
    return runtime_socket() or state_dir() / "collect.sock"


def socket_candidates(settings: Settings) -> list[Path]:
    """Where viewers look: the configured path, then the user's, then the head node service's."""
    found: list[Path] = []
    for path in (serving_socket(settings), runtime_socket(), SERVICE_SOCKET):
        if path is not None and path not in found:
            found.append(path)
    return found


async def request(path: Path, message: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
    """One request, one reply; CollectorUnavailable when nothing answers."""
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_LINE_BYTES)
            try:
                writer.write((json.dumps({"id": 1, **message}) + "\n").encode())
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError) as error:
        raise CollectorUnavailable(f"no collector on {path}: {one_line(error)}") from None
    if not line:
        raise CollectorUnavailable(f"collector on {path} closed the connection")
    reply = json.loads(line)
    if not reply.get("ok"):
        raise CollectorUnavailable(f"collector on {path}: {reply.get('error', 'refused')}")
    return dict(reply)


async def find_collector(settings: Settings, mode: Mode) -> tuple[Path, dict[str, Any]] | None:
    """The first socket whose collector answers and shows the same kind of cluster.

    None without looking when attaching is switched off (`collector.attach = false`).
    """
    if not settings.collector.attach:
        return None
    demo = mode == Mode.DEMO
    for path in socket_candidates(settings):
        if not path.exists():
            continue
        try:
            hello = await request(path, {"op": "hello"}, timeout_s=2.0)
        except (CollectorUnavailable, ValueError):
            continue
        if bool(hello.get("demo")) == demo:
            return path, hello
        logger.info("collector on {} shows another kind of cluster; not attaching", path)
    return None


async def attached_snapshot(
    settings: Settings, mode: Mode
) -> tuple[ClusterSnapshot, Path | None] | None:
    """The running collector's snapshot and its history database; None when none runs.

    A collector found but failing mid-read is reported (CollectorUnavailable), never
    replaced by data collected here.
    """
    found = await find_collector(settings, mode)
    if found is None:
        return None
    path, hello = found
    remote = RemoteCollector(path, str(hello.get("cluster", "")), demo=mode == Mode.DEMO)
    snapshot = await remote.current()
    store = hello.get("store")
    return snapshot, Path(store) if store else None


class RemoteCollector:
    """Stands where Collector does in a viewer: latest snapshot, subscribers, run()."""

    def __init__(self, path: Path, cluster_name: str, *, demo: bool) -> None:
        self.path = path
        self.latest = ClusterSnapshot(
            taken_at=time.time(),
            cluster_name=cluster_name,
            demo=demo,
            health=MappingProxyType({SOURCE: SourceHealth(SOURCE, detail=str(path))}),
        )
        self.connected = asyncio.Event()
        self._subscribers: list[Subscriber] = []
        self._last_success: float | None = None
        self._failures = 0
        # The last snapshot as the collector encoded it, which its next delta is applied to.
        self._wire: dict[str, Any] | None = None
        # The stream opened early (see prefetch), with its first snapshot already read.
        self._opening: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None
        self._opening = None

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def pollers(self) -> list[Any]:
        return []

    def set_interval(self, source: str, seconds: float) -> None:
        """The collector owns the schedule; a viewer cannot change it."""

    async def collect_once(self) -> ClusterSnapshot:
        """Ask the collector to poll now, then read its snapshot (nothing is collected here)."""
        await self.poll_now()
        return await self.current()

    async def current(self) -> ClusterSnapshot:
        """The collector's latest snapshot as it stands (no poll is asked for).

        Read on a connection of its own, whole: the stream run() follows keeps its deltas.
        """
        reader, writer = await self._subscribe(deltas=False)
        try:
            if not await self._read(reader, whole=True):
                raise CollectorUnavailable(f"collector on {self.path} closed the connection")
        finally:
            writer.close()
        await self._publish(self._with_collect_health(ok=True, error=None))
        return self.latest

    async def poll_now(self) -> None:
        """Ask the collector to poll now (after an action), so the result shows at once."""
        with contextlib.suppress(CollectorUnavailable):
            await request(self.path, {"op": "poll_now"}, timeout_s=15.0)

    async def reread(self, action: Action) -> None:
        """Have the collector re-read what an action acted on (Slurm only) and publish it."""
        targets = "nodes" if action.kind.targets_nodes else "jobs"
        message = {"op": "poll_now", targets: list(action.targets), "action": action.kind.value}
        with contextlib.suppress(CollectorUnavailable):
            await request(self.path, message, timeout_s=15.0)

    def prefetch(self) -> None:
        """Open the stream and read the first snapshot now, while the viewer sets up the rest;
        run() publishes it at once. The first paint of a large cluster waits on that read."""
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open_and_read())

    async def _open_and_read(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await self._subscribe()
        try:
            if not await self._read(reader):
                raise CollectorUnavailable(f"collector on {self.path} closed the connection")
        except BaseException:
            writer.close()
            raise
        return reader, writer

    async def run(self) -> None:
        """Follow the collector's stream forever, reconnecting when it goes away."""
        while True:
            try:
                opening, self._opening = self._opening, None
                if opening is not None:
                    reader, writer = await opening
                    ready = True
                else:
                    reader, writer = await self._subscribe()
                    ready = False
                try:
                    if ready:
                        await self._publish(self._with_collect_health(ok=True, error=None))
                    while await self._receive(reader):
                        pass
                finally:
                    writer.close()
                error = "collector closed the connection"
            except (OSError, CollectorUnavailable, ValueError, KeyError, TypeError) as failure:
                error = one_line(failure)
            self.connected.clear()
            self._failures += 1
            await self._publish(self._with_collect_health(ok=False, error=error))
            await asyncio.sleep(min(5.0, 0.25 * 2 ** min(self._failures, 5)))

    async def _subscribe(
        self, *, deltas: bool = True
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            reader, writer = await asyncio.open_unix_connection(
                str(self.path), limit=MAX_LINE_BYTES
            )
        except OSError as error:
            raise CollectorUnavailable(f"no collector on {self.path}: {one_line(error)}") from None
        if deltas:
            self._wire = None
            writer.write(b'{"id":1,"op":"subscribe","deltas":true}\n')
        else:
            writer.write(b'{"id":1,"op":"subscribe"}\n')
        await writer.drain()
        return reader, writer

    async def _receive(self, reader: asyncio.StreamReader) -> bool:
        if not await self._read(reader):
            return False
        await self._publish(self._with_collect_health(ok=True, error=None))
        return True

    async def _read(self, reader: asyncio.StreamReader, *, whole: bool = False) -> bool:
        """The next snapshot (whole or as a delta) into `latest`; False at end of stream.

        `whole`: a one-off read that leaves the followed stream's state alone."""
        line = await reader.readline()
        if not line:
            return False
        # In a worker thread: at 1,024 nodes reading a snapshot is ~120 ms of CPU, which on
        # the event loop would hold the screen and its keys as long; from a thread the loop
        # gets its turn every few ms (json.loads itself is one ~35 ms call).
        snapshot = await asyncio.to_thread(self._decode, line, whole)
        self._last_success = time.time()
        self._failures = 0
        self.connected.set()
        self.latest = snapshot
        return True

    def _decode(self, line: bytes, whole: bool) -> ClusterSnapshot:
        with gc_paused():
            message = json.loads(line)
            if whole:
                return decode(message["snapshot"])
            self._wire = self._next_wire(message)
            return decode(self._wire)

    def _next_wire(self, message: dict[str, Any]) -> dict[str, Any]:
        if message.get("event") != "delta":
            return dict(message["snapshot"])
        if self._wire is None:
            raise ValueError("the collector sent a delta before a snapshot")
        return patch(self._wire, message["delta"])

    def _with_collect_health(self, *, ok: bool, error: str | None) -> ClusterSnapshot:
        health = SourceHealth(
            SOURCE,
            ok=ok,
            last_success=self._last_success,
            last_attempt=time.time(),
            consecutive_failures=self._failures,
            last_error=error,
            detail=f"via collect ({self.path})",
        )
        return self.latest.with_health(dict(self.latest.health) | {SOURCE: health})

    async def _publish(self, snapshot: ClusterSnapshot) -> None:
        self.latest = snapshot
        await deliver(snapshot, self._subscribers)

    async def aclose(self) -> None:
        self.connected.clear()
        opening, self._opening = self._opening, None
        if opening is None:
            return
        opening.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            _, writer = await opening
            writer.close()


class CollectorBackedStore:
    """A viewer's history: reads from the collector's database, writes through the collector.

    The collector records audit rows under the user the kernel reports for this process;
    chat conversations and messages are written there too.
    """

    def __init__(self, store: Any, path: Path) -> None:
        self._store = store
        self._path = path

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def add_audit(self, record: AuditRecord) -> int:
        reply = await request(
            self._path,
            {
                "op": "audit",
                "origin": record.origin,
                "action": record.action,
                "targets": list(record.targets),
                "result_ok": record.ok,
                "reason": record.reason,
                "message": record.message,
            },
        )
        return int(reply["audit_id"])

    async def create_conversation(self, title: str, ts: float | None = None) -> int:
        reply = await request(self._path, {"op": "chat_create", "title": title})
        return int(reply["conversation_id"])

    async def add_chat_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        extra: Any = None,
        ts: float | None = None,
    ) -> int:
        message = {
            "op": "chat_add",
            "conversation_id": conversation_id,
            "role": role,
            "content": content,
            "extra": dict(extra) if extra else None,
        }
        reply = await request(self._path, message)
        return int(reply["message_id"])
