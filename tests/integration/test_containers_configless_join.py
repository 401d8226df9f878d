"""Workers join the head configless across hosts, as pods do on RunPod's network.

The head (real slurmctld, Debian's 22.05) and two workers (real `slurmd -Z --conf-server
ADDR`) each live in their own network namespace with their own hostname and /etc/hosts: no
worker can resolve the head's bare hostname, as on real pods. The head's slurm.conf is
render_config.py's output. After the configless fetch, slurmd contacts the host named in
SlurmctldHost, so only `SlurmctldHost=name(addr)` lets the workers register.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from containers.slurm.render_config import render
from tests.conftest import need, need_binaries
from tests.integration.netns_hosts import Host, Network

pytestmark = pytest.mark.integration

HEAD = "cdhead"
WORKERS = ("cdw1", "cdw2")
GPUS = 2
PORT = 6817  # Slurm's default: each host has its own network, nothing to clash with
HOST_DIRS = ("state", "spool", "log", "run")


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, log: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{log()}")


@dataclass
class Cluster:
    root: Path
    bins: dict[str, str]
    hosts: dict[str, Host]
    conf: Path
    processes: list[subprocess.Popen[bytes]]

    def start(self, host: str, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        out = (self.root / f"{name}.out").open("wb")
        process = subprocess.Popen(
            self.hosts[host].argv(command), stdout=out, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        return process

    def on_head(self, *argv: str) -> subprocess.CompletedProcess[str]:
        command = ["env", f"SLURM_CONF={self.conf}", self.bins[argv[0]], *argv[1:]]
        return subprocess.run(
            self.hosts[HEAD].argv(command), capture_output=True, text=True, timeout=30, check=False
        )

    def logs(self) -> str:
        parts = []
        for path in sorted(self.root.glob("*.out")) + sorted(self.root.glob("hosts/*/log/*")):
            parts.append(f"--- {path.relative_to(self.root)}\n{path.read_text(errors='replace')}")
        return "\n".join(parts)[-8000:]

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def render_head_config(root: Path, head_addr: str | None) -> Path:
    env = {
        "SLURM_HEAD_HOST": HEAD,
        "SLURM_USER": "root",
        "SLURM_STATE_DIR": str(root / "view" / "state"),
        "SLURMD_SPOOL_DIR": str(root / "view" / "spool"),
        "SLURM_LOG_DIR": str(root / "view" / "log"),
        "SLURM_RUN_DIR": str(root / "view" / "run"),
        "SLURM_GPU_FILES": f"{root}/dev/nvidia[0-{GPUS - 1}]",
        "SLURM_COMPAT": "22.05",
        "SLURM_DEF_MEM_PER_CPU_MB": "100",
    }
    if head_addr is not None:
        env["SLURM_HEAD_ADDR"] = head_addr
    render(root / "etc", env)
    return root / "etc" / "slurm.conf"


@contextlib.contextmanager
def cluster_on_hosts(root: Path, *, name_head_by_address: bool) -> Iterator[Cluster]:
    """munged (one key, its socket bound into every host), slurmctld on the head, slurmd on
    each worker; the head's config rendered with or without its address."""
    need(os.geteuid() == 0, "network namespaces and slurmd need root")
    bins = need_binaries(
        "ip", "nsenter", "unshare", "munged", "slurmctld", "slurmd", "sbatch", "sinfo", "scontrol"
    )
    for sub in ("etc", "munge", "dev", *(f"view/{d}" for d in HOST_DIRS)):
        (root / sub).mkdir(parents=True)
    (root / "munge").chmod(0o755)
    key = root / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o400)
    for index in range(GPUS):
        # slurmd accepts only device files as GPUs: a character device like /dev/null.
        os.mknod(root / "dev" / f"nvidia{index}", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    processes: list[subprocess.Popen[bytes]] = []
    with Network(root) as network:
        head = network.add_host(HEAD, 1, {})
        hosts = {HEAD: head}
        for index, worker in enumerate(WORKERS, start=2):
            hosts[worker] = network.add_host(worker, index, {})  # the head's name is unknown
        conf = render_head_config(root, head.address if name_head_by_address else None)
        for name, host in hosts.items():
            host.binds.append((root / "munge", Path("/run/munge")))
            for sub in HOST_DIRS:
                own = root / "hosts" / name / sub
                own.mkdir(parents=True)
                host.binds.append((own, root / "view" / sub))
        cluster = Cluster(root, bins, hosts, conf, processes)
        munged = subprocess.Popen(
            [
                bins["munged"],
                "--foreground",
                "--force",
                f"--key-file={key}",
                f"--socket={root / 'munge' / 'munge.socket.2'}",
                f"--pid-file={root / 'munged.pid'}",
                f"--log-file={root / 'munged.log'}",
                f"--seed-file={root / 'munged.seed'}",
            ]
        )
        processes.append(munged)
        try:
            wait_until(
                (root / "munge" / "munge.socket.2").exists, 10, "munged's socket", cluster.logs
            )
            controller = cluster.start(
                HEAD, "slurmctld", [bins["slurmctld"], "-D", "-i", "-f", str(conf)]
            )
            wait_until(
                lambda: (
                    controller.poll() is not None
                    or "UP" in cluster.on_head("scontrol", "ping").stdout
                ),
                30,
                "slurmctld to answer on the head",
                cluster.logs,
            )
            assert controller.poll() is None, f"slurmctld refused the config:\n{cluster.logs()}"
            for worker in WORKERS:
                cluster.start(
                    worker,
                    f"slurmd-{worker}",
                    [
                        bins["slurmd"],
                        "-D",
                        "-Z",
                        "-N",
                        worker,
                        "--conf-server",
                        f"{head.address}:{PORT}",
                        "--conf",
                        f"Feature=gpu Gres=gpu:{GPUS}",
                    ],
                )
            yield cluster
        finally:
            cluster.stop()


def node_lines(cluster: Cluster) -> dict[str, str]:
    lines = cluster.on_head("sinfo", "-h", "-N", "-o", "%N %t %G %f").stdout.splitlines()
    return {line.split()[0]: line for line in lines if line.split()}


def test_workers_join_a_head_they_can_only_reach_by_address(tmp_path: Path) -> None:
    with cluster_on_hosts(tmp_path, name_head_by_address=True) as cluster:
        conf = cluster.conf.read_text()
        assert f"SlurmctldHost={HEAD}({cluster.hosts[HEAD].address})" in conf

        def both_idle() -> bool:
            lines = node_lines(cluster)
            return all(lines.get(worker, "").split()[1:2] == ["idle"] for worker in WORKERS)

        wait_until(both_idle, 60, "both workers to register idle", cluster.logs)
        for worker in WORKERS:
            assert node_lines(cluster)[worker].split()[2:] == [f"gpu:{GPUS}", "gpu"]

        release = tmp_path / "release"
        jobs = {}
        for worker in WORKERS:
            out = tmp_path / f"job-{worker}.out"
            script = (
                'echo "host=$(hostname) gpus=$SLURM_JOB_GPUS"; '
                f"while [ ! -e {release} ]; do sleep 0.2; done"
            )
            submitted = cluster.on_head(
                "sbatch", "--parsable", f"--gres=gpu:{GPUS}", "-w", worker, "-o", str(out),
                "--wrap", script,
            )  # fmt: skip
            assert submitted.returncode == 0, submitted.stderr
            jobs[worker] = (submitted.stdout.strip(), out)

        for worker, (job, out) in jobs.items():
            wait_until(
                lambda out=out: out.exists() and "host=" in out.read_text(),
                60,
                f"job {job} to run on {worker}",
                cluster.logs,
            )
            assert out.read_text().split() == [f"host={worker}", f"gpus=0,{GPUS - 1}"]
            detail = cluster.on_head("scontrol", "show", "job", "-d", job).stdout
            assert "JobState=RUNNING" in detail, detail
            assert f"GRES=gpu:{GPUS}(IDX:0-{GPUS - 1})" in detail, detail

        release.touch()
        for job, _out in jobs.values():
            wait_until(
                lambda job=job: (
                    "JobState=COMPLETED" in cluster.on_head("scontrol", "show", "job", job).stdout
                ),
                30,
                f"job {job} to complete",
                cluster.logs,
            )


def test_without_the_head_address_a_worker_cannot_register(tmp_path: Path) -> None:
    """The failure the address prevents: the fetched config names a host workers cannot resolve."""
    with cluster_on_hosts(tmp_path, name_head_by_address=False) as cluster:
        slurmd_log = tmp_path / "hosts" / WORKERS[0] / "log" / "slurmd.log"

        def refused() -> bool:
            text = slurmd_log.read_text(errors="replace") if slurmd_log.exists() else ""
            text += (tmp_path / f"slurmd-{WORKERS[0]}.out").read_text(errors="replace")
            return "Unable to register" in text or "Unable to resolve" in text

        wait_until(refused, 60, "the worker to fail to reach the head", cluster.logs)
        assert WORKERS[0] not in node_lines(cluster)
