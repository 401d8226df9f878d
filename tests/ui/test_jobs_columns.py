"""The jobs screen as an operator reads it: arrays folded, hostlists, efficiency, cost, waste,
sorting and field filters."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from textual import events
from textual.widgets import DataTable

from tests.ui.conftest import dialog_ready, make_app, notifications, static_text
from tests.ui.fake_cluster import FIXED_NOW, make_gpus, make_jobs, make_nodes
from tui.actions import ActionKind
from tui.app.app import ClusterDashApp
from tui.app.job_rows import UNKNOWN
from tui.app.screens.confirm import ConfirmActionScreen
from tui.app.screens.jobs import JobDetailScreen, JobsScreen
from tui.model import ClusterSnapshot, Job, JobState
from tui.store import Store

SIZE = (220, 40)
PRICE = 1.89
UNKNOWN_PAIR = f"{UNKNOWN} / {UNKNOWN}"
pytestmark = pytest.mark.timeout(90)


def array_jobs() -> list[Job]:
    """Array 50: tasks 1 and 2 running on one GPU each, tasks 3-20 pending (squeue's shape)."""
    running = [
        Job(
            job_id=f"50_{task}",
            name="sweep",
            user="erin",
            account="vision",
            partition="gpu",
            state=JobState.RUNNING,
            nodes=(node,),
            gpu_indices=MappingProxyType({node: (7,)}),
            gpus_per_node=1,
            start_time=FIXED_NOW - 600,
            time_limit_min=60,
        )
        for task, node in ((1, "gpu-03"), (2, "gpu-04"))
    ]
    rest = Job(
        job_id="50_[3-20%2]",
        name="sweep",
        user="erin",
        account="vision",
        partition="gpu",
        state=JobState.PENDING,
        reason="JobArrayTaskLimit",
        gpus_per_node=1,
        gpus_requested=1,
        submit_time=FIXED_NOW - 900,
        time_limit_min=60,
        priority=4242,
    )
    return [*running, rest]


def multi_node_job() -> Job:
    nodes = ("gpu-08", "gpu-09", "gpu-10", "gpu-12")
    return Job(
        job_id="60",
        name="ddp",
        user="frank",
        account="nlp",
        partition="gpu",
        state=JobState.RUNNING,
        nodes=nodes,
        gpu_indices=MappingProxyType({n: (6,) for n in nodes}),
        gpus_per_node=1,
        start_time=FIXED_NOW - 1800,
        time_limit_min=120,
    )


async def show_jobs(app: ClusterDashApp, holder: dict[str, Any], extra: list[Job]) -> None:
    """Slurm now also lists `extra`; the app has collected and shown it."""
    services = holder["services"]
    services.workload.jobs.extend(extra)
    await services.collector.collect_once()
    app.apply_latest()


def cells(screen: JobsScreen, key: str) -> dict[str, str]:
    table = screen.query_one("#jobs-table", DataTable)
    row = [str(cell) for cell in table.get_row(key)]
    labels = [str(c.key.value) for c in table.ordered_columns]
    return dict(zip(labels, row, strict=True))


def move_to(screen: JobsScreen, key: str) -> None:
    screen.query_one("#jobs-table", DataTable).move_cursor(row=screen._order.index(key))


async def test_an_array_is_one_row_until_expanded_and_an_action_takes_all_its_tasks(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await show_jobs(app, holder, array_jobs())
        await pilot.press("j")
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        assert "50_1" not in screen._order
        row = cells(screen, "array:50")
        assert row["job_id"].startswith("50_[1-20]")
        assert row["state"] == "18PD 2R"
        assert row["gpus"] == "2 +18 req"
        assert row["nodes"] == "gpu-[03-04]"
        assert row["priority"] == "4242"

        move_to(screen, "array:50")
        await pilot.press("e")
        assert screen._order[screen._order.index("array:50") + 1 :][:3] == [
            "50_1",
            "50_2",
            "50_[3-20%2]",
        ]
        assert cells(screen, "50_[3-20%2]")["gpus"] == "18 req"
        await pilot.press("e")  # on the array's row again: folds it
        assert "50_1" not in screen._order

        await pilot.press("C")
        dialog = await dialog_ready(pilot)
        assert dialog.action_to_run.targets == ("50",)
        targets = str(dialog.query_one("#confirm-targets").render())
        assert "50 (array: all 20 array tasks)" in targets
        await pilot.press("y")
        await app.workers.wait_for_complete()
        actions = holder["services"].workload.actions
        assert [(a.kind, a.targets) for a in actions] == [(ActionKind.CANCEL, ("50",))]


async def test_typed_ahead_expand_and_move_act_on_the_first_task(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await show_jobs(app, holder, array_jobs())
        await pilot.press("j")
        # The array sorts first (job id 50); the keys arrive as one burst, as over slow SSH:
        # each waits for the re-render the one before it started.
        for key, char in [("e", "e"), ("down", None), ("R", "R")]:
            app.post_message(events.Key(key, char))
        dialog = None
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, ConfirmActionScreen):
                dialog = app.screen
                break
        assert dialog is not None
        assert dialog.action_to_run.kind is ActionKind.REQUEUE
        assert dialog.action_to_run.targets == ("50_1",)


async def test_multi_node_job_shows_a_compressed_hostlist_and_its_cost(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    app = make_app(tmp_path, holder=holder, store=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await show_jobs(app, holder, [multi_node_job()])
        await pilot.press("j")
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        row = cells(screen, "60")
        assert row["nodes"] == "gpu-[08-10,12]"
        assert row["gpus"] == "4"
        assert row["time"] == "30:00 / 2:00:00"
        assert row["cost"] == f"${0.5 * 4 * PRICE:,.2f}"
        # No history database: utilization over time is unknown, never 0.
        assert row["util"] == UNKNOWN_PAIR and row["mem"] == UNKNOWN_PAIR
        # GPU 6 reads 0 % on gpu-08 and gpu-09 in the fake cluster, busy on gpu-10 and gpu-12.
        readings = {g.key: g.utilization_pct for g in app.snapshot.gpus}
        idle = sum(1 for n in multi_node_job().nodes if (readings.get((n, 6)) or 0) < 5)
        assert row["wasted"] == (f"${idle * PRICE:.2f}/h")
        assert "no GPU history here" in str(screen.query_one("#jobs-title").render())


async def test_a_job_without_gpu_readings_shows_waste_as_unknown(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        down = replace(multi_node_job(), job_id="61", nodes=("gpu-07",))
        down = replace(down, gpu_indices=MappingProxyType({"gpu-07": (0,)}))
        await show_jobs(app, holder, [down])  # gpu-07 does not respond: no readings
        await pilot.press("j")
        row = cells(app.screen, "61")  # type: ignore[arg-type]
        assert row["wasted"] == UNKNOWN
        assert row["util"] == UNKNOWN_PAIR


async def write_history(path: Path, job: Job, busy_until: float) -> None:
    """The job's GPUs at 60 % (25 % memory) from its start until `busy_until`, idle after."""
    nodes = make_nodes(12)
    gpus = [g for g in make_gpus(nodes) if g.node in job.nodes]
    store = await Store.open(path)
    try:
        assert job.start_time is not None
        ts = job.start_time
        while ts < FIXED_NOW:
            util = 60.0 if ts < busy_until else 0.0
            shot = tuple(
                replace(g, utilization_pct=util, memory_used_mib=0.25 * 81920.0) for g in gpus
            )
            await store.write_snapshot(ClusterSnapshot(taken_at=ts, gpus=shot, jobs=(job,)))
            ts += 30
    finally:
        await store.close()


async def test_running_jobs_show_utilization_over_life_and_last_ten_minutes(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    job = make_jobs(make_nodes(12))[0]
    assert job.start_time is not None and job.start_time % 60 == 0
    busy_until = FIXED_NOW - 900
    await write_history(tmp_path / "history.sqlite3", job, busy_until)
    # Closed minutes: from the start to the one before the last sample's (still open) minute.
    closed = (FIXED_NOW - job.start_time) / 60 - 1
    busy = (busy_until - job.start_time) / 60
    life = 60.0 * busy / closed
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("j")
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        row = cells(screen, job.job_id)
        assert row["util"] == f"{life:.0f}% / 0%"
        assert row["mem"] == "25% / 25%"
        other = next(j for j in app.snapshot.jobs if j.state is JobState.RUNNING and j != job)
        assert cells(screen, other.job_id)["util"] == UNKNOWN_PAIR


async def test_sort_by_key_and_by_clicking_a_header(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("j")
        screen = app.screen
        assert isinstance(screen, JobsScreen)

        def column(key: str) -> list[str]:
            return [cells(screen, k)[key] for k in screen._order]

        await pilot.press("s")  # job id -> name
        assert screen.sort_column == "name"
        names = column("name")
        assert names == sorted(names, key=lambda n: (n.split("-")[0], int(n.split("-")[1])))
        await pilot.press("S")
        assert column("name") == names[::-1]

        table = screen.query_one("#jobs-table", DataTable)
        x = 0
        for col in table.ordered_columns:
            if str(col.key.value) == "user":
                break
            x += col.get_render_width(table)
        await pilot.click("#jobs-table", offset=(x + 2, 0))
        assert screen.sort_column == "user" and not screen.sort_reverse
        users = column("user")
        assert users == sorted(users)
        await pilot.click("#jobs-table", offset=(x + 2, 0))
        assert screen.sort_reverse and column("user") == sorted(users, reverse=True)
        assert "USER ▼" in [str(c.label) for c in table.ordered_columns]


async def test_filter_by_field_and_by_waste(tmp_path: Path, holder: dict[str, Any]) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await show_jobs(app, holder, [*array_jobs(), multi_node_job()])
        await pilot.press("j")
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        jobs = app.snapshot.job_by_id

        async def apply(text: str) -> list[str]:
            await pilot.press("slash", "ctrl+u", *text, "enter")
            return list(screen._order)

        assert await apply("user:erin") == ["array:50"]
        shown = await apply("state:pd")
        assert "array:50" in shown and all(
            jobs[k].state is JobState.PENDING for k in shown if k in jobs
        )
        assert await apply("account:nlp partition:gpu") == ["60"]
        assert set(await apply("user:alice,bob")) == {
            j.job_id for j in jobs.values() if j.user in ("alice", "bob")
        }
        wasting = await apply("wasting")
        assert wasting and "60" in wasting
        for key in wasting:
            assert "$0.00" not in cells(screen, key)["wasted"]
            assert cells(screen, key)["wasted"].startswith("$")
        assert "60" not in await apply("!wasting")
        before = list(screen._order)
        await pilot.press("slash", "ctrl+u", *"owner:erin", "enter")
        assert any("unknown filter field 'owner'" in m for m in notifications(app))
        assert screen._order == before


async def test_job_detail_draws_its_gpus_over_its_life_and_the_commands(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await show_jobs(app, holder, [multi_node_job()])
        await pilot.press("j")
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        move_to(screen, "60")
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, JobDetailScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        gpus = static_text(detail.query_one("#job-gpus"))
        lines = gpus.splitlines()
        job = multi_node_job()
        for node in job.nodes:
            rows = [line for line in lines if line.startswith(f"{node} GPU ")]
            assert [r.split()[2] for r in rows] == ["6"]  # only the job's own GPU
            assert any(ch in rows[0] for ch in "▁▂▃▄▅▆▇█")
        ruler = next(line for line in lines if "▼ start" in line)
        row = next(line for line in lines if line.startswith("gpu-08 GPU 6"))
        # The history asked for covers the job's life from a little before its start.
        calls = holder["services"].history.calls
        (node, metric, start, end, _), *_ = [c for c in calls if c[0] == "gpu-08"]
        assert metric == "utilization_pct" and start < FIXED_NOW - 1800 and end == FIXED_NOW
        marker = ruler.index("▼") - ruler.index("─")
        assert marker == int((FIXED_NOW - 1800 - start) / (end - start) * 60)
        assert len(row) >= ruler.index("▼")
        commands = static_text(detail.query_one("#job-commands"))
        assert "$ scancel --verbose 60" in commands
        assert "$ scontrol requeue 60" in commands
        record = static_text(detail.query_one("Static"))
        assert "gpu-[08-10,12]" in record


async def test_a_pending_jobs_detail_says_it_has_no_gpus_yet(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("j", "slash", *"state:pd", "enter", "enter")
        detail = app.screen
        assert isinstance(detail, JobDetailScreen)
        await app.workers.wait_for_complete()
        assert "not started on GPUs yet" in static_text(detail.query_one("#job-gpus"))
        assert "Priority" in static_text(detail.query_one("Static"))
