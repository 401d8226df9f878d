"""The head's generated slurm.conf/gres.conf run a real slurmctld, and a dynamic worker joins.

Debian's Slurm is 22.05 while the image builds 23.11: the generator's SLURM_COMPAT=22.05 drops
the options listed in render_config.NOT_IN_22_05 (none so far). Debian builds Slurm without
NVML, so gres.conf lists plain files here (SLURM_GPU_FILES) instead of AutoDetect=nvml. The
worker registers like the pod's does (`slurmd -Z --conf "Feature=gpu Gres=gpu:N"`), but reads
the file directly: a configless fetch would need munged on its default socket in /run.
Then the GPU exporter's job map is checked against the real squeue/scontrol.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from containers.gpu_exporter.slurm_jobs import SlurmJobMap
from containers.slurm.render_config import render
from tests.conftest import need, need_binaries
from tests.ports import free_port

pytestmark = pytest.mark.integration

WORKER = "cdw1"
GPUS = 2


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Daemons:
    """Processes started by this test, and the job processes they leave behind."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.out").open("wb")
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        marker = str(self.root)
        leftovers = []
        for proc in psutil.process_iter(["pid"]):
            if proc.pid == os.getpid():
                continue
            with contextlib.suppress(psutil.Error, OSError):
                if marker in proc.environ().get("SLURM_CONF", "") or any(
                    marker in item.path for item in proc.open_files()
                ):
                    leftovers.append(proc)
        for proc in leftovers:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(leftovers, timeout=5)


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    need(os.geteuid() == 0, "slurmd needs root")
    bins = need_binaries("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
    host = socket.gethostname().split(".")[0]
    for sub in ("state", "spool", "log", "run", "dev", "etc", "munge"):
        (tmp_path / sub).mkdir()
    (tmp_path / "munge").chmod(0o700)
    key = tmp_path / "munge" / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o400)
    for index in range(GPUS):
        (tmp_path / "dev" / f"nvidia{index}").touch()
    sock = tmp_path / "munge" / "munge.sock"
    env = {
        "SLURM_HEAD_HOST": host,
        "SLURMCTLD_PORT": str(free_port()),
        "SLURMD_PORT": str(free_port()),
        "SLURM_USER": "root",
        "SLURM_STATE_DIR": str(tmp_path / "state"),
        "SLURMD_SPOOL_DIR": str(tmp_path / "spool"),
        "SLURM_LOG_DIR": str(tmp_path / "log"),
        "SLURM_RUN_DIR": str(tmp_path / "run"),
        "MUNGE_SOCKET": str(sock),
        "SLURM_GPU_FILES": f"{tmp_path}/dev/nvidia[0-{GPUS - 1}]",
        "SLURM_COMPAT": "22.05",
        "SLURM_DEF_MEM_PER_CPU_MB": "100",
    }
    render(tmp_path / "etc", env)
    conf = str(tmp_path / "etc" / "slurm.conf")
    monkeypatch.setenv("SLURM_CONF", conf)
    daemons = Daemons(tmp_path)
    try:
        daemons.start(
            "munged",
            [
                bins["munged"],
                "--foreground",
                "--force",
                f"--key-file={key}",
                f"--socket={sock}",
                f"--pid-file={tmp_path / 'munge' / 'munged.pid'}",
                f"--log-file={tmp_path / 'log' / 'munged.log'}",
                f"--seed-file={tmp_path / 'munge' / 'munged.seed'}",
            ],
        )
        wait_until(sock.exists, 10, "munged's socket")
        controller = daemons.start("slurmctld", [bins["slurmctld"], "-D", "-i", "-f", conf])
        wait_until(
            lambda: controller.poll() is not None or scontrol_answers(bins["scontrol"]),
            15,
            "slurmctld to answer",
        )
        log = (tmp_path / "slurmctld.out").read_text()
        assert controller.poll() is None, f"slurmctld refused the generated config:\n{log}"
        daemons.start(
            "slurmd",
            [
                bins["slurmd"],
                "-D",
                "-Z",
                "-N",
                WORKER,
                "-f",
                conf,
                "--conf",
                f"Feature=gpu Gres=gpu:{GPUS}",
            ],
        )
        yield bins
    finally:
        daemons.stop()


def scontrol_answers(scontrol: str) -> bool:
    result = subprocess.run([scontrol, "ping"], capture_output=True, text=True, check=False)
    return "UP" in result.stdout


def run(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True).stdout


def test_generated_config_runs_slurm_and_a_dynamic_gpu_worker_joins(
    cluster: dict[str, str],
) -> None:
    config = run(cluster["scontrol"], "show", "config")
    assert "enable_configless" in config
    assert "select/cons_tres" in config

    def worker_idle() -> bool:
        line = run(cluster["sinfo"], "-h", "-N", "-n", WORKER, "-o", "%t %c %G %f %P")
        return line.startswith("idle")

    wait_until(worker_idle, 15, f"{WORKER} to register idle")
    _state, cpus, gres, features, partition = run(
        cluster["sinfo"], "-h", "-N", "-n", WORKER, "-o", "%t %c %G %f %P"
    ).split()
    assert int(cpus) == os.cpu_count()
    assert gres == f"gpu:{GPUS}"
    assert features == "gpu"
    assert partition == "gpu*"

    job = run(
        cluster["sbatch"], "--parsable", "--gres=gpu:2", "-o", "/dev/null", "--wrap", "sleep 60"
    ).strip()
    wait_until(
        lambda: run(cluster["squeue"], "-h", "-j", job, "-o", "%T").strip() == "RUNNING",
        15,
        f"job {job} to run",
    )

    assert SlurmJobMap(WORKER).jobs_by_gpu() == {0: job, 1: job}
    subprocess.run([cluster["scontrol"], "cancel", job], check=False, capture_output=True)
