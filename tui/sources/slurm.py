"""The Slurm workload source: nodes, jobs and version from the CLI; actions through it too.

Fetch uses `scontrol show node -o -d` and `scontrol show job -d -o` (the "text" mode) by
default; `sinfo --json` + `squeue --json` (the "json" mode) is kept as an option. 23.11's
`sinfo --json` groups nodes and gives each group its first node's reason and GRES, so when it
answers in groups the json mode reads nodes from `scontrol show nodes --json` instead (22.05's
scontrol has no --json; its sinfo lists each node).
Measured against real slurmctld 22.05 (medians; tests/bench/test_bench_slurm.py):
- 4 nodes, 8 jobs, one whole fetch: text 24 ms, json 42 ms.
- 508 jobs (measured once by hand), the jobs command alone: scontrol show job -d -o 31 ms (0.5 MB),
  squeue --json 85 ms (1.6 MB).
- Parsing 1,000 nodes + 5,000 jobs, 22.05 lines: text 466 ms CPU (6.5 MB), json 445 ms CPU
  (15.6 MB), on another machine. Since then the text reader reads only the keys it uses
  and parses each distinct value once: 0.31x the general reader's CPU at 23.11's shape
  (tests/bench/test_bench_slurm_parse.py).
Text parses faster and Slurm's JSON writer is the slow part, so text is the default. Both
formats changed between 22.05 and 23.11 (slurm_text and slurm_json say how); both are read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from loguru import logger

from tui.actions import Action, ActionError, ActionResult
from tui.model import Job, Node, job_is_part_of
from tui.sources import slurm_json, slurm_text
from tui.sources.base import SlurmState, SourceError
from tui.sources.slurm_cli import DEFAULT_TIMEOUT_S, SlurmCli
from tui.text import one_line

FetchMode = Literal["text", "json"]
NODES_TEXT_ARGV = ("scontrol", "show", "node", "-o", "-d")
JOBS_TEXT_ARGV = ("scontrol", "show", "job", "-d", "-o")
NODES_JSON_ARGV = ("sinfo", "--json")
NODE_LIST_JSON_ARGV = ("scontrol", "show", "nodes", "--json")
JOBS_JSON_ARGV = ("squeue", "--json")
VERSION_ARGV = ("sinfo", "--version")
# scontrol prints times as epoch seconds with this; nothing else changes.
TEXT_ENV = {"SLURM_TIME_FORMAT": "%s"}
VERSION_REFRESH_S = 600.0


class SlurmSource:
    """WorkloadSource backed by the Slurm CLI on this machine."""

    name = "slurm"

    def __init__(
        self,
        *,
        bin_dir: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        mode: FetchMode = "text",
        include_finished_jobs: bool = False,
    ) -> None:
        if mode not in ("text", "json"):
            raise ValueError(f"slurm fetch mode must be 'text' or 'json', not {mode!r}")
        self.cli = SlurmCli(bin_dir=bin_dir, env=env, timeout_s=timeout_s)
        self.mode: FetchMode = mode
        self.include_finished_jobs = include_finished_jobs
        self._version = ""
        self._version_at = 0.0
        self._nodes_json_argv = NODES_JSON_ARGV

    async def fetch(self) -> SlurmState:
        if self.mode == "json":
            return await self._fetch_json()
        return await self._fetch_text()

    async def _fetch_text(self) -> SlurmState:
        nodes_out, jobs_out, version = await _all(
            self.cli.output(NODES_TEXT_ARGV, TEXT_ENV),
            self.cli.output(JOBS_TEXT_ARGV, TEXT_ENV),
            self.version(),
        )
        return await _text_state(nodes_out, jobs_out, version, self.include_finished_jobs)

    async def _fetch_json(self) -> SlurmState:
        argv = self._nodes_json_argv
        nodes_out, jobs_out = await _all(self.cli.output(argv), self.cli.output(JOBS_JSON_ARGV))
        nodes_doc = await self._nodes_doc(nodes_out)
        return await asyncio.to_thread(_json_state, nodes_doc, jobs_out, self.include_finished_jobs)

    async def _nodes_doc(self, nodes_out: str) -> slurm_json.Doc:
        argv = self._nodes_json_argv
        nodes_doc = await asyncio.to_thread(slurm_json.load, nodes_out, " ".join(argv))
        if slurm_json.is_grouped(nodes_doc):
            logger.info("sinfo --json groups nodes; reading them from scontrol show nodes --json")
            self._nodes_json_argv = argv = NODE_LIST_JSON_ARGV
            nodes_out = await self.cli.output(argv)
            nodes_doc = await asyncio.to_thread(slurm_json.load, nodes_out, " ".join(argv))
        return nodes_doc

    async def read_nodes(self, names: Sequence[str]) -> tuple[Node, ...]:
        """These nodes as Slurm has them now, read the way fetch() reads every node.

        22.05's `sinfo --json` ignores `--nodes`, so the json mode reads the whole list and
        keeps the named ones; `scontrol show node` takes a list of names in every version.
        """
        wanted = set(names)
        if not wanted:
            return ()
        if self.mode == "json":
            nodes_out = await self.cli.output(self._nodes_json_argv)
            doc = await self._nodes_doc(nodes_out)
            nodes = await asyncio.to_thread(slurm_json.parse_nodes, doc)
        else:
            argv = (*NODES_TEXT_ARGV, ",".join(sorted(wanted)))
            nodes = slurm_text.parse_nodes(await self.cli.output(argv, TEXT_ENV))
        return tuple(node for node in nodes if node.name in wanted)

    async def read_jobs(self, job_ids: Sequence[str]) -> tuple[Job, ...]:
        """These jobs as Slurm has them now (array tasks and components of an id included).

        A job Slurm no longer knows, or one that finished (unless finished jobs are shown),
        is simply not in the answer. 22.05's `squeue --json` ignores `--jobs`, so the json
        mode reads the whole queue and keeps the named jobs.
        """
        wanted = tuple(dict.fromkeys(job_ids))
        if not wanted:
            return ()
        if self.mode == "json":
            jobs_out = await self.cli.output(JOBS_JSON_ARGV)
            jobs = await asyncio.to_thread(_json_jobs, jobs_out, self.include_finished_jobs)
        else:
            outputs = await _all(*(self._job_text(job_id) for job_id in wanted))
            jobs = slurm_text.parse_jobs("\n".join(outputs), self.include_finished_jobs)
        return tuple(job for job in jobs if any(job_is_part_of(job.job_id, w) for w in wanted))

    async def _job_text(self, job_id: str) -> str:
        result = await self.cli.run((*JOBS_TEXT_ARGV, job_id), TEXT_ENV)
        if result.ok:
            return result.stdout
        if "Invalid job id" in result.stderr:
            return ""  # gone from slurmctld: no longer a job to show
        raise SourceError(f"scontrol: {result.error_line()}")

    async def version(self) -> str:
        """'22.05.8' from `sinfo --version` (re-read every few minutes)."""
        now = time.monotonic()
        if self._version and now - self._version_at < VERSION_REFRESH_S:
            return self._version
        try:
            text = (await self.cli.output(VERSION_ARGV)).strip()
        except SourceError as error:
            # Nodes and jobs matter more than the version label: report it, carry on.
            logger.debug("slurm version unavailable: {}", error)
            return self._version
        self._version = text.split()[-1] if text else ""
        self._version_at = now
        return self._version

    async def run_action(self, action: Action) -> ActionResult:
        """Validate, then run each command; Slurm's error text comes back verbatim, never raised."""
        try:
            commands = action.argv()
        except ActionError as error:
            return ActionResult(action, False, one_line(error))
        logger.info("slurm action: {}", action.describe())
        for argv in commands:
            try:
                result = await self.cli.run(argv)
            except SourceError as error:
                return ActionResult(action, False, str(error))
            errors = _error_lines(result.stderr)
            if not result.ok or errors:
                message = "; ".join(errors) or one_line(result.stderr or result.stdout)
                message = message or result.error_line()
                logger.warning("slurm action failed: {}: {}", action.describe(), message)
                return ActionResult(action, False, message)
        return ActionResult(action, True, f"{action.describe()}: done")


