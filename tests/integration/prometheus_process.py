"""A real Prometheus on loopback for the dashboard tests, and the queries the dashboards hold."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import need_binaries
from tests.ports import free_port

DASHBOARDS = Path(__file__).resolve().parents[2] / "containers" / "grafana" / "dashboards"


def api(base: str, path: str, **params: str) -> dict[str, Any]:
    """One Prometheus HTTP API answer as JSON (error answers included)."""
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as error:
        body = json.load(error)
    return body


def dashboard_queries() -> list[tuple[str, str]]:
    """(dashboard: panel title, PromQL) for every panel target of every Grafana dashboard."""
    queries = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                queries.append((f"{path.stem}: {panel['title']}", target["expr"]))
    return queries


@contextmanager
def running_prometheus(
    config_file: Path,
    tmp_path: Path,
    *,
    ready_query: str,
    ready: Callable[[list[Any]], bool],
    not_ready: str,
    flags: Sequence[str] = (),
    ready_timeout_s: float = 30.0,
) -> Iterator[str]:
    """Prometheus with `config_file`, its base URL once `ready(result of ready_query)` holds.

    Fails with `not_ready` (and the log's tail if the process died) after `ready_timeout_s`.
    """
    binary = need_binaries("prometheus")["prometheus"]
    port = free_port()
    log_path = tmp_path / "prometheus.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            *flags,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()[-2000:]
            try:
                answer = api(base, "/api/v1/query", query=ready_query)
            except (OSError, ValueError):
                # Not listening, too busy to answer within the timeout (a loaded machine
                # while it scrapes a whole simulated fleet), or not ready to answer JSON.
                answer = {}
            if ready(answer.get("data", {}).get("result") or []):
                break
            time.sleep(0.25)
        else:
            raise AssertionError(not_ready)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
