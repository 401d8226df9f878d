"""`clusterdash collect` serves its live state to viewers on the same machine.

Protocol: newline-delimited JSON over a Unix socket (see README, "Collector socket").
A request is `{"id": N, "op": "...", ...}`; every reply carries the same id and `"ok"`.
`subscribe` streams `{"event": "snapshot", ...}` lines until the viewer disconnects.
Writes a viewer asks for (audit rows, acks, silences) are recorded under the user the
kernel reports for the socket's peer (SO_PEERCRED), never a name the viewer sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import os
import pwd
import re
import shutil
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from loguru import logger

from tui.actions import JOB_ID_RE, NODE_NAME_RE, Action, ActionKind
from tui.audit_record import AuditRecord
from tui.model import ClusterSnapshot
from tui.services import Services
from tui.snapshot_output import snapshot_json
from tui.snapshot_wire import diff, encode

MAX_REQUEST_BYTES = 1 << 20
Handler = Callable[[dict[str, Any], str], Awaitable[dict[str, Any]]]


def peer_user(writer: asyncio.StreamWriter) -> str:
    """The login name of the process at the other end of a Unix socket."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return "unknown"
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", creds)
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class _Encoded:
    """One snapshot's wire and public JSON, built once however many viewers read it."""

    def __init__(self, snapshot: ClusterSnapshot, price: float) -> None:
        self.snapshot = snapshot
        self._price = price
        self._wire: bytes | None = None
        self._public: str | None = None
        self._data: dict[str, Any] | None = None

    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = encode(self.snapshot)
        return self._data

    def wire_line(self) -> bytes:
        if self._wire is None:
            body = json.dumps(self.data(), separators=(",", ":"), allow_nan=False)
            self._wire = b'{"event":"snapshot","snapshot":' + body.encode() + b"}\n"
        return self._wire

    def delta_line(self, previous: _Encoded) -> bytes:
        """What changed since `previous`, for a viewer that holds `previous` already."""
        body = json.dumps(
            diff(previous.data(), self.data()), separators=(",", ":"), allow_nan=False
        )
        return b'{"event":"delta","delta":' + body.encode() + b"}\n"

    def public(self) -> str:
        if self._public is None:
            self._public = snapshot_json(self.snapshot, self._price)
        return self._public


