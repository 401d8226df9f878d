"""A scripted OpenAI-compatible server on 127.0.0.1 for tests (also serves a vLLM log endpoint).

Each POST /v1/chat/completions takes the next Reply from the script (or asks a callable)
and streams it as SSE chunks exactly like vLLM: `data: {chunk}` lines, then `data: [DONE]`.
Requests are recorded so tests can assert what the model was sent.

    with ScriptedServer([text_reply("hello")]) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="x")
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

MODEL = "test/scripted-model"


@dataclass(frozen=True)
class Call:
    """One tool call to stream; `index` None = its position in the reply."""

    name: str
    arguments: str | dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    index: int | None = None

    @property
    def arguments_text(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class Reply:
    """One scripted response: streamed deltas, or an HTTP error, optionally stalling."""

    deltas: tuple[dict[str, Any], ...] = ()
    finish_reason: str = "stop"
    status: int = 200
    error_message: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    # Send this many deltas, then hang until the client gives up (or the server stops).
    stall_after: int | None = None
    delay_between_s: float = 0.0
    # While stalled, send an SSE keep-alive comment this often (0: send nothing).
    keep_alive_s: float = 0.0


def text_reply(
    *pieces: str, reasoning: Sequence[str] = (), key: str = "reasoning_content"
) -> Reply:
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{key: part} for part in reasoning]
    deltas += [{"content": piece} for piece in pieces]
    return Reply(tuple(deltas))


def tool_reply(
    *calls: Call, pieces: int = 3, text: str = "", same_index: bool = False, reasoning: str = ""
) -> Reply:
    """Tool calls with arguments split into `pieces` chunks each (ids only in the first)."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    if reasoning:
        deltas.append({"reasoning_content": reasoning})
    if text:
        deltas.append({"content": text})
    for position, call in enumerate(calls):
        index = 0 if same_index else (position if call.index is None else call.index)
        call_id = call.id or f"call_{position}"
        args = call.arguments_text
        size = max(1, -(-len(args) // pieces))
        parts = [args[i : i + size] for i in range(0, len(args), size)] or [""]
        first = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": parts[0]},
        }
        deltas.append({"tool_calls": [first]})
        deltas += [
            {"tool_calls": [{"index": index, "function": {"arguments": p}}]} for p in parts[1:]
        ]
    return Reply(tuple(deltas), finish_reason="tool_calls")


def http_error(status: int, message: str = "internal error", retry_after_ms: int = 1) -> Reply:
    return Reply(
        status=status,
        error_message=message,
        headers=(("retry-after-ms", str(retry_after_ms)),),
    )


def stalled_reply(*pieces: str) -> Reply:
    deltas = tuple({"content": piece} for piece in pieces)
    return Reply(deltas, stall_after=len(deltas))


Script = Sequence[Reply] | Callable[[dict[str, Any]], Reply]


class ScriptedServer:
    def __init__(
        self,
        script: Script,
        *,
        model: str = MODEL,
        log_body: str | None = None,
        log_content_type: str = "text/plain",
    ) -> None:
        self._script = script
        self._next = 0
        self.model = model
        self.log_body = log_body
        self.log_content_type = log_content_type
        # Bodies of chat requests, in order; and server-side seconds spent on each.
        self.requests: list[dict[str, Any]] = []
        self.server_times: list[float] = []
        self.log_requests: list[dict[str, list[str]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def next_reply(self, body: dict[str, Any]) -> Reply | None:
        with self._lock:
            self.requests.append(body)
            if callable(self._script):
                return self._script(body)
            if self._next >= len(self._script):
                return None
            reply = self._script[self._next]
            self._next += 1
            return reply

    def wait_stopping(self, seconds: float) -> bool:
        """True once the server is stopping (after at most `seconds`)."""
        return self._stop.wait(seconds)


def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> bytes:
    payload = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _handler_for(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Like uvicorn (vLLM): small SSE writes go out at once, not after a delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send_json(
            self, status: int, payload: Any, headers: Sequence[tuple[str, str]] = ()
        ) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _write_chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/v1/models":
                model = {"id": server.model, "object": "model", "created": 0, "owned_by": "test"}
                self._send_json(200, {"object": "list", "data": [model]})
            elif url.path == "/logs" and server.log_body is not None:
                server.log_requests.append(parse_qs(url.query))
                data = server.log_body.encode()
                self.send_response(200)
                self.send_header("Content-Type", server.log_content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                self._send_json(404, {"error": {"message": f"no route {url.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if urlparse(self.path).path != "/v1/chat/completions":
                self._send_json(404, {"error": {"message": "no such route"}})
                return
            started = time.perf_counter()
            reply = server.next_reply(body)
            if reply is None:
                self._send_json(500, {"error": {"message": "script exhausted"}})
                return
            if reply.status != 200:
                error = {"message": reply.error_message, "type": "server_error"}
                self._send_json(reply.status, {"error": error}, reply.headers)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for position, delta in enumerate(reply.deltas):
                if reply.stall_after is not None and position >= reply.stall_after:
                    break
                self._write_chunk(_chunk(server.model, delta, None))
                if reply.delay_between_s:
                    time.sleep(reply.delay_between_s)
            if reply.stall_after is not None:
                deadline = time.monotonic() + 30
                while reply.keep_alive_s and time.monotonic() < deadline:
                    if server.wait_stopping(reply.keep_alive_s):
                        break
                    try:
                        self._write_chunk(b": keep-alive\n\n")
                    except OSError:
                        break
                else:
                    server.wait_stopping(30)
                self.close_connection = True
                return
            self._write_chunk(_chunk(server.model, {}, reply.finish_reason))
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
            with server._lock:
                server.server_times.append(time.perf_counter() - started)

    return Handler


def _serve_in_child(script: Script, kwargs: dict[str, Any], conn: Any) -> None:
    server = ScriptedServer(script, **kwargs).start()
    conn.send(server.port)
    conn.recv()  # "stop"
    server.stop()
    conn.send((server.requests, server.server_times))


class ScriptedServerProcess:
    """The same server in its own process, so timings do not share the test's GIL (benchmarks).

    `script` must be picklable (a list of Replies or a module-level function). After the
    `with` block, `requests` and `server_times` hold what the child recorded.
    """

    def __init__(self, script: Script, **kwargs: Any) -> None:
        import multiprocessing

        self._ctx = multiprocessing.get_context("spawn")
        self._parent, child = self._ctx.Pipe()
        self._process = self._ctx.Process(
            target=_serve_in_child, args=(script, kwargs, child), daemon=True
        )
        self.port = 0
        self.model = kwargs.get("model", MODEL)
        self.requests: list[dict[str, Any]] = []
        self.server_times: list[float] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ScriptedServerProcess:
        self._process.start()
        if not self._parent.poll(30):
            self._process.kill()
            raise RuntimeError("scripted server process did not start")
        self.port = self._parent.recv()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._parent.send("stop")
            if self._parent.poll(10):
                self.requests, self.server_times = self._parent.recv()
        finally:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
