"""Write slurm.conf and gres.conf for the configless head from environment variables.

    python3 render_config.py --out /etc/slurm

Standard library only: it runs in the pod's entrypoint before anything else is up. Workers
need no files: `slurmd --conf-server` fetches these from the head. Bad input: one line on
stderr naming the variable, exit status 2.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
ADDRESS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,253}$")
SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/%\[\]-]*$")

# Options slurm.conf may carry for 23.11 that Slurm 22.05 rejects or treats differently.
# SLURM_COMPAT=22.05 drops them (used to validate the output against Debian's 22.05 daemons).
# The list grows only with options a real 22.05 slurmctld was seen to refuse.
NOT_IN_22_05: frozenset[str] = frozenset()

COMPAT_LEVELS = ("23.11", "22.05")


class ConfigError(ValueError):
    """A variable is missing or malformed; the message names it."""


@dataclass(frozen=True)
class SlurmSettings:
    cluster_name: str
    head_host: str
    head_addr: str | None
    ctld_port: int
    slurmd_port: int
    partition: str
    max_nodes: int
    slurm_user: str
    state_dir: str
    spool_dir: str
    log_dir: str
    run_dir: str
    munge_socket: str | None
    gpu_files: str | None
    def_mem_per_cpu_mb: int
    compat: str


def _name(env: Mapping[str, str], key: str, default: str | None = None) -> str:
    value = env.get(key, default)
    if not value:
        raise ConfigError(f"{key} is required (a host or cluster name)")
    if not NAME.match(value):
        raise ConfigError(f"{key}={value!r} is not a valid name (letters, digits, . _ -)")
    return value


def _int(env: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = env.get(key, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{key}={value} is outside {low}..{high}")
    return value


def _path(env: Mapping[str, str], key: str, default: str | None) -> str | None:
    value = env.get(key, default)
    if value is None or value == "":
        return None
    if not SAFE_PATH.match(value):
        raise ConfigError(f"{key}={value!r} is not an absolute path of plain characters")
    return value.rstrip("/") or "/"


def _required_path(env: Mapping[str, str], key: str, default: str) -> str:
    value = _path(env, key, default)
    assert value is not None
    return value


def settings_from_env(env: Mapping[str, str]) -> SlurmSettings:
    """Read and validate every variable; raise ConfigError naming the first bad one."""
    head_addr = env.get("SLURM_HEAD_ADDR") or None
    if head_addr is not None and not ADDRESS.match(head_addr):
        raise ConfigError(f"SLURM_HEAD_ADDR={head_addr!r} is not a host name or IP address")
    compat = env.get("SLURM_COMPAT", "23.11")
    if compat not in COMPAT_LEVELS:
        raise ConfigError(f"SLURM_COMPAT={compat!r} must be one of {', '.join(COMPAT_LEVELS)}")
    gpu_files = env.get("SLURM_GPU_FILES") or None
    if gpu_files is not None and not SAFE_PATH.match(gpu_files):
        raise ConfigError(
            f"SLURM_GPU_FILES={gpu_files!r} is not a device path like /dev/nvidia[0-7]"
        )
    return SlurmSettings(
        cluster_name=_name(env, "SLURM_CLUSTER_NAME", "clusterdash").lower(),
        head_host=_name(env, "SLURM_HEAD_HOST"),
        head_addr=head_addr,
        ctld_port=_int(env, "SLURMCTLD_PORT", 6817, 1024, 65535),
        slurmd_port=_int(env, "SLURMD_PORT", 6818, 1024, 65535),
        partition=_name(env, "SLURM_PARTITION", "gpu"),
        max_nodes=_int(env, "SLURM_MAX_NODES", 64, 1, 65000),
        slurm_user=_name(env, "SLURM_USER", "slurm"),
        state_dir=_required_path(env, "SLURM_STATE_DIR", "/var/spool/slurmctld"),
        spool_dir=_required_path(env, "SLURMD_SPOOL_DIR", "/var/spool/slurmd"),
        log_dir=_required_path(env, "SLURM_LOG_DIR", "/var/log/slurm"),
        run_dir=_required_path(env, "SLURM_RUN_DIR", "/run/slurm"),
        munge_socket=_path(env, "MUNGE_SOCKET", None),
        gpu_files=gpu_files,
        def_mem_per_cpu_mb=_int(env, "SLURM_DEF_MEM_PER_CPU_MB", 2048, 1, 10_000_000),
        compat=compat,
    )


def slurm_conf(settings: SlurmSettings) -> str:
    s = settings
    controller = f"{s.head_host}({s.head_addr})" if s.head_addr else s.head_host
    options: list[tuple[str, str]] = [
        ("ClusterName", s.cluster_name),
        ("SlurmctldHost", controller),
        ("SlurmctldPort", str(s.ctld_port)),
        ("SlurmdPort", str(s.slurmd_port)),
        # Workers fetch this file (and gres.conf) from the head: `slurmd --conf-server`.
        ("SlurmctldParameters", "enable_configless"),
        ("SlurmUser", s.slurm_user),
        ("AuthType", "auth/munge"),
        ("CredType", "cred/munge"),
        ("StateSaveLocation", s.state_dir),
        ("SlurmdSpoolDir", s.spool_dir),
        ("SlurmctldPidFile", f"{s.run_dir}/slurmctld.pid"),
        ("SlurmdPidFile", f"{s.run_dir}/slurmd.pid"),
        ("SlurmctldLogFile", f"{s.log_dir}/slurmctld.log"),
        ("SlurmdLogFile", f"{s.log_dir}/slurmd.log"),
        # Pods have no writable cgroup tree: track processes without cgroups.
        ("ProctrackType", "proctrack/linuxproc"),
        ("TaskPlugin", "task/none"),
        ("JobAcctGatherType", "jobacct_gather/none"),
        ("AccountingStorageType", "accounting_storage/none"),
        ("JobCompType", "jobcomp/none"),
        ("MpiDefault", "none"),
        ("MailProg", "/bin/true"),
        ("SchedulerType", "sched/backfill"),
        ("SelectType", "select/cons_tres"),
        ("SelectTypeParameters", "CR_Core_Memory"),
        ("DefMemPerCPU", str(s.def_mem_per_cpu_mb)),
        ("GresTypes", "gpu"),
        # Dynamic nodes (`slurmd -Z`): workers register with their real CPUs, memory, GPUs.
        ("MaxNodeCount", str(s.max_nodes)),
        ("TreeWidth", "65533"),
        ("CommunicationParameters", "NoAddrCache"),
        ("ReturnToService", "2"),
        ("SlurmctldTimeout", "120"),
        ("SlurmdTimeout", "300"),
    ]
    if s.munge_socket:
        options.append(("AuthInfo", f"socket={s.munge_socket}"))
    if s.compat == "22.05":
        options = [(key, value) for key, value in options if key not in NOT_IN_22_05]
    lines = ["# Generated by render_config.py from the pod's environment; do not edit."]
    lines += [f"{key}={value}" for key, value in options]
    lines += [
        # Workers start with `--conf "Feature=gpu ..."`; the node set gathers them.
        "NodeSet=gpunodes Feature=gpu",
        f"PartitionName={s.partition} Nodes=gpunodes Default=YES MaxTime=INFINITE State=UP",
    ]
    return "\n".join(lines) + "\n"


def gres_conf(settings: SlurmSettings) -> str:
    header = "# Generated by render_config.py; do not edit.\n"
    if settings.gpu_files:
        return header + f"Name=gpu File={settings.gpu_files}\n"
    # Needs Slurm built --with-nvml: GPUs, types and cores found through NVML.
    return header + "AutoDetect=nvml\n"


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` in one step so a reader never sees half a file; same text, same file."""
    if path.exists() and path.read_text() == text:
        return
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    Path(temporary).chmod(0o644)
    Path(temporary).replace(path)


def render(out: Path, env: Mapping[str, str]) -> list[Path]:
    settings = settings_from_env(env)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("slurm.conf", slurm_conf(settings)), ("gres.conf", gres_conf(settings))):
        write_atomically(out / name, text)
        written.append(out / name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    args = parser.parse_args(argv)
    try:
        written = render(args.out, os.environ)
    except ConfigError as error:
        print(f"render_config: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"render_config: cannot write to {args.out}: {error.strerror}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
