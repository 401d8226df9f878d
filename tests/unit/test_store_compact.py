"""The rollup tiers' compact rows: what a week of history costs on disk, and the upgrade of a
version-4 database that keeps every row and every answer read from it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.unit.test_job_usage import (
    HOUR,
    T0,
    assert_known_answers,
    mark_three_hours_rolled_up,
)
from tui.job_usage import usage_by_job
from tui.store import Store
from tui.store_schema import MIGRATIONS, ROLLUP_METRICS

NODE = "gpu-01"
COLUMNS = ", ".join(f"{m}_{a}" for m in ROLLUP_METRICS for a in ("min", "avg", "max"))


def _values(util: float) -> tuple[float, ...]:
    """min/avg/max of each rollup metric as a busy GPU reports them: fractional averages,
    fractional power readings."""
    per_metric = {
        "utilization_pct": (util, util, util),
        "memory_used_mib": (1000.0, 1000.0, 1000.0),
        "memory_total_mib": (4000.0, 4000.0, 4000.0),
        "temperature_c": (61.0, 62.4166, 64.0),
        "power_w": (301.25, 312.4573, 330.75),
        "sm_clock_mhz": (1410.0, 1498.3333, 1980.0),
        "memory_pct": (25.0, 25.0, 25.0),
    }
    return tuple(v for m in ROLLUP_METRICS for v in per_metric[m])


def version_4_database(path: Path) -> None:
    """Job 7 on 8 GPUs as version 4 kept it: 2 h at 50 % then 1 h at 0 %, the first hour in
    10-minute rows only, the next two in 1-minute rows and 10-minute ones."""
    db = sqlite3.connect(path)
    for version, script in enumerate(MIGRATIONS[:3], start=1):
        db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
    db.execute("INSERT INTO nodes (id, name) VALUES (1, ?)", (NODE,))
    db.execute("INSERT INTO jobs (id, job_id, user, account) VALUES (1, '7', 'alice', 'ml')")
    marks = ", ".join("?" * 3 * len(ROLLUP_METRICS))
    for k in range(18):
        db.executemany(
            f"INSERT INTO gpu_rollups_10m (node_id, bucket, gpu, job, samples, {COLUMNS}) "
            f"VALUES (1, ?, ?, 1, 20, {marks})",
            [(int(T0) + 600 * k, gpu, *_values(50.0 if k < 12 else 0.0)) for gpu in range(8)],
        )
    for k in range(120):
        db.executemany(
            f"INSERT INTO gpu_rollups_1m (node_id, minute, gpu, job, samples, {COLUMNS}) "
            f"VALUES (1, ?, ?, 1, 2, {marks})",
            [(int(T0 + HOUR) + 60 * k, gpu, *_values(50.0 if k < 60 else 0.0)) for gpu in range(8)],
        )
    mark_three_hours_rolled_up(db)
    db.commit()
    # Version 4 fills its per-job table from the history already there.
    db.executescript(f"BEGIN;\n{MIGRATIONS[3]}\nPRAGMA user_version = 4;\nCOMMIT;")
    db.close()


async def test_a_version_4_database_keeps_its_rows_and_answers(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    version_4_database(path)
    store = await Store.open(path)
    try:
        (version,) = (await store.db.execute_fetchall("PRAGMA user_version"))[0]
        assert version == len(MIGRATIONS) and version >= 5
        assert_known_answers(await usage_by_job(store, T0, T0 + 3 * HOUR))
        for table in ("gpu_rollups_10m", "gpu_rollups_1m"):
            rows = await store.db.execute_fetchall(f"SELECT gpu, {COLUMNS} FROM {table}")
            assert len(rows) == (18 if table == "gpu_rollups_10m" else 120) * 8
            for row in rows:
                util = row[1 + 3 * ROLLUP_METRICS.index("utilization_pct")]
                assert tuple(row[1:]) == pytest.approx(_values(util), abs=0.005)
        series = await store.gpu_history(NODE, "utilization_pct", T0, T0 + 3 * HOUR, 3)
        assert [round(v, 6) for _, v in series[0]] == [50.0, 50.0, 0.0]
        power = await store.gpu_history(NODE, "power_w", T0, T0 + 3 * HOUR, 3)
        assert [round(v, 2) for _, v in power[0]] == [312.46, 312.46, 312.46]
    finally:
        await store.close()


async def test_a_rollup_row_takes_at_most_75_bytes(tmp_path: Path) -> None:
    """A week of history at the default tiers is mostly rollup rows: each GPU-minute and
    GPU-10-minutes, with its 21 figures and fractional averages, fits in 75 bytes of file
    (95 with 8-byte floats)."""
    path = tmp_path / "history.db"
    version_4_database(path)
    store = await Store.open(path)
    await store.close()
    db = sqlite3.connect(path)
    try:
        ((payload, rows),) = db.execute(
            "SELECT SUM(payload), SUM(ncell) FROM dbstat WHERE name LIKE 'gpu_rollups_1m%'"
        ).fetchall()
    finally:
        db.close()
    assert rows == 120 * 8
    assert payload / rows <= 75
