"""Several "hosts" on one machine: one network namespace each, joined by a bridge.

Each host has its own address from a private /24 that exists only inside these namespaces,
its own hostname and /etc/hosts (a mount and UTS namespace per process), and its own
directories bound over shared paths, so every host can read the same config file yet keep
its own state. Processes enter with nsenter (not `ip netns exec`, which remounts /sys and
drops the cgroup mounts slurmd needs). Namespaces are named PREFIX<creator pid>-<host>, so a
later run removes those of a killed run without touching a live one.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "cdjoin"
SUBNET = "10.254.213"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


def namespace_inode(name: str) -> int | None:
    try:
        return (Path("/run/netns") / name).stat().st_ino
    except OSError:
        return None


def kill_processes_in(name: str) -> None:
    inode = namespace_inode(name)
    if inode is None:
        return
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (proc / "ns" / "net").stat().st_ino == inode:
                os.kill(int(proc.name), signal.SIGKILL)


def delete_namespace(name: str) -> None:
    kill_processes_in(name)
    subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True, timeout=30)


def remove_leftovers() -> None:
    """Delete namespaces an earlier, killed run of these tests left behind."""
    listing = subprocess.run(
        ["ip", "netns", "list"], check=False, capture_output=True, text=True, timeout=30
    ).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        match = re.fullmatch(rf"{PREFIX}(\d+)-\w+", name)
        if match is None:
            continue
        creator = int(match[1])
        if creator != os.getpid() and not Path(f"/proc/{creator}").exists():
            delete_namespace(name)


@dataclass
class Host:
    name: str
    address: str
    namespace: str
    hosts_file: Path
    binds: list[tuple[Path, Path]] = field(default_factory=list)

    def argv(self, command: list[str]) -> list[str]:
        """COMMAND run on this host: its network, hostname, /etc/hosts and bound directories."""
        # A private /run per host (as each pod has): mount points made there stay there.
        mounts = [
            f"mount --bind {self.hosts_file} /etc/hosts",
            "mount -t tmpfs -o mode=755 tmpfs /run",
        ]
        for source, target in self.binds:
            if target.is_relative_to("/run"):
                mounts.append(f"mkdir -p {target}")
            mounts.append(f"mount --bind {source} {target}")
        setup = f"set -e; hostname {self.name}; " + "; ".join(mounts) + '; exec "$@"'
        return [
            "nsenter", f"--net=/run/netns/{self.namespace}", "--",
            "unshare", "--mount", "--uts", "--propagation", "private", "--",
            "bash", "-c", setup, "_", *command,
        ]  # fmt: skip


class Network:
    """A bridge in a hub namespace and one namespace per host on it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stem = f"{PREFIX}{os.getpid()}-"
        self.hub = f"{self.stem}hub"
        self.hosts: dict[str, Host] = {}

    def __enter__(self) -> Network:
        remove_leftovers()
        for name in list(self._ours()):
            delete_namespace(name)
        ip("netns", "add", self.hub)
        ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        ip("-n", self.hub, "link", "set", "br0", "up")
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self._ours():
            delete_namespace(name)

    def _ours(self) -> list[str]:
        listing = subprocess.run(
            ["ip", "netns", "list"], check=False, capture_output=True, text=True, timeout=30
        ).stdout
        names = [line.split()[0] for line in listing.splitlines() if line.split()]
        return [name for name in names if name.startswith(self.stem)]

    def add_host(self, name: str, index: int, known: dict[str, str]) -> Host:
        """Host NAME at SUBNET.INDEX whose /etc/hosts lists only KNOWN (name -> address)."""
        namespace = f"{self.stem}{name}"
        address = f"{SUBNET}.{index}"
        ip("netns", "add", namespace)
        veth = f"v{index}"
        ip("-n", self.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0",
           "netns", namespace)  # fmt: skip
        ip("-n", self.hub, "link", "set", veth, "master", "br0", "up")
        ip("-n", namespace, "link", "set", "lo", "up")
        ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", namespace, "link", "set", "eth0", "up")
        hosts_file = self.root / f"hosts.{name}"
        entries = {"localhost": "127.0.0.1", name: address} | known
        hosts_file.write_text("".join(f"{addr} {host}\n" for host, addr in entries.items()))
        host = Host(name, address, namespace, hosts_file)
        self.hosts[name] = host
        return host
