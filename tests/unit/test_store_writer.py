"""One writer per history database, and a database never mixes clusters."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.config import load_settings
from tui.services import build_services
from tui.store import Store, StoreError
from tui.store_identity import claim_cluster, stored_cluster
from tui.writer_lock import WriterLock


def test_second_writer_lock_fails_and_names_the_holder(tmp_path: Path) -> None:
    first = WriterLock.for_database(tmp_path / "h.sqlite3")
    second = WriterLock.for_database(tmp_path / "h.sqlite3")
    assert first.acquire("collect")
    try:
        assert not second.acquire("dashboard")
        assert "(collect)" in second.holder()
    finally:
        first.release()
    assert second.acquire("dashboard")
    second.release()


async def test_database_refuses_another_cluster_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    async with await Store.open(path) as store:
        await claim_cluster(store, "prod-a")
        await claim_cluster(store, "prod-a")
        assert await stored_cluster(store) == "prod-a"
    async with await Store.open(path) as store:
        with pytest.raises(StoreError, match="belongs to cluster 'prod-a', not 'simulated'") as err:
            await claim_cluster(store, "simulated")
        assert "\n" not in str(err.value)


async def test_second_standalone_process_reads_history_only(tmp_path: Path) -> None:
    settings = load_settings(
        environ={
            "CLUSTERDASH_STORE_PATH": str(tmp_path / "h.sqlite3"),
            "CLUSTERDASH_ALERTS_WEBHOOK_URL": "http://127.0.0.1:9/hook",
        }
    )
    first = await build_services(settings, "demo")
    try:
        second = await build_services(settings, "demo")
        try:
            assert first.writer and not second.writer
            assert second.store is not None and second.store.readonly
            assert second.alerts is not None and not second.alerts.notifiers
            snapshot = await second.collector.collect_once()
            assert snapshot.gpus, "the second process still shows the live cluster"
        finally:
            await second.aclose()
        with pytest.raises(StoreError, match="already written by pid"):
            await build_services(settings, "demo", role="collect", require_writer=True)
    finally:
        await first.aclose()


async def test_demo_after_real_and_real_after_demo_never_mix(tmp_path: Path) -> None:
    real_path = tmp_path / "h.sqlite3"
    settings = load_settings(
        environ={
            "CLUSTERDASH_STORE_PATH": str(real_path),
            "CLUSTERDASH_CLUSTER_NAME": "lab",
            "CLUSTERDASH_SLURM_ENABLED": "false",
            "CLUSTERDASH_GPU_TARGETS": "http://127.0.0.1:9/metrics",
            "CLUSTERDASH_GPU_TIMEOUT": "1s",
        }
    )
    for mode in ("slurm", "demo", "slurm", "demo"):
        services = await build_services(settings, mode)
        try:
            await services.collector.collect_once()
        finally:
            await services.aclose()
    async with await Store.open(real_path, readonly=True) as real:
        assert await stored_cluster(real) == "lab"
        assert await real.gpu_samples("gpu-01", 0, 2e9) == []
        async with real.db.execute("SELECT count(*) FROM nodes") as cursor:
            assert (await cursor.fetchone())[0] == 0
        async with real.db.execute("SELECT rule, target FROM alert_events") as cursor:
            events = list(await cursor.fetchall())
        assert events, "the real cluster's own alert (its GPU source failing) is kept"
        assert all(not target.startswith("gpu-") for _, target in events), events
    async with await Store.open(tmp_path / "h-demo.sqlite3", readonly=True) as demo:
        assert await stored_cluster(demo) == "simulated"
        assert await demo.gpu_samples("gpu-01", 0, 2e9)


def test_two_standalone_dashboards_one_writer_no_duplicate_events_audit_and_chat_once(
    tmp_path: Path,
) -> None:
    import os
    import sqlite3
    import subprocess
    import sys

    from tests.collect_process import wait_until

    store = tmp_path / "h.sqlite3"
    env = dict(
        os.environ,
        CLUSTERDASH_STORE_PATH=str(store),
        CLUSTERDASH_GPU_INTERVAL="1s",
        CLUSTERDASH_SLURM_INTERVAL="1s",
    )

    def start(reason: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.standalone_dashboard", reason],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def events() -> int:
        with sqlite3.connect(tmp_path / "h-demo.sqlite3") as db:
            return int(
                db.execute(
                    "SELECT count(*) FROM alert_events "
                    "WHERE rule = 'node_drained' AND target = 'gpu-03'"
                ).fetchone()[0]
            )

    first = start("first")
    second: subprocess.Popen[str] | None = None
    try:
        assert first.stdout is not None and first.stdout.readline() == "writer True\n"
        assert first.stdout.readline() == "audited\n"
        assert first.stdout.readline() == "chatted\n"
        second = start("second")
        assert second.stdout is not None
        assert second.stdout.readline() == "writer False\n", second.stderr
        assert second.stdout.readline() == "audited\n", "a reader still records its audit row"
        assert second.stdout.readline() == "chatted\n", second.stderr
        wait_until(lambda: events() >= 1, 60, "the drained node's alert event")
        cycles = _sample_times(tmp_path)
        wait_until(lambda: _sample_times(tmp_path) >= cycles + 2, 60, "two more cycles")
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                assert process.stdin is not None
                process.stdin.write("stop\n")
                process.stdin.flush()
                process.wait(timeout=30)
    assert events() == 1, "one writer: the event is recorded once"
    with sqlite3.connect(tmp_path / "h-demo.sqlite3") as db:
        reasons = sorted(row[0] for row in db.execute("SELECT reason FROM audit_log"))
    assert reasons == ["first", "second"], "each process's action is recorded exactly once"
    with sqlite3.connect(tmp_path / "h-demo.sqlite3") as db:
        questions = sorted(row[0] for row in db.execute("SELECT content FROM chat_messages"))
    assert questions == ["question from first", "question from second"], "each chat kept once"


def _sample_times(tmp_path: Path) -> int:
    import sqlite3

    with sqlite3.connect(tmp_path / "h-demo.sqlite3") as db:
        return int(db.execute("SELECT count(DISTINCT ts) FROM gpu_samples").fetchone()[0])