class CollectServer:
    def __init__(self, services: Services, socket_path: Path, *, group: str = "") -> None:
        self.services = services
        self.socket_path = socket_path
        self.group = group
        self._server: asyncio.AbstractServer | None = None
        # Each viewer's queue of lines, and whether it takes deltas after its first snapshot.
        self._subscribers: dict[asyncio.Queue[bytes], bool] = {}
        self._latest = _Encoded(services.snapshot, services.settings.cluster.gpu_hourly_price)
        self._handlers: dict[str, Handler] = {
            "hello": self._hello,
            "snapshot": self._snapshot,
            "history": self._history,
            "alerts": self._alerts,
            "ack": self._ack,
            "silence": self._silence,
            "lift": self._lift,
            "audit": self._audit,
            "chat_create": self._chat_create,
            "chat_add": self._chat_add,
            "poll_now": self._poll_now,
            "rules": self._rules,
        }

    async def start(self) -> None:
        path = self.socket_path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            if await _answers(path):
                raise OSError(f"another collector already serves {path}")
            path.unlink()
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(path), limit=MAX_REQUEST_BYTES
        )
        mode = 0o600
        if self.group:
            try:
                os.chown(path, -1, grp.getgrnam(self.group).gr_gid)
                mode = 0o660
            except (KeyError, PermissionError) as error:
                logger.warning(
                    "collector socket {} not shared with group {}: {}", path, self.group, error
                )
        path.chmod(mode)
        self.services.collector.subscribe(self._on_snapshot)
        logger.info("serving viewers on {}", path)

    async def aclose(self) -> None:
        self.services.collector.unsubscribe(self._on_snapshot)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    @property
    def viewers(self) -> int:
        return len(self._subscribers)

    def _on_snapshot(self, snapshot: ClusterSnapshot) -> None:
        previous = self._latest
        self._latest = _Encoded(snapshot, self.services.settings.cluster.gpu_hourly_price)
        delta: bytes | None = None
        for queue, deltas in self._subscribers.items():
            if queue.full():  # a viewer that cannot keep up gets the newest snapshot only
                while not queue.empty():  # a delta needs every line before it: start afresh
                    queue.get_nowait()
                queue.put_nowait(self._latest.wire_line())
            elif deltas:
                delta = delta or self._latest.delta_line(previous)
                queue.put_nowait(delta)
            else:
                queue.put_nowait(self._latest.wire_line())
        # A viewer that attaches next starts from this line: encoded now, after the publish,
        # it is ready when the viewer asks (at 1,024 nodes ~50 ms once per snapshot, where
        # a viewer attaching would otherwise wait for it).
        asyncio.get_running_loop().call_soon(self._encode_if_latest, self._latest)

    def _encode_if_latest(self, encoded: _Encoded) -> None:
        if encoded is self._latest:
            encoded.wire_line()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        user = peer_user(writer)
        try:
            while line := await reader.readline():
                reply = await self._answer(line, user)
                if reply is None:  # subscribe: this connection now only streams
                    await self._stream(reader, writer, deltas=_wants_deltas(line))
                    return
                writer.write(reply)
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:  # the collector is stopping: end this viewer quietly
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def answer(self, line: bytes, user: str) -> bytes | None:
        """The reply line to one request line (None for subscribe, which streams instead)."""
        return await self._answer(line, user)

    async def _answer(self, line: bytes, user: str) -> bytes | None:
        request_id: Any = None
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
            request_id = request.get("id")
            op = request.get("op")
            if op == "subscribe":
                return None
            handler = self._handlers.get(str(op))
            if handler is None:
                raise ValueError(f"unknown op {op!r}")
            result = await handler(request, user)
            reply: dict[str, Any] = {"id": request_id, "ok": True, **result}
        except KeyError as error:
            reply = {"id": request_id, "ok": False, "error": f"missing field {error}"}
        except Exception as error:  # one bad request is that request's error only
            reply = {"id": request_id, "ok": False, "error": " ".join(str(error).split())}
        if "public" in reply:  # the snapshot exactly as `snapshot --json` prints it
            public = reply.pop("public")
            head = json.dumps(reply, separators=(",", ":"))[:-1]
            return f'{head},"snapshot_json":{json.dumps(public)}}}\n'.encode()
        return (json.dumps(reply, separators=(",", ":"), default=str) + "\n").encode()

    def add_stream(self, *, deltas: bool = False) -> asyncio.Queue[bytes]:
        """A queue that gets the current snapshot line now and each new one after.

        With `deltas`, each later line is what changed since the line before it (a viewer
        that falls behind gets a whole snapshot again).
        """
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=2)
        queue.put_nowait(self._latest.wire_line())
        self._subscribers[queue] = deltas
        return queue

    def remove_stream(self, queue: asyncio.Queue[bytes]) -> None:
        self._subscribers.pop(queue, None)

    async def _stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, deltas: bool
    ) -> None:
        """Send each new snapshot until the viewer hangs up (its end of the socket reads EOF)."""
        queue = self.add_stream(deltas=deltas)
        hangup = asyncio.ensure_future(reader.read())
        try:
            while not hangup.done():
                next_line = asyncio.ensure_future(queue.get())
                await asyncio.wait({next_line, hangup}, return_when=asyncio.FIRST_COMPLETED)
                if not next_line.done():
                    next_line.cancel()
                    break
                writer.write(next_line.result())
                await writer.drain()
        finally:
            hangup.cancel()
            self.remove_stream(queue)

    # ---- operations ---------------------------------------------------------------

    async def _hello(self, request: dict[str, Any], user: str) -> dict[str, Any]:
        services = self.services
        return {
            "cluster": services.cluster_name,
            "demo": services.demo,
            "pid": os.getpid(),
            "user": user,
            "store": str(services.store.path) if services.store else None,
        }

    async def _snapshot(self, request: dict[str, Any], user: str) -> dict[str, Any]:
        return {"public": self._latest.public()}

    async def _history(self, request: dict[str, Any], user: str) -> dict[str, Any]:
        store = self.services.store
        if store is None:
            raise ValueError("this collector keeps no history")
        node, start, end = str(request["node"]), float(request["start"]), float(request["end"])
        gpu = request.get("gpu")
        samples = await store.gpu_samples(node, start, end, None if gpu is None else int(gpu))
        return {"samples": [list(_sample_row(s)) for s in samples]}

    async def _alerts(self, request: dict[str, Any], user: str) -> dict[str, Any]:
        alerts = self.services.alerts
        if alerts is None:
            return {"active": [], "silences": []}
        return {
            "active": [a.to_dict() for a in alerts.active()],
            "silences": [
                {"id": s.id, "rule": s.rule, "target": s.target, "ends_at": s.ends_at}
                for s in alerts.silences()
            ],
        }

    async def _ack(self, request: dict[str, Any], user: str) -> dict[str, Any]:
        alerts = self._require_alerts()
        return {
            "acked": await alerts.acknowledge(str(request["rule"]), str(request["target"]), user)
        }

    async def _silence(self, request: dict[str, Any], user: str) -> dict[str, Any]:
        alerts = self._require_alerts()
        silence = await alerts.silence(
            rule=request.get("rule"),
            target=request.get("target"),
            duration_s=float(request["duration_s"]),
            who=user,
            comment=str(request.get("comment", "")),
        )
        return {"silence_id": silence.id}

    async def _lift(self, request: dict[str, Any], user: str) -> dict[str, Any]:
        return {"lifted": await self._require_alerts().lift(int(request["silence_id"]))}

    async def _audit(self, request: dict[str, Any], user: str) -> dict[str, Any]:
        store = self.services.store
        if store is None or store.readonly:
            raise ValueError("this collector keeps no audit log")
        audit_id = await store.add_audit(
            AuditRecord(
                user=user,
                origin=str(request.get("origin", "keyboard")),
                action=str(request["action"]),
                targets=tuple(str(t) for t in request.get("targets", [])),
                ok=bool(request["result_ok"]),
                reason=str(request.get("reason", "")),
                message=str(request.get("message", "")),
            )
        )
        return {"audit_id": audit_id}

    async def _chat_create(self, request: dict[str, Any], user: str) -> dict[str, Any]:
        store = self._require_store()
        return {"conversation_id": await store.create_conversation(str(request["title"]))}

    async def _chat_add(self, request: dict[str, Any], user: str) -> dict[str, Any]:
        store = self._require_store()
        extra = request.get("extra")
        message_id = await store.add_chat_message(
            int(request["conversation_id"]),
            str(request["role"]),
            str(request["content"]),
            dict(extra) if isinstance(extra, dict) else None,
        )
        return {"message_id": message_id}

    def _require_store(self) -> Any:
        store = self.services.store
        if store is None or store.readonly:
            raise ValueError("this collector keeps no history")
        return store

    async def _poll_now(self, request: dict[str, Any], user: str) -> dict[str, Any]:
        """A whole cycle; or, after a viewer's action, a re-read of the nodes or jobs it named
        (Slurm only, so a slow GPU source does not hold the action's result back)."""
        collector = self.services.collector
        nodes = _names(request, "nodes", NODE_NAME_RE, "node name")
        jobs = _names(request, "jobs", JOB_ID_RE, "job id")
        if not nodes and not jobs:
            snapshot = await collector.collect_once()
            return {"taken_at": snapshot.taken_at}
        kind = _action_kind(request.get("action"), nodes=bool(nodes))
        if kind is not None:
            # The action named: Slurm may still be carrying it out, read until it settles.
            await collector.reread(Action(kind, tuple(nodes or jobs)))
            return {"taken_at": collector.latest.taken_at}
        if nodes:
            await collector.reread_nodes(nodes)
        if jobs:
            await collector.reread_jobs(jobs)
        return {"taken_at": collector.latest.taken_at}

    async def _rules(self, request: dict[str, Any], user: str) -> dict[str, Any]:
        """A viewer's rule edit: the collector's rules file becomes `text`, its engine reloads.

        The one alert engine is the collector's, so an edit made in any viewer changes the
        rules it evaluates; a rule named in `restart` changed definition and starts over.
        """
        from tui.alerts.rules_file import load_rules, parse_rules

        alerts = self._require_alerts()
        text = str(request["text"])
        rule_set = parse_rules(text)
        if rule_set.problems:
            raise ValueError(f"rules not changed: {rule_set.problems[0].format(Path('rules'))}")
        settings = self.services.settings
        path = settings.rules_path
        await asyncio.to_thread(_write_rules_file, path, text)
        rules, _ = load_rules(path, builtin=settings.alerts.builtin_rules)
        restart = request.get("restart")
        if restart:
            alerts.engine.set_rules([r for r in rules if r.name != restart])
        alerts.engine.set_rules(rules)
        logger.info("{} changed the alert rules: {} rules now in {}", user, len(rules), path)
        return {"rules": len(rules), "path": str(path)}

    def _require_alerts(self) -> Any:
        if self.services.alerts is None:
            raise ValueError("this collector runs no alert engine")
        return self.services.alerts


