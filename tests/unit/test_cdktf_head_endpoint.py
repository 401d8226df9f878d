"""`make apply` waits for the head pod against a local stand-in for RunPod's REST API."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.unit.cdktf_support import use_cdktf_sources

use_cdktf_sources()

from clusterdash_infra.commands import report_head  # noqa: E402
from clusterdash_infra.head_endpoint import (  # noqa: E402
    HeadEndpoint,
    HeadNotReady,
    endpoint_from_pod,
    wait_for_head,
)

API_KEY = "rpa_test_key"
POD_ID = "headpod01"


class FakeRunpod:
    """GET /pods/<id>: the pod initializing (no IP, no ports) for `initializing` polls."""

    def __init__(self, ssh_port: int, initializing: int) -> None:
        self.ssh_port = ssh_port
        self.initializing = initializing
        self.requests: list[tuple[str, str | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append((self.path, self.headers.get("Authorization")))
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    self.send_response(401)
                    self.end_headers()
                    return
                if self.path != f"/pods/{POD_ID}":
                    self.send_response(404)
                    self.end_headers()
                    return
                if len(fake.requests) <= fake.initializing:
                    pod = {"id": POD_ID, "desiredStatus": "RUNNING", "publicIp": ""}
                else:
                    pod = {
                        "id": POD_ID,
                        "publicIp": "127.0.0.1",
                        "portMappings": {"22": fake.ssh_port},
                    }
                body = json.dumps(pod).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ssh_listener() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield int(server.getsockname()[1])


@pytest.fixture
def runpod(ssh_listener: int) -> Iterator[FakeRunpod]:
    fake = FakeRunpod(ssh_listener, initializing=2)
    yield fake
    fake.close()


def test_waits_while_the_pod_initializes_then_gives_ip_and_mapped_ssh_port(
    runpod: FakeRunpod, ssh_listener: int
) -> None:
    endpoint = wait_for_head(POD_ID, API_KEY, api_url=runpod.url, timeout=30, interval=0.05)

    assert endpoint == HeadEndpoint("127.0.0.1", ssh_listener)
    assert endpoint.dashboard_command() == f"ssh -t -p {ssh_listener} root@127.0.0.1 clusterdash"
    assert len(runpod.requests) == 3
    assert all(auth == f"Bearer {API_KEY}" for _path, auth in runpod.requests)


def test_a_head_that_never_answers_ends_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = int(sock.getsockname()[1])
    fake = FakeRunpod(closed_port, initializing=0)
    try:
        with pytest.raises(HeadNotReady) as raised:
            wait_for_head(POD_ID, API_KEY, api_url=fake.url, timeout=0.3, interval=0.05)
    finally:
        fake.close()
    message = str(raised.value)
    assert "\n" not in message
    assert f"head pod {POD_ID} not reachable after 0s" in message
    assert f"127.0.0.1:{closed_port} refuses connections" in message


def test_a_wrong_api_key_is_named(runpod: FakeRunpod) -> None:
    with pytest.raises(HeadNotReady, match="RunPod answered HTTP 401"):
        wait_for_head(POD_ID, "wrong", api_url=runpod.url, timeout=0.2, interval=0.05)


@pytest.mark.parametrize(
    "pod",
    [
        {"publicIp": "", "portMappings": {"22": 40123}},
        {"publicIp": "203.0.113.9", "portMappings": None},
        {"publicIp": "203.0.113.9", "portMappings": {"8000": 40000}},
        {"publicIp": "203.0.113.9", "portMappings": {"22": "x"}},
    ],
)
def test_an_initializing_pod_has_no_endpoint(pod: dict[str, object]) -> None:
    assert endpoint_from_pod(pod) is None


def test_apply_prints_the_real_dashboard_command(
    tmp_path: Path,
    runpod: FakeRunpod,
    ssh_listener: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    terraform = tmp_path / "terraform"
    terraform.write_text(f'#!/bin/sh\n[ "$3 $4" = "-raw head_pod_id" ] && echo {POD_ID}\n')
    terraform.chmod(0o755)

    status = report_head(
        str(terraform),
        tmp_path,
        "clusterdash",
        {"TF_VAR_runpod_api_key": API_KEY},
        {"RUNPOD_API_URL": runpod.url, "APPLY_WAIT_SECONDS": "30"},
    )

    assert status == 0
    out = capsys.readouterr().out
    assert f"dashboard: ssh -t -p {ssh_listener} root@127.0.0.1 clusterdash" in out
    assert "root@ clusterdash" not in out
