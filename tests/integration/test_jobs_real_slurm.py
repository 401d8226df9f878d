"""Jobs as squeue shows them, from a real Slurm: an array, a multi-node GPU job and a job
pending for `-N4 --gres=gpu:8`, on the jobs screen and in `snapshot --json`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from tests.integration.slurm_cluster import SlurmCluster
from tests.integration.test_ui_real_slurm import real_app, settle
from tui.app.screens.jobs import JobsScreen

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@dataclass(frozen=True)
class Submitted:
    array: str
    multi: str
    pending: str
    # squeue's own lines: job id -> (nodes, state), as `squeue -o %i|%N|%T` prints them
    squeue: dict[str, tuple[str, str]]


def squeue_lines(slurm: SlurmCluster) -> dict[str, tuple[str, str]]:
    out = slurm.run(["squeue", "-h", "-o", "%i|%N|%T"]).stdout
    lines = {}
    for line in out.splitlines():
        job_id, nodes, state = line.split("|")
        lines[job_id] = (nodes, state)
    return lines


@pytest.fixture
def submitted(slurm: SlurmCluster) -> Iterator[Submitted]:
    array = slurm.submit("-J", "sweep", "--array=1-6%2", "--gres=gpu:1", "--wrap", "sleep 300")
    multi = slurm.submit("-J", "ddp", "-N2", "--gres=gpu:2", "--wrap", "sleep 300")

    def started() -> bool:
        lines = squeue_lines(slurm)
        running = [k for k, (_, state) in lines.items() if state == "RUNNING"]
        return multi in running and sum(k.startswith(f"{array}_") for k in running) == 2

    slurm.wait_for(started, 30, what="the array's first tasks and the 2-node job to run")
    pending = slurm.submit("-J", "big", "-N4", "--gres=gpu:8", "--wrap", "sleep 300")
    slurm.wait_for(lambda: slurm.job_reason(pending) not in ("", "None"), 30, what="a reason")
    assert slurm.job_state(pending) == "PENDING"
    yield Submitted(array, multi, pending, squeue_lines(slurm))


async def test_the_jobs_screen_reads_like_squeue(
    slurm: SlurmCluster, submitted: Submitted, tmp_path: Path
) -> None:
    holder: dict[str, Any] = {}
    app = real_app(slurm, tmp_path, holder)
    async with app.run_test(size=(220, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("j")
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        table = screen.query_one("#jobs-table", DataTable)

        def cells(key: str) -> dict[str, str]:
            labels = [str(c.key.value) for c in table.ordered_columns]
            return dict(zip(labels, [str(c) for c in table.get_row(key)], strict=True))

        array_tasks = sorted(k for k in submitted.squeue if k.startswith(f"{submitted.array}_"))
        assert len(array_tasks) == 3  # two running tasks and the pending rest, as one line
        head = cells(f"array:{submitted.array}")
        assert head["job_id"].startswith(f"{submitted.array}_[1-6]")
        assert head["gpus"] == "2 +4 req"
        running_nodes = [
            submitted.squeue[k][0] for k in array_tasks if submitted.squeue[k][1] == "RUNNING"
        ]
        # Slurm's own compression of the nodes the running tasks are on.
        hostlist = slurm.run(["scontrol", "show", "hostlistsorted", ",".join(set(running_nodes))])
        assert head["nodes"] == hostlist.stdout.strip()
        assert not any(k in screen._order for k in array_tasks)

        table.move_cursor(row=screen._order.index(f"array:{submitted.array}"))
        await pilot.press("e")
        after = screen._order[screen._order.index(f"array:{submitted.array}") + 1 :]
        assert sorted(after[:3]) == array_tasks  # the lines squeue prints for the array
        for task in array_tasks:
            nodes, state = submitted.squeue[task]
            row = cells(task)
            assert row["nodes"] == (nodes if state == "RUNNING" else row["nodes"])
            assert row["gpus"] == ("1" if state == "RUNNING" else "4 req")

        multi = cells(submitted.multi)
        assert multi["nodes"] == submitted.squeue[submitted.multi][0]  # e.g. gpu-[01-02]
        assert "[" in multi["nodes"]
        assert multi["gpus"] == "4"

        big = cells(submitted.pending)
        assert big["gpus"] == "32 req"
        assert big["nodes"] == f"({slurm.job_reason(submitted.pending)})"
        assert big["why"] and big["priority"].isdigit()


def test_snapshot_json_reads_like_squeue(
    slurm: SlurmCluster, submitted: Submitted, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "snapshot", "--json"],
        env=dict(
            slurm.env,
            CLUSTERDASH_STORE_PATH=str(tmp_path / "h.sqlite3"),
            CLUSTERDASH_GPU_INTERVAL="1s",
        ),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    jobs = {job["id"]: job for job in data["jobs"]}
    assert set(jobs) == set(submitted.squeue)
    for job_id, (nodes, state) in submitted.squeue.items():
        job = jobs[job_id]
        assert job["state"] == state
        assert job["nodelist"] == (nodes if state == "RUNNING" else "")
        in_array = job_id.startswith(f"{submitted.array}_")
        assert job["array_job_id"] == (submitted.array if in_array else None)
    assert jobs[submitted.multi]["gpus"] == 4 and jobs[submitted.multi]["gpus_requested"] == 4
    assert jobs[submitted.pending]["gpus_requested"] == 32
    assert jobs[submitted.pending]["gpus"] == 0
