"""HTTP front of the exporter: GET /metrics (exposition text) and GET /health."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from loguru import logger

from .exporter import GpuExporter
from .nvml_reader import NvmlUnavailable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ExporterServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], exporter: GpuExporter) -> None:
        super().__init__(address, ExporterHandler)
        self.exporter = exporter


class ExporterHandler(BaseHTTPRequestHandler):
    server: ExporterServer

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/metrics":
            self._metrics()
        elif path == "/health":
            healthy = self.server.exporter.healthy()
            self._reply(200 if healthy else 503, "ok\n" if healthy else "NVML unavailable\n")
        else:
            self._reply(404, "not found: try /metrics or /health\n")

    def _metrics(self) -> None:
        try:
            body = self.server.exporter.render()
        except NvmlUnavailable as error:
            self._reply(503, f"{error}\n")
            return
        except Exception as error:  # one bad scrape must never take the exporter down
            logger.exception("scrape failed")
            self._reply(500, f"scrape failed: {type(error).__name__}: {error}\n")
            return
        self._reply(200, body, CONTENT_TYPE)

    def _reply(self, status: int, body: str, content_type: str = "text/plain") -> None:
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("{} {}", self.address_string(), format % args)
