"""The head's read-only vLLM log endpoint, over a real loopback HTTP server."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from containers.vllm_logs.log_server import LogServer, tail_lines


def fetch(url: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "vllm.log"
    path.write_text("".join(f"INFO line {number}\n" for number in range(1, 1001)))
    return path


@pytest.fixture
def base_url(log_file: Path) -> Iterator[str]:
    server = LogServer(("127.0.0.1", 0), log_file)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_returns_the_last_n_lines(base_url: str) -> None:
    status, body = fetch(f"{base_url}/logs?lines=3")
    assert status == 200
    assert body == "INFO line 998\nINFO line 999\nINFO line 1000\n"


def test_default_is_the_last_200_lines(base_url: str) -> None:
    lines = fetch(f"{base_url}/logs")[1].splitlines()
    assert len(lines) == 200
    assert lines[0] == "INFO line 801"


def test_follows_the_file_as_vllm_appends(base_url: str, log_file: Path) -> None:
    with log_file.open("a") as handle:
        handle.write("ERROR CUDA out of memory\n")
    assert fetch(f"{base_url}/logs?lines=1")[1] == "ERROR CUDA out of memory\n"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("lines=0", "lines=0 is outside 1..10000\n"),
        ("lines=10001", "lines=10001 is outside 1..10000\n"),
        ("lines=-5", "lines='-5' is not a whole number\n"),
        ("lines=ten", "lines='ten' is not a whole number\n"),
    ],
)
def test_bad_line_counts_get_a_one_line_400(base_url: str, query: str, message: str) -> None:
    assert fetch(f"{base_url}/logs?{query}") == (400, message)


def test_is_read_only_and_serves_nothing_else(base_url: str, log_file: Path) -> None:
    before = log_file.read_text()
    assert fetch(f"{base_url}/logs", method="POST")[0] == 405
    assert fetch(f"{base_url}/logs", method="DELETE")[0] == 405
    assert fetch(f"{base_url}/../../etc/passwd")[0] == 404
    assert fetch(f"{base_url}/logs/../vllm.log")[0] == 404
    assert log_file.read_text() == before
    assert fetch(f"{base_url}/health") == (200, "ok\n")


def test_missing_log_is_503_until_vllm_writes_it(base_url: str, log_file: Path) -> None:
    log_file.unlink()
    status, body = fetch(f"{base_url}/logs")
    assert status == 503
    assert body.startswith("no vLLM log yet at ")
    log_file.write_text("starting\n")
    assert fetch(f"{base_url}/logs") == (200, "starting\n")


def test_tail_reads_long_lines_across_blocks(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    lines = [f"{number:04d}" + "x" * 3000 for number in range(400)]
    path.write_text("\n".join(lines))  # vLLM may still be writing the last line
    assert tail_lines(path, 50) == lines[-50:]
    assert tail_lines(path, 1000) == lines


def test_tail_never_reads_more_than_its_byte_budget(tmp_path: Path) -> None:
    path = tmp_path / "huge.log"
    path.write_text(("y" * 1000 + "\n") * 2000)
    tail = tail_lines(path, 10_000, max_bytes=100_000)
    assert 90 <= len(tail) <= 170
    assert all(line == "y" * 1000 for line in tail)
