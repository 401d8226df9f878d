"""Is there a Slurm cluster here? `sinfo` on PATH that answers within a few seconds."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tui.config import Settings

PROBE_TIMEOUT_S = 3.0


def slurm_environment(settings: Settings) -> dict[str, str]:
    """The environment Slurm commands run with: PATH (plus bin_dir) and SLURM_CONF."""
    env = dict(os.environ)
    if settings.slurm.bin_dir:
        env["PATH"] = os.pathsep.join([settings.slurm.bin_dir, env.get("PATH", "")])
    if settings.slurm.conf:
        env["SLURM_CONF"] = settings.slurm.conf
    return env


def slurm_answers(settings: Settings) -> bool:
    if not settings.slurm.enabled:
        return False
    env = slurm_environment(settings)
    sinfo = shutil.which("sinfo", path=env.get("PATH"))
    if sinfo is None:
        return False
    try:
        result = subprocess.run(
            [sinfo, "-h", "-o", "%P"],
            env=env,
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
            cwd=Path.home() if Path.home().exists() else None,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0