def _error_lines(stderr: str) -> list[str]:
    """Slurm's 'error:' lines, verbatim (scancel reports some failures with status 0)."""
    return [one_line(line) for line in stderr.splitlines() if "error:" in line]


async def _all(*coros: Coroutine[Any, Any, str]) -> list[str]:
    """Run the commands together; the first failure cancels (and kills) the others."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coro) for coro in coros]
    except* SourceError as failures:
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]


async def _text_state(
    nodes_out: str, jobs_out: str, version: str, include_finished: bool
) -> SlurmState:
    # A large cluster's parse is ~0.2 s of CPU (1,000 nodes, 5,000 jobs). It runs on the loop
    # in slices of a few ms, so a UI sharing the loop keeps answering keys meanwhile; a worker
    # thread held the loop far longer (tests/bench/test_bench_slurm_parse.py).
    return SlurmState(
        nodes=await slurm_text.parse_nodes_yielding(nodes_out),
        jobs=await slurm_text.parse_jobs_yielding(jobs_out, include_finished),
        version=version,
    )


def _json_state(nodes_doc: slurm_json.Doc, jobs_out: str, include_finished: bool) -> SlurmState:
    jobs_doc = slurm_json.load(jobs_out, "squeue --json")
    return SlurmState(
        nodes=slurm_json.parse_nodes(nodes_doc),
        jobs=slurm_json.parse_jobs(jobs_doc, include_finished),
        version=slurm_json.version(nodes_doc) or slurm_json.version(jobs_doc),
    )


def _json_jobs(jobs_out: str, include_finished: bool) -> tuple[Job, ...]:
    return slurm_json.parse_jobs(slurm_json.load(jobs_out, "squeue --json"), include_finished)
