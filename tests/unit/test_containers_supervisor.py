"""The pod's supervisor (lib.sh): auxiliary services come back with backoff, Slurm decides."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "containers" / "scripts" / "lib.sh"


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Pod:
    """bash running lib.sh's supervisor over the given services, in its own process group."""

    def __init__(self, tmp_path: Path, services: str) -> None:
        self.stderr = tmp_path / "pod.err"
        self.logs = tmp_path / "logs"
        script = (
            f'set -euo pipefail; SCRIPT_NAME=pod; source "{LIB}"; '
            f"SERVICE_PIDS=(); ALL_PIDS=(); {services}; supervise"
        )
        env = {
            "PATH": os.environ["PATH"],
            "SERVICE_BACKOFF_INITIAL_MS": "100",
            "SERVICE_BACKOFF_MAX_MS": "400",
            "STATE": str(tmp_path),
        }
        with self.stderr.open("wb") as err:
            self.process = subprocess.Popen(
                ["bash", "-c", script], env=env, stderr=err, start_new_session=True
            )

    def log(self) -> str:
        return self.stderr.read_text()

    def restarts(self, name: str) -> list[str]:
        return re.findall(rf"{name} exited \(status \d+\); restarting in ([\d.]+)s", self.log())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def pods() -> Iterator[list[Pod]]:
    started: list[Pod] = []
    yield started
    for pod in started:
        pod.stop()


def long_running(pid_name: str) -> str:
    """A service command that records its pid in $STATE/<pid_name>.pid and keeps running."""
    return f"bash -c 'echo $$ > \"$STATE/{pid_name}.pid\"; exec sleep 300'"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_failing_exporter_is_restarted_with_backoff_and_the_pod_stays_up(
    tmp_path: Path, pods: list[Pod]
) -> None:
    pod = Pod(
        tmp_path,
        'start_service slurmctld "$STATE/logs" sleep 300; '
        'start_auxiliary slurm-exporter "$STATE/logs" '
        'bash -c \'echo "run $$" >> "$STATE/runs"; echo "fatal: sacct failed"; exit 1\'',
    )
    pods.append(pod)

    wait_until(lambda: len(pod.restarts("slurm-exporter")) >= 4, 20, "four restarts")

    assert pod.process.poll() is None, pod.log()
    assert pod.restarts("slurm-exporter")[:4] == ["0.100", "0.200", "0.400", "0.400"]
    assert len((tmp_path / "runs").read_text().splitlines()) >= 4
    assert "fatal: sacct failed" in (pod.logs / "slurm-exporter.log").read_text()
    assert "stopping the others" not in pod.log()


def test_vllm_failing_is_reported_while_slurm_keeps_running(
    tmp_path: Path, pods: list[Pod]
) -> None:
    pod = Pod(
        tmp_path,
        f'start_service slurmctld "$STATE/logs" {long_running("ctld")}; '
        'start_auxiliary vllm "$STATE/logs" bash -c \'echo "model download failed"; exit 3\'',
    )
    pods.append(pod)

    wait_until(lambda: len(pod.restarts("vllm")) >= 2, 20, "vLLM to be restarted twice")

    assert re.search(r"vllm exited \(status 3\); restarting in", pod.log())
    assert alive(int((tmp_path / "ctld.pid").read_text()))
    assert pod.process.poll() is None


def test_an_essential_service_exiting_stops_the_pod_and_its_auxiliaries(
    tmp_path: Path, pods: list[Pod]
) -> None:
    pod = Pod(
        tmp_path,
        f'start_auxiliary gpu-exporter "$STATE/logs" {long_running("aux")}; '
        'start_service slurmctld "$STATE/logs" '
        "bash -c 'until [[ -s \"$STATE/aux.pid\" ]]; do sleep 0.05; done; exit 4'",
    )
    pods.append(pod)

    assert pod.process.wait(timeout=20) == 4
    assert "an essential service exited (status 4); stopping the others" in pod.log()
    aux = int((tmp_path / "aux.pid").read_text())
    wait_until(lambda: not alive(aux), 5, "the exporter to be stopped")


def test_an_essential_service_gone_before_supervising_begins_gives_its_own_status(
    tmp_path: Path, pods: list[Pod]
) -> None:
    pod = Pod(
        tmp_path,
        f'start_auxiliary gpu-exporter "$STATE/logs" {long_running("aux")}; '
        "start_service slurmctld \"$STATE/logs\" bash -c 'exit 4'; sleep 0.5",
    )
    pods.append(pod)

    assert pod.process.wait(timeout=20) == 4
    assert "an essential service exited (status 4); stopping the others" in pod.log()


def test_stopping_the_pod_stops_every_service(tmp_path: Path, pods: list[Pod]) -> None:
    pod = Pod(
        tmp_path,
        f'start_service munged "$STATE/logs" {long_running("core")}; '
        f'start_auxiliary collector "$STATE/logs" {long_running("aux")}',
    )
    pods.append(pod)
    wait_until(
        lambda: (tmp_path / "core.pid").exists() and (tmp_path / "aux.pid").exists(),
        10,
        "both services",
    )
    wait_until(lambda: "supervising 2 services" in pod.log(), 10, "the supervisor")

    pod.process.send_signal(signal.SIGTERM)

    assert pod.process.wait(timeout=20) == 0
    for name in ("core.pid", "aux.pid"):
        pid = int((tmp_path / name).read_text())
        wait_until(lambda pid=pid: not alive(pid), 5, f"{name} to stop")
