"""A real, private Slurm cluster on this machine for integration tests.

One munged, one slurmctld and N slurmd (Debian builds slurmd with MULTIPLE_SLURMD, so
several run on one host as `slurmd -N gpu-01`), all in a temporary directory, on high
ports, with fake GPUs (gres.conf File= plain files). Needs root. Clients reach it
through `cluster.env` (SLURM_CONF points at the generated slurm.conf).

    with SlurmCluster(tmp_dir, binaries) as cluster:
        job_id = cluster.submit("--gres=gpu:2", "--wrap", "sleep 300")
        cluster.wait_for(lambda: cluster.job_state(job_id) == "RUNNING", timeout=20)

Every daemon started here, and every job process they spawned, is stopped on exit.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import psutil

GPU_MODEL = "a100"
GPUS_PER_NODE = 8
CPUS_PER_NODE = 16
MEMORY_PER_NODE_MB = 64000
DEF_MEM_PER_CPU_MB = 1000
DEBUG_PARTITION_NODES = 2


class SlurmClusterError(RuntimeError):
    """The cluster could not start; the message says which daemon and shows its log tail."""


def free_ports(count: int) -> list[int]:
    """Distinct high TCP ports that nothing listens on right now (on any address)."""
    sockets: list[socket.socket] = []
    try:
        while len(sockets) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("0.0.0.0", 0))
            if sock.getsockname()[1] >= 20000:
                sockets.append(sock)
            else:
                sock.close()
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def short_hostname() -> str:
    """`hostname -s`, checked to resolve: slurmctld and slurmd both look it up."""
    name = socket.gethostname().split(".")[0]
    try:
        socket.gethostbyname(name)
    except OSError as error:
        raise SlurmClusterError(
            f"this host's name {name!r} does not resolve ({error}); add it to /etc/hosts"
        ) from error
    return name


class SlurmCluster:
    """Start/stop a private Slurm cluster; helpers to submit jobs and wait for states."""

    def __init__(
        self,
        root: Path,
        binaries: Mapping[str, str],
        node_count: int = 4,
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.root = root
        self.binaries = dict(binaries)
        self.node_names: tuple[str, ...] = tuple(f"gpu-{i:02d}" for i in range(1, node_count + 1))
        self.startup_timeout_s = startup_timeout_s
        self.conf_path = root / "etc" / "slurm.conf"
        self.hostname = short_hostname()
        self.cluster_name = "cdtest"
        self.gpu_model = GPU_MODEL
        self.gpus_per_node = GPUS_PER_NODE
        self.cpus_per_node = CPUS_PER_NODE
        self.partitions = ("gpu", "debug")
        self.debug_nodes = self.node_names[:DEBUG_PARTITION_NODES]
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._munge_socket = root / "munge" / "munge.socket"
        self._logs = root / "log"
        bin_dirs = {str(Path(p).parent) for p in self.binaries.values()}
        path = os.pathsep.join([*sorted(bin_dirs), os.environ.get("PATH", "/usr/bin:/bin")])
        # Clients (sinfo, sbatch, the code under test) use this environment.
        self.env: dict[str, str] = {
            **os.environ,
            "SLURM_CONF": str(self.conf_path),
            "PATH": path,
        }
        for var in ("SQUEUE_FORMAT", "SQUEUE_FORMAT2", "SINFO_FORMAT", "SLURM_TIME_FORMAT"):
            self.env.pop(var, None)

    # ---- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if os.geteuid() != 0:
            raise SlurmClusterError("a private Slurm cluster needs root (slurmd runs jobs)")
        # Also stop on interpreter exit, should the owner never reach stop().
        atexit.register(self.stop)
        self._write_files()
        self._start_munged()
        self._start_daemon(
            "slurmctld", [self.binaries["slurmctld"], "-D", "-i", "-f", str(self.conf_path)]
        )
        self.wait_for(self._controller_answers, self.startup_timeout_s, what="slurmctld to answer")
        for node in self.node_names:
            self._start_daemon(
                f"slurmd-{node}",
                [self.binaries["slurmd"], "-D", "-N", node, "-f", str(self.conf_path)],
            )
        self.wait_for(self._all_nodes_idle, self.startup_timeout_s, what="all nodes idle")

    def stop(self) -> None:
        """Cancel jobs, stop every daemon started here, then kill anything left over."""
        if "slurmctld" in self._processes and self._processes["slurmctld"].poll() is None:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self.run(["scancel", "--full", "--quiet", "--user", "root"], check=False, timeout=5)
        for name in sorted(self._processes, key=lambda n: (n == "munged", n == "slurmctld")):
            self._terminate(self._processes[name])
        self._processes.clear()
        self._kill_stragglers()
        atexit.unregister(self.stop)

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def daemon_pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self._processes.items()}

    def processes_left(self) -> list[psutil.Process]:
        """Processes (daemons, slurmstepd, job steps) still tied to this cluster's config."""
        marker = str(self.conf_path)
        found = []
        for proc in psutil.process_iter(["pid"]):
            if proc.pid == os.getpid():
                continue
            try:
                env = proc.environ()
                cmdline = proc.cmdline()
            except (psutil.Error, OSError):
                continue
            if env.get("SLURM_CONF") == marker or marker in cmdline:
                found.append(proc)
        return found

    def _kill_stragglers(self) -> None:
        """slurmstepd and job processes outlive slurmd; they all carry our SLURM_CONF."""
        victims = self.processes_left()
        for proc in victims:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(victims, timeout=5)

    # ---- configuration -----------------------------------------------------------------

    def _write_files(self) -> None:
        for sub in ("etc", "munge", "log", "state", "spool", "run", "dev"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "munge").chmod(0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o400)
        for index in range(self.gpus_per_node):
            (self.root / "dev" / f"nvidia{index}").touch()
        ctl_port, *node_ports = free_ports(1 + len(self.node_names))
        self.ctl_port = ctl_port
        self.node_ports = dict(zip(self.node_names, node_ports, strict=True))
        (self.root / "etc" / "gres.conf").write_text(
            f"Name=gpu Type={self.gpu_model} "
            f"File={self.root / 'dev'}/nvidia[0-{self.gpus_per_node - 1}]\n"
        )
        self.conf_path.write_text(self._slurm_conf())

    def _slurm_conf(self) -> str:
        root = self.root
        host = self.hostname
        lines = [
            f"ClusterName={self.cluster_name}",
            f"SlurmctldHost={host}(127.0.0.1)",
            f"SlurmctldPort={self.ctl_port}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self._munge_socket}",
            f"StateSaveLocation={root / 'state'}",
            f"SlurmdSpoolDir={root / 'spool'}/%n",
            f"SlurmctldPidFile={root / 'run'}/slurmctld.pid",
            f"SlurmdPidFile={root / 'run'}/slurmd-%n.pid",
            f"SlurmctldLogFile={self._logs}/slurmctld.log",
            f"SlurmdLogFile={self._logs}/slurmd-%n.log",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "ProctrackType=proctrack/pgid",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "SwitchType=switch/none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            f"DefMemPerCPU={DEF_MEM_PER_CPU_MB}",
            "GresTypes=gpu",
            "SlurmdParameters=config_overrides",
            "ReturnToService=2",
            "SlurmdTimeout=30",
            "SlurmctldTimeout=30",
            "MessageTimeout=10",
            "InactiveLimit=0",
            "KillWait=2",
            "MinJobAge=300",
            "RebootProgram=/bin/true",
            "",
        ]
        for node, port in self.node_ports.items():
            lines.append(
                f"NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 Port={port} "
                f"CPUs={self.cpus_per_node} Sockets=2 CoresPerSocket={self.cpus_per_node // 2} "
                f"ThreadsPerCore=1 RealMemory={MEMORY_PER_NODE_MB} "
                f"Gres=gpu:{self.gpu_model}:{self.gpus_per_node} State=UNKNOWN"
            )
        all_nodes = ",".join(self.node_names)
        lines += [
            f"PartitionName=gpu Nodes={all_nodes} Default=YES MaxTime=INFINITE State=UP",
            f"PartitionName=debug Nodes={','.join(self.debug_nodes)} MaxTime=60 State=UP",
            "",
        ]
        return "\n".join(lines)

    # ---- daemons -----------------------------------------------------------------------

    def _start_munged(self) -> None:
        munge_dir = self.root / "munge"
        self._start_daemon(
            "munged",
            [
                self.binaries["munged"],
                "--foreground",
                "--force",
                f"--key-file={munge_dir / 'munge.key'}",
                f"--socket={self._munge_socket}",
                f"--pid-file={munge_dir / 'munged.pid'}",
                f"--log-file={self._logs / 'munged.log'}",
                f"--seed-file={munge_dir / 'munged.seed'}",
            ],
        )
        self.wait_for(self._munge_socket.exists, 10, what="munged socket")

    def _start_daemon(self, name: str, argv: Sequence[str]) -> None:
        log = (self._logs / f"{name}.out").open("wb")
        with log:
            self._processes[name] = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )

    def _check_daemons(self) -> None:
        for name, process in self._processes.items():
            if process.poll() is not None:
                raise SlurmClusterError(
                    f"{name} exited with status {process.returncode}: {self.log_tail(name)}"
                )

    def log_tail(self, name: str, lines: int = 5) -> str:
        candidates = [self._logs / f"{name}.log", self._logs / f"{name}.out"]
        for path in candidates:
            if path.exists() and path.stat().st_size:
                return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def _controller_answers(self) -> bool:
        return self.run(["scontrol", "ping"], check=False).returncode == 0

    def _all_nodes_idle(self) -> bool:
        states = self.node_states()
        return len(states) == len(self.node_names) and all(s == "idle" for s in states.values())

    # ---- client helpers ----------------------------------------------------------------

    def run(
        self, argv: Sequence[str], check: bool = True, timeout: float = 15
    ) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client command against this cluster."""
        result = subprocess.run(
            list(argv), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise SlurmClusterError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
        return result

    def submit(self, *argv: str) -> str:
        """sbatch with the given arguments; returns the job id."""
        workdir = self.root / "jobs"
        workdir.mkdir(exist_ok=True)
        out = self.run(
            ["sbatch", "--parsable", f"--chdir={workdir}", "--output=/dev/null", *argv]
        ).stdout
        return out.strip().split(";")[0]

    def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 20,
        interval: float = 0.2,
        what: str = "condition",
    ) -> None:
        """Poll `predicate` until true; fail naming `what` (and any dead daemon) on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_daemons()
            if predicate():
                return
            if time.monotonic() > deadline:
                raise SlurmClusterError(f"timed out after {timeout:g}s waiting for {what}")
            time.sleep(interval)

    def node_states(self) -> dict[str, str]:
        """node -> sinfo's long state ('idle', 'drained', 'mixed', ...), one entry per node."""
        result = self.run(["sinfo", "-N", "-h", "-o", "%N|%T"], check=False)
        states: dict[str, str] = {}
        for line in result.stdout.splitlines():
            node, _, state = line.partition("|")
            states[node] = state.rstrip("*~#!%$@^-")
        return states

    def node_reason(self, node: str) -> str:
        result = self.run(["sinfo", "-N", "-h", "-n", node, "-o", "%E"])
        return result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""

    def job_state(self, job_id: str) -> str:
        """squeue's state for a job ('' once it has left the queue)."""
        result = self.run(["squeue", "-h", "-j", job_id, "-o", "%T"], check=False)
        return result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""

    def job_reason(self, job_id: str) -> str:
        result = self.run(["squeue", "-h", "-j", job_id, "-o", "%r"], check=False)
        return result.stdout.strip()

    def cancel_all(self) -> None:
        self.run(["scancel", "--user", "root"], check=False)
        self.wait_for(lambda: not self.run(["squeue", "-h"]).stdout.strip(), 20, what="empty queue")

    def reset_nodes(self) -> None:
        """Resume drained nodes so one test's drain does not leak into the next."""
        for node, state in self.node_states().items():
            if "drain" in state or state in ("down", "fail"):
                self.run(["scontrol", "update", f"NodeName={node}", "State=RESUME"], check=False)


def find_binaries(names: Sequence[str]) -> dict[str, str]:
    """Executables by name, searching sbin too; missing ones are left out."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin"])
    found = {}
    for name in names:
        path = shutil.which(name, path=search)
        if path:
            found[name] = path
    return found