def _wants_deltas(line: bytes) -> bool:
    with contextlib.suppress(ValueError, AttributeError):
        return json.loads(line).get("deltas") is True
    return False


def _sample_row(sample: Any) -> tuple[Any, ...]:
    return (
        sample.ts,
        sample.gpu,
        sample.utilization_pct,
        sample.memory_used_mib,
        sample.memory_total_mib,
        sample.temperature_c,
        sample.power_w,
        sample.sm_clock_mhz,
    )


def _write_rules_file(path: Path, text: str) -> None:
    """Atomically; the previous file stays as <file>.bak unless it already says `text`
    (a viewer sharing this file has just written it and kept the backup itself)."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
        shutil.copy2(path, path.with_suffix(path.suffix + ".bak"))
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


async def _answers(path: Path) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 1)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


def _names(request: dict[str, Any], key: str, pattern: re.Pattern[str], what: str) -> list[str]:
    """A request's list of node names or job ids, each checked as an action's targets are."""
    value = request.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of strings")
    for name in value:
        if not pattern.match(name):
            raise ValueError(f"invalid {what} {name!r}")
    return value


def _action_kind(value: object, *, nodes: bool) -> ActionKind | None:
    """The action a re-read follows (optional), which must act on what the request names."""
    if value is None:
        return None
    try:
        kind = ActionKind(str(value))
    except ValueError:
        raise ValueError(f"unknown action {value!r}") from None
    if kind.targets_nodes != nodes:
        raise ValueError(f"{kind.value} acts on {'nodes' if kind.targets_nodes else 'jobs'}")
    return kind
