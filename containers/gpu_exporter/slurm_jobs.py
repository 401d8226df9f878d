"""Which Slurm job holds each GPU of this host, from `squeue` and `scontrol show job -d`.

Slurm's GPU indices (IDX) are taken to be NVML indices: with gres.conf AutoDetect=nvml both
enumerate devices in PCI bus order.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

from loguru import logger

Runner = Callable[[Sequence[str]], str]
CACHE_SECONDS = 5.0
COMMAND_TIMEOUT_S = 5.0

_JOB_ID = re.compile(r"^\d+(_\d+)?$")
_NODE_LINE = re.compile(r"^\s*Nodes=(\S+)\s.*?\bGRES=(\S+)", re.MULTILINE)
_GPU_IDX = re.compile(r"gpu(?::[^:(\s]+)?(?::\d+)?\(IDX:([^)]*)\)")
_BRACKET = re.compile(r"^(?P<prefix>[^\[]*)\[(?P<ranges>[^\]]+)\](?P<suffix>.*)$")


def run_command(argv: Sequence[str]) -> str:
    """Run an argv (never a shell string) and return its stdout; raise on failure."""
    completed = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    if completed.returncode != 0:
        reason = completed.stderr.strip().splitlines()
        raise RuntimeError(f"{argv[0]} exited {completed.returncode}: {' '.join(reason[:1])}")
    return completed.stdout


def _split_top_level(expression: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for char in expression:
        depth += char == "["
        depth -= char == "]"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part]


def _expand_ranges(ranges: str) -> list[str]:
    values: list[str] = []
    for item in ranges.split(","):
        low, _, high = item.partition("-")
        if not high:
            values.append(low)
            continue
        width = len(low)
        values.extend(str(number).zfill(width) for number in range(int(low), int(high) + 1))
    return values


def expand_hostlist(expression: str) -> list[str]:
    """Expand a Slurm hostlist such as `gpu-[01-03,07],head` (one bracket per name)."""
    hosts: list[str] = []
    for part in _split_top_level(expression):
        match = _BRACKET.match(part)
        if match is None:
            hosts.append(part)
            continue
        prefix, suffix = match["prefix"], match["suffix"]
        hosts.extend(f"{prefix}{value}{suffix}" for value in _expand_ranges(match["ranges"]))
    return hosts


def _indices(idx: str) -> list[int]:
    return [int(value) for value in _expand_ranges(idx) if value.isdigit()]


def gpus_of_job(detail: str, hostname: str) -> list[int]:
    """GPU indices a job holds on `hostname`, from `scontrol show job -d` output."""
    held: list[int] = []
    for nodes, gres in _NODE_LINE.findall(detail):
        if hostname not in expand_hostlist(nodes):
            continue
        for idx in _GPU_IDX.findall(gres):
            held.extend(_indices(idx))
    return held


class SlurmJobMap:
    """GPU index -> job id on one host, cached for a few seconds; empty when Slurm is absent."""

    def __init__(
        self,
        hostname: str,
        runner: Runner = run_command,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hostname = hostname
        self._runner = runner
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: dict[int, str] = {}
        self._fetched_at: float | None = None
        self._last_error: str | None = None

    def jobs_by_gpu(self) -> dict[int, str]:
        with self._lock:
            now = self._clock()
            if self._fetched_at is None or now - self._fetched_at >= self._cache_seconds:
                self._cached = self._fetch()
                self._fetched_at = now
            return dict(self._cached)

    def _fetch(self) -> dict[int, str]:
        try:
            listing = self._runner(
                ["squeue", "-h", "-t", "RUNNING", "-w", self._hostname, "-o", "%i"]
            )
            mapping: dict[int, str] = {}
            for job_id in sorted({line.strip() for line in listing.splitlines() if line.strip()}):
                if not _JOB_ID.match(job_id):
                    continue
                detail = self._runner(["scontrol", "show", "job", "-d", job_id])
                for index in gpus_of_job(detail, self._hostname):
                    mapping[index] = job_id
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            if message != self._last_error:
                logger.warning("job-to-GPU mapping unavailable: {}", message)
            self._last_error = message
            return {}
        self._last_error = None
        return mapping
