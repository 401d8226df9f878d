"""Serve the tail of the vLLM log file: GET /logs?lines=N (plain text), GET /health.

    python3 -m vllm_logs.log_server --file /var/log/vllm/vllm.log --port 8002

Read-only: no path in a request ever reaches the file system; only the one file is served.
"""

from __future__ import annotations

import argparse
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from loguru import logger

DEFAULT_LINES = 200
MAX_LINES = 10_000
BLOCK = 64 * 1024
MAX_BYTES = 8 * 1024 * 1024


class BadRequest(ValueError):
    """The query is malformed; the message says how."""


def tail_lines(path: Path, count: int, max_bytes: int = MAX_BYTES) -> list[str]:
    """The last `count` lines of the file, reading backwards at most `max_bytes`."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        data = b""
        while position > 0 and data.count(b"\n") <= count and len(data) < max_bytes:
            step = min(BLOCK, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    lines = data.decode("utf-8", errors="replace").splitlines()
    if position > 0 and lines:
        lines = lines[1:]  # the first line read may be cut
    return lines[-count:] if count else []


def requested_lines(query: str) -> int:
    values = parse_qs(query).get("lines", [str(DEFAULT_LINES)])
    raw = values[-1]
    if not raw.isdigit():
        raise BadRequest(f"lines={raw!r} is not a whole number")
    count = int(raw)
    if not 1 <= count <= MAX_LINES:
        raise BadRequest(f"lines={count} is outside 1..{MAX_LINES}")
    return count


class LogServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], log_file: Path) -> None:
        super().__init__(address, LogHandler)
        self.log_file = log_file


class LogHandler(BaseHTTPRequestHandler):
    server: LogServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/health":
            self._reply(200, "ok\n")
        elif url.path == "/logs":
            self._logs(url.query)
        else:
            self._reply(404, "not found: try /logs?lines=N\n")

    def _logs(self, query: str) -> None:
        try:
            count = requested_lines(query)
        except BadRequest as error:
            self._reply(400, f"{error}\n")
            return
        try:
            lines = tail_lines(self.server.log_file, count)
        except FileNotFoundError:
            self._reply(503, f"no vLLM log yet at {self.server.log_file}\n")
            return
        except OSError as error:
            self._reply(500, f"cannot read the vLLM log: {error.strerror}\n")
            return
        self._reply(200, "".join(f"{line}\n" for line in lines))

    def _reply(self, status: int, body: str) -> None:
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        self._reply(405, "read-only: GET /logs?lines=N\n")

    do_PUT = do_DELETE = do_PATCH = do_POST

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("{} {}", self.address_string(), format % args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the tail of the vLLM log file.")
    parser.add_argument("--file", type=Path, required=True, help="the vLLM log file")
    parser.add_argument("--listen", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8002, help="port (default 8002)")
    args = parser.parse_args(argv)
    try:
        server = LogServer((args.listen, args.port), args.file)
    except OSError as error:
        print(f"log_server: cannot listen on {args.listen}:{args.port}: {error}", file=sys.stderr)
        return 1
    logger.info("serving {} on {}:{}", args.file, args.listen, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
