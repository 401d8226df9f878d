"""Which cluster to show: the simulated one only when asked for, or when there is no Slurm.

A Slurm that is configured or installed but failing (controller down, slow) is still the
real cluster: it is shown with its Slurm source failing, never replaced by simulated data.
Nothing here runs a Slurm command, so a hanging controller never delays start-up.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from tui.config import ConfigError, Settings
from tui.sources.slurm_probe import slurm_environment

DEFAULT_SLURM_CONF = Path("/etc/slurm/slurm.conf")
_CLUSTER_NAME_RE = re.compile(r"^\s*ClusterName\s*=\s*([^\s#]+)", re.IGNORECASE | re.MULTILINE)


class Mode(StrEnum):
    """The simulated cluster, or the real one behind Slurm (and its GPU sources)."""

    DEMO = "demo"
    REAL = "slurm"


@dataclass(frozen=True)
class ModeChoice:
    mode: Mode
    # Set when the simulated cluster was chosen for want of any Slurm: said once on stderr.
    note: str = ""


def choose_mode(settings: Settings, demo_flag: bool, configured: bool = False) -> ModeChoice:
    """--demo / gpu.source = "sim" / no Slurm at all: simulated; anything else: the real one."""
    if demo_flag or settings.gpu.source == "sim":
        return ModeChoice(Mode.DEMO)
    if not settings.slurm.enabled:
        if settings.gpu.targets or settings.gpu.source == "prometheus":
            return ModeChoice(Mode.REAL)
        raise ConfigError(
            "slurm.enabled is false and no GPU source is configured: "
            "set gpu.targets or gpu.source = prometheus (or use --demo)"
        )
    if settings.source_file or configured or slurm_configured(settings):
        return ModeChoice(Mode.REAL)
    if settings.gpu.targets or settings.prometheus.url:
        return ModeChoice(Mode.REAL)
    return ModeChoice(
        Mode.DEMO,
        note="no Slurm here (no config file, no sinfo on PATH, no SLURM_CONF): "
        "showing the simulated cluster",
    )


def resolve_mode(settings: Settings, demo_flag: bool, configured: bool = False) -> Mode:
    """The mode alone, for callers that show no note (the TUI says it in its status bar)."""
    return choose_mode(settings, demo_flag, configured).mode


def requested_mode(settings: Settings, demo_flag: bool) -> Mode:
    """Simulated only when asked for: no fallback, a real cluster that does not answer fails."""
    return Mode.DEMO if demo_flag or settings.gpu.source == "sim" else Mode.REAL


def slurm_configured(settings: Settings) -> bool:
    """sinfo on PATH (or slurm.bin_dir), or a slurm.conf named by config or SLURM_CONF."""
    env = slurm_environment(settings)
    if env.get("SLURM_CONF"):
        return True
    return shutil.which("sinfo", path=env.get("PATH")) is not None


def slurm_cluster_name(settings: Settings) -> str:
    """ClusterName from slurm.conf (read from the file: works with the controller down)."""
    conf = slurm_environment(settings).get("SLURM_CONF") or str(DEFAULT_SLURM_CONF)
    try:
        text = Path(conf).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    match = _CLUSTER_NAME_RE.search(text)
    return match.group(1) if match else ""


def cluster_identity(settings: Settings, mode: Mode, display_name: str) -> str:
    """What a history database remembers as its cluster: Slurm's ClusterName, else the name."""
    if mode == Mode.DEMO:
        return "simulated"
    if settings.slurm.enabled:
        name = slurm_cluster_name(settings)
        if name:
            return name
    return settings.cluster.name or display_name or os.uname().nodename.split(".")[0]


def store_path_for(settings: Settings, mode: Mode) -> Path:
    """The history database: the simulated cluster always gets its own file beside the real one."""
    path = settings.store_path.expanduser()
    if mode != Mode.DEMO:
        return path
    return path.with_name(f"{path.stem}-demo{path.suffix}")
