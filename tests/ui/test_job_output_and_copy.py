"""`c` copies the highlighted job id or node name; `l` follows a job's output files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.widgets import DataTable, Log, Static

from tests.ui.conftest import make_app, notifications
from tui.app.app import ClusterDashApp
from tui.app.screens.job_output import JobOutputScreen
from tui.app.screens.jobs import JobsScreen
from tui.model import Job

SIZE = (160, 40)
pytestmark = pytest.mark.timeout(90)


async def wait_for(pilot: Any, condition: Any, what: str) -> None:
    for _ in range(200):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_c_copies_the_node_name_and_the_job_id(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("down", "c")
        node = app.main_screen.nodes.current_node()  # type: ignore[union-attr]
        assert node and app.clipboard == node
        assert f"copied {node}" in notifications(app)
        await pilot.press("j", "down", "c")
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        assert app.clipboard == screen._order[1]
        assert f"copied {screen._order[1]}" in notifications(app)


async def with_output(app: ClusterDashApp, holder: dict[str, Any], **paths: str) -> Job:
    """Job 101 as Slurm reports it with these output paths, collected and shown."""
    workload = holder["services"].workload
    workload.jobs[0] = replace(workload.jobs[0], **paths)
    await holder["services"].collector.collect_once()
    app.apply_latest()
    return workload.jobs[0]


async def test_l_shows_the_tail_and_follows_the_file_as_it_grows(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    out = tmp_path / "slurm-101.out"
    out.write_text("".join(f"step {n}\n" for n in range(5000)))
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await with_output(app, holder, stdout=str(out), stderr=str(out))
        # Typed ahead in one burst: the jobs screen, then the output of its first job.
        for key in ("j", "l"):
            app.post_message(events.Key(key, key))
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, JobOutputScreen) and app.screen.query("#output-0"),
            "the output screen",
        )
        screen = app.screen
        assert isinstance(screen, JobOutputScreen) and screen.job.job_id == "101"
        log = screen.query_one("#output-0", Log)
        await wait_for(pilot, lambda: log.lines and log.lines[-1] == "step 4999", "the tail")
        assert len(log.lines) <= 2000  # bounded, whatever the file's size
        titles = [str(s.render()) for s in screen.query(".output-title").results(Static)]
        assert f"stdout and stderr: {out}" in titles
        with out.open("a") as handle:
            handle.write("epoch 2 done\n")
        await wait_for(pilot, lambda: log.lines[-1] == "epoch 2 done", "the appended line")
        await pilot.press("escape")
        assert isinstance(app.screen, JobsScreen)


async def test_an_output_file_not_readable_here_says_so_in_one_line(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    err = tmp_path / "err.log"
    err.write_text("Traceback: CUDA error\n")
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await with_output(app, holder, stdout="/nonexistent/home/alice/%x-%j.out", stderr=str(err))
        await pilot.press("j", "l")
        screen = app.screen
        assert isinstance(screen, JobOutputScreen)
        status = screen.query_one("#output-status-0", Static)
        expected = "not readable from this machine: No such file or directory"
        await wait_for(pilot, lambda: expected in str(status.render()), "the one-line reason")
        assert "\n" not in str(status.render())
        titles = [str(s.render()) for s in screen.query(".output-title").results(Static)]
        assert "stdout: /nonexistent/home/alice/train-0-101.out" in titles
        log = screen.query_one("#output-1", Log)
        await wait_for(pilot, lambda: log.lines == ["Traceback: CUDA error"], "stderr")


async def test_a_job_without_output_paths_and_a_folded_array(
    tmp_path: Path, holder: dict[str, Any]
) -> None:
    app = make_app(tmp_path, holder=holder)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("j", "l")
        screen = app.screen
        assert isinstance(screen, JobOutputScreen)
        assert any(
            "Slurm reports no output file for job 101" in str(s.render())
            for s in screen.query(".output-status").results(Static)
        )
        await pilot.press("escape")
        holder["services"].workload.jobs.append(Job("70_[1-4]", user="eve"))
        await holder["services"].collector.collect_once()
        app.apply_latest()
        jobs = app.screen
        assert isinstance(jobs, JobsScreen)
        jobs.query_one("#jobs-table", DataTable).move_cursor(row=jobs._order.index("array:70"))
        await pilot.press("l")
        assert isinstance(app.screen, JobsScreen)
        assert any("70 is an array: expand it (e)" in m for m in notifications(app))
