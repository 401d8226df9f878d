"""A scratch root file system laid out like the pod image, for running its start scripts.

The scripts run for real (bash, install, runuser, chown, the real render_config.py) inside a
chroot whose /usr is the host's, read-only, in a private mount namespace; the daemons they
start are stand-ins that record their argv, environment and user, then keep running.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONTAINERS = Path(__file__).resolve().parents[2] / "containers"
SERVICE_UID = 4242

# Records itself, then behaves enough like the daemon for the scripts to go on.
STUB = r"""#!/usr/bin/python3
import json, os, socket, sys, time

name = os.environ.get("STUB_NAME") or os.path.basename(sys.argv[0])
record = {"argv": sys.argv[1:], "env": dict(os.environ), "uid": os.getuid()}
hf_home = os.environ.get("HF_HOME")
if name == "vllm" and hf_home:
    try:
        with open(os.path.join(hf_home, "download-check"), "w") as handle:
            handle.write("model bytes")
        record["hf_home_writable"] = True
    except OSError as error:
        record["hf_home_writable"] = str(error)
with open(f"/stubs-ran/{name}.json", "w") as handle:
    json.dump(record, handle)
if name == "nvidia-smi":
    print("0\n1")
    sys.exit(0)
keep = []
if name == "munged":
    os.makedirs("/run/munge", exist_ok=True)
    server = socket.socket(socket.AF_UNIX)
    server.bind("/run/munge/munge.socket.2")
    keep.append(server)
if name == "slurmctld":
    conf = sys.argv[sys.argv.index("-f") + 1]
    port = next(
        int(line.split("=", 1)[1]) for line in open(conf) if line.startswith("SlurmctldPort=")
    )
    server = socket.create_server(("127.0.0.1", port))
    keep.append(server)
while True:
    time.sleep(60)
"""

APP_PYTHON = """#!/bin/bash
# The image's Python: real for render_config.py, a stand-in for the services (-m MODULE).
if [[ "$1" == *render_config.py ]]; then exec /usr/bin/python3 "$@"; fi
STUB_NAME="python-$2" exec /opt/stubs/stub "$@"
"""

STUBBED = (
    "munged",
    "slurmctld",
    "slurmd",
    "prometheus-slurm-exporter",
    "clusterdash",
    "nvidia-smi",
)


class ScratchRoot:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.stderr = path.parent / f"{path.name}.stderr"
        self.process: subprocess.Popen[bytes] | None = None

    def build(self) -> None:
        root = self.path
        root.mkdir()
        for link in ("bin", "sbin", "lib", "lib64"):
            target = Path("/") / link
            if target.is_symlink():  # merged /usr: everything lives under the bound /usr
                (root / link).symlink_to(target.readlink())
        for directory in ("usr", "dev", "proc", "run", "var/log", "var/spool", "var/lib", "root"):
            (root / directory).mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(mode=0o1777)
        (root / "tmp").chmod(0o1777)
        (root / "stubs-ran").mkdir(mode=0o777)  # stand-ins run as several users
        (root / "stubs-ran").chmod(0o777)
        (root / "workspace").mkdir(mode=0o755)  # RunPod's volume: root-owned
        shutil.copytree("/etc", root / "etc", symlinks=True, ignore_dangling_symlinks=True)
        self._add_users()
        stubs = root / "opt" / "stubs"
        stubs.mkdir(parents=True)
        (stubs / "stub").write_text(STUB)
        (stubs / "stub").chmod(0o755)
        for name in STUBBED:
            (stubs / name).symlink_to("stub")
        vllm_bin = root / "opt" / "vllm" / "bin"
        vllm_bin.mkdir(parents=True)
        (vllm_bin / "vllm").symlink_to("/opt/stubs/stub")
        (root / "opt" / "vllm" / "plugins").mkdir()
        (root / "opt" / "vllm" / "plugins" / "nano_v3_reasoning_parser.py").write_text("# parser\n")
        app = root / "opt" / "clusterdash"
        (app / "bin").mkdir(parents=True)
        (app / "bin" / "python").write_text(APP_PYTHON)
        (app / "bin" / "python").chmod(0o755)
        for part in ("scripts", "slurm", "nginx"):
            shutil.copytree(CONTAINERS / part, app / "containers" / part)

    def _add_users(self) -> None:
        etc = self.path / "etc"
        users = {line.split(":")[0] for line in (etc / "passwd").read_text().splitlines()}
        groups = {line.split(":")[0] for line in (etc / "group").read_text().splitlines()}
        for offset, name in enumerate(("clusterdash", "slurm", "munge")):
            uid = SERVICE_UID + offset
            if name not in groups:
                with (etc / "group").open("a") as handle:
                    handle.write(f"{name}:x:{uid}:\n")
            if name not in users:
                with (etc / "passwd").open("a") as handle:
                    handle.write(f"{name}:x:{uid}:{uid}::/home/{name}:/bin/bash\n")
                with (etc / "shadow").open("a") as handle:
                    handle.write(f"{name}:!:19000::::::\n")
        (self.path / "home" / "clusterdash").mkdir(parents=True)

    def uid_of(self, user: str) -> int:
        for line in (self.path / "etc" / "passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == user:
                return int(fields[2])
        raise KeyError(user)

    def start(self, script: str, env: dict[str, str]) -> None:
        """Run /opt/clusterdash/containers/scripts/SCRIPT as the image's entry would."""
        setup = (
            'set -e; r="$1"; shift; '
            'mount --bind /usr "$r/usr"; mount -o remount,bind,ro "$r/usr"; '
            'mount --rbind /dev "$r/dev"; mount -t proc proc "$r/proc"; '
            'exec chroot "$r" "$@"'
        )
        path = "/opt/stubs:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        argv = [
            "unshare", "--mount", "--propagation", "private", "--",
            "bash", "-c", setup, "_", str(self.path),
            "/usr/bin/env", "-i", f"PATH={path}", "HOME=/root",
            *(f"{key}={value}" for key, value in env.items()),
            f"/opt/clusterdash/containers/scripts/{script}",
        ]  # fmt: skip
        with self.stderr.open("wb") as err:
            self.process = subprocess.Popen(argv, stderr=err, start_new_session=True)

    def log(self) -> str:
        return self.stderr.read_text() if self.stderr.exists() else ""

    def service_logs(self) -> str:
        logs = sorted((self.path / "var" / "log" / "clusterdash").glob("*.log"))
        return "".join(f"--- {log.name}\n{log.read_text()}" for log in logs)

    def ran(self, name: str) -> dict[str, Any]:
        return json.loads((self.path / "stubs-ran" / f"{name}.json").read_text())

    def has_run(self, *names: str) -> bool:
        return all((self.path / "stubs-ran" / f"{name}.json").exists() for name in names)

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"the script exited while waiting for {what}:\n"
                    f"{self.log()}{self.service_logs()}"
                )
            time.sleep(0.1)
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what}:\n{self.log()}{self.service_logs()}"
        )

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(timeout=10)
