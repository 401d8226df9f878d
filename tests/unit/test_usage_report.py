"""`clusterdash report` as a user runs it, against a real history database."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from types import MappingProxyType

import pytest

from tui.model import ClusterSnapshot, Gpu, Job, JobState
from tui.store import Store
from tui.usage_report import CSV_HEADER, REPORT_SCHEMA_VERSION
from tui.writer_lock import WriterLock

PRICE = 2.0


def running(job_id: str, user: str, account: str, node: str, gpus: int) -> Job:
    return Job(
        job_id=job_id,
        user=user,
        account=account,
        state=JobState.RUNNING,
        nodes=(node,),
        gpu_indices=MappingProxyType({node: tuple(range(gpus))}),
    )


async def write_history(path: Path, end: float) -> None:
    """20 minutes before `end`: job 7 (alice, 8 GPUs) 10 min at 50 % then 10 min idle; job 9
    (bob, 1 GPU) at 90 % throughout."""
    start = end - 1200
    jobs = (running("7", "alice", "ml", "gpu-01", 8), running("9", "bob", "cv", "gpu-02", 1))
    store = await Store.open(path)
    try:
        for k in range(40):
            ts = start + 30 * k
            util = 50.0 if ts < start + 600 else 0.0
            gpus = tuple(Gpu("gpu-01", i, utilization_pct=util) for i in range(8))
            gpus += (Gpu("gpu-02", 0, utilization_pct=90.0),)
            await store.write_snapshot(ClusterSnapshot(taken_at=ts, gpus=gpus, jobs=jobs))
    finally:
        await store.close()


def config(tmp_path: Path, database: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[store]\npath = "{database}"\n\n[cluster]\ngpu_hourly_price = {PRICE}\n',
        encoding="utf-8",
    )
    return path


def report(config_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "report", "--config", str(config_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
        check=False,
    )


@pytest.fixture
async def history(tmp_path: Path) -> Path:
    database = tmp_path / "history.db"
    # Minute-aligned, so that the 20 minutes are 20 whole minutes of the report's window.
    await write_history(database, math.floor(time.time() / 60) * 60 - 60)
    return config(tmp_path, database)


async def test_json_has_a_schema_version_and_the_known_answers(history: Path) -> None:
    result = report(history, "--since", "1h", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema_version"] == REPORT_SCHEMA_VERSION
    assert data["empty"] is False
    jobs = {job["job_id"]: job for job in data["jobs"]}
    alice = jobs["7"]
    assert alice["gpu_hours"] == pytest.approx(8 * 20 / 60, abs=0.01)
    assert alice["idle_gpu_hours"] == pytest.approx(8 * 10 / 60, abs=0.01)
    assert alice["mean_utilization_pct"] == pytest.approx(25.0, abs=1.5)
    assert alice["wasted_cost"] == pytest.approx(8 * 10 / 60 * PRICE, abs=0.05)
    assert jobs["9"]["idle_gpu_hours"] == 0
    assert [job["job_id"] for job in data["top_wasting_jobs"]] == ["7"]
    assert [user["name"] for user in data["users"]] == ["alice", "bob"]
    assert {account["name"] for account in data["accounts"]} == {"ml", "cv"}


async def test_csv_loads_with_the_csv_module(history: Path) -> None:
    result = report(history, "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == CSV_HEADER
    by_key = {(row["section"], row["name"]): row for row in rows}
    assert set(by_key) == {
        ("user", "alice"),
        ("user", "bob"),
        ("account", "ml"),
        ("account", "cv"),
        ("job", "7"),
        ("job", "9"),
    }
    assert float(by_key[("job", "7")]["idle_gpu_hours"]) == pytest.approx(8 * 10 / 60, abs=0.01)
    assert by_key[("job", "9")]["user"] == "bob"


async def test_table_and_markdown_name_the_top_waster_first(history: Path) -> None:
    table = report(history)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert "$2 per GPU-hour" in lines[0]
    top = lines.index("Top wasting jobs")
    assert lines[top + 1].split()[:3] == ["job", "user", "account"]
    assert lines[top + 2].split()[:3] == ["7", "alice", "ml"]
    markdown = report(history, "--format", "markdown")
    assert markdown.returncode == 0, markdown.stderr
    assert markdown.stdout.startswith("# GPU usage")
    assert "## Top wasting jobs" in markdown.stdout
    assert "| 7 | alice | ml |" in markdown.stdout


async def test_it_reads_while_the_collector_holds_the_database(
    history: Path, tmp_path: Path
) -> None:
    database = tmp_path / "history.db"
    lock = WriterLock.for_database(database)
    assert lock.acquire("collect")
    writer = await Store.open(database)
    try:
        result = report(history, "--format", "json")
        assert result.returncode == 0, result.stderr
        assert {job["job_id"] for job in json.loads(result.stdout)["jobs"]} == {"7", "9"}
    finally:
        await writer.close()
        lock.release()


async def test_an_empty_history_says_so(tmp_path: Path) -> None:
    database = tmp_path / "history.db"
    await (await Store.open(database)).close()
    config_path = config(tmp_path, database)
    table = report(config_path)
    assert table.returncode == 0, table.stderr
    assert "No job held a GPU in the history" in table.stdout
    data = json.loads(report(config_path, "--format", "json").stdout)
    assert data["empty"] is True and data["jobs"] == []


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("--since", "a week"), "--since"),
        (("--since", "0s"), "--since"),
        (("--format", "xml"), "--format"),
    ],
)
def test_bad_since_or_format_is_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], names: str
) -> None:
    result = report(config(tmp_path, tmp_path / "history.db"), *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert names in result.stderr


def test_no_history_yet_is_one_line(tmp_path: Path) -> None:
    result = report(config(tmp_path, tmp_path / "missing.db"))
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no history" in result.stderr
