"""The history store: GPU samples, 1-minute rollups, alert/audit/chat tables in one SQLite file.

One writer (the collector) opens it read-write; any other process may open it read-only
while the writer runs (WAL mode). A file that is locked, corrupt or from a newer clusterdash
gives one readable StoreError and is never overwritten.

Samples are one wide row per (time, node, GPU). Each minute is rolled up (min/avg/max) in
the same transaction as the first write of the next minute, with a watermark stored in the
database, so restarts neither double count nor leave gaps. Raw rows are only pruned once
their minute is rolled up.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiosqlite
from loguru import logger

from tui.audit_record import AuditRecord
from tui.model import EMPTY_MAPPING, ClusterSnapshot
from tui.sources.base import HISTORY_METRICS, GpuSeries
from tui.store_schema import (
    APPLICATION_ID,
    JOB_MINUTES_ROLL_UP,
    JOB_SPANS_UPDATE,
    JOB_USAGE_ROLL_UP,
    MEMORY_PCT_SQL,
    MIGRATIONS,
    ROLLUP_COLUMNS,
    ROLLUP_METRICS,
    SAMPLE_METRICS,
    SCHEMA_VERSION,
    TEN_MINUTE_ROLL_UP,
    scaled,
)
from tui.text import one_line

DEFAULT_RAW_RETENTION_S = 3600.0
DEFAULT_ROLLUP_RETENTION_S = 7 * 86400.0
# 1-minute rollups are kept this long; 10-minute ones for the rollup retention.
DEFAULT_MINUTE_RETENTION_S = 86400.0
DEFAULT_BUSY_TIMEOUT_S = 5.0
AUDIT_ORIGINS = ("keyboard", "agent", "cli", "mcp")

_MINUTE = 60
_TEN_MINUTES = 600
# A sparkline point this many rows of a tier wide or wider is drawn from that tier.
_ROWS_PER_POINT = 5
# The writer's page cache, a bound on the memory it holds: one ingest cycle of a 1,000-node
# cluster touches ~1,000 leaf pages (4 MiB) and a minute's rollup about as many again; a
# 64 MiB cache wrote no faster.
_CACHE_KIB = 16384
# A cycle of a 1,000-node cluster dirties ~1,000 pages (one per node's range), so SQLite's
# default checkpoint (1,000 pages) would copy them into the file and sync on every commit;
# a checkpoint every ~8,000 pages writes each page once for several cycles.
_CHECKPOINT_PAGES = 8192
# The write-ahead log is cut back to this size after a checkpoint.
_WAL_LIMIT_BYTES = 64 * 2**20

_INSERT_SAMPLE = (
    f"INSERT OR REPLACE INTO gpu_samples (node_id, ts, gpu, {', '.join(SAMPLE_METRICS)}, job) "
    f"VALUES ({', '.join('?' * (4 + len(SAMPLE_METRICS)))})"
)
_GPU_VALUES = attrgetter("index", *SAMPLE_METRICS)


def _metric_sql(metric: str) -> str:
    return MEMORY_PCT_SQL if metric == "memory_pct" else metric


def _rollup_select() -> str:
    aggregates = ", ".join(
        scaled(f"{m}_{agg}", f"{agg.upper()}({_metric_sql(m)})")
        for m in ROLLUP_METRICS
        for agg in ("min", "avg", "max")
    )
    columns = ", ".join(ROLLUP_COLUMNS)
    return (
        "INSERT OR REPLACE INTO gpu_rollups_1m_rows "
        f"(node_id, minute, gpu, samples, {columns}, job) "
        f"SELECT node_id, CAST(ts / {_MINUTE} AS INTEGER) * {_MINUTE} AS m, gpu, COUNT(*), "
        f"{aggregates}, MAX(job) FROM gpu_samples "
        "WHERE node_id IN (SELECT id FROM nodes) AND ts >= ? AND ts < ? "
        "GROUP BY node_id, m, gpu"
    )


_ROLL_UP = _rollup_select()


class StoreError(Exception):
    """The history database cannot be used; str(error) is one line an operator can act on."""


@dataclass(frozen=True, slots=True)
class StoredGpuSample:
    """One stored reading of one GPU. None means "not reported", never zero."""

    ts: float
    node: str
    gpu: int
    utilization_pct: float | None = None
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    sm_clock_mhz: float | None = None


@dataclass(frozen=True, slots=True)
class GpuSummary:
    """One GPU's min/avg/max of a metric over a time range."""

    node: str
    gpu: int
    min: float
    avg: float
    max: float
    samples: int


@dataclass(frozen=True, slots=True)
class PruneResult:
    samples_deleted: int
    rollups_deleted: int
    ten_minute_rollups_deleted: int = 0


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    ts: float
    user: str
    origin: str
    action: str
    targets: tuple[str, ...]
    reason: str
    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class ChatConversation:
    id: int
    title: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: int
    conversation_id: int
    ts: float
    role: str
    content: str
    extra: Mapping[str, Any] = field(default_factory=lambda: EMPTY_MAPPING)


def _floor_minute(ts: float) -> float:
    return float(math.floor(ts / _MINUTE) * _MINUTE)


def _ceil_minute(ts: float) -> float:
    return float(math.ceil(ts / _MINUTE) * _MINUTE)


def _store_error(path: Path, error: sqlite3.Error, busy_timeout_s: float) -> StoreError:
    text = one_line(error)
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered:
        return StoreError(
            f"history database {path} is corrupt: {text}; move it aside or set [store] path"
        )
    if "locked" in lowered or "busy" in lowered:
        return StoreError(
            f"history database {path} is locked by another process "
            f"(waited {busy_timeout_s:g} s): {text}"
        )
    return StoreError(f"history database {path}: {text}")


def _split_statements(script: str) -> list[str]:
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements


def _connect_target(path: Path, readonly: bool) -> tuple[Path, str, bool]:
    """(path, what to pass sqlite3.connect, whether it is a URI); a writer creates the folder."""
    path = path.expanduser()
    if readonly:
        if not path.is_file():
            raise StoreError(f"history database {path} does not exist yet")
        return path, f"file:{quote(str(path.absolute()))}?mode=ro", True
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"history database {path}: {one_line(error)}") from None
    return path, str(path), False


async def _worker_stopped(connection: aiosqlite.Connection) -> None:
    """Wait for the worker thread of a connection that failed to open: it answers on this
    event loop, and would print "Event loop is closed" tracebacks after the loop ends."""
    worker = getattr(connection, "_thread", None)
    if isinstance(worker, threading.Thread) and worker.is_alive():
        await asyncio.to_thread(worker.join, 5.0)


class Store:
    """Async access to the history database. Create with `await Store.open(path)`."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: Path,
        *,
        readonly: bool,
        raw_retention_s: float,
        rollup_retention_s: float,
        busy_timeout_s: float,
        minute_retention_s: float = DEFAULT_MINUTE_RETENTION_S,
    ) -> None:
        self._db = db
        self.path = path
        self.readonly = readonly
        self.raw_retention_s = raw_retention_s
        self.rollup_retention_s = rollup_retention_s
        self.minute_retention_s = min(minute_retention_s, rollup_retention_s)
        self._busy_timeout_s = busy_timeout_s
        self._lock = asyncio.Lock()
        self._node_ids: dict[str, int] = {}
        self._job_ids: dict[str, int] = {}
        self._rolled_until: float | None = None
        self._closed = False

    # ----------------------------------------------------------------- opening, closing

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        readonly: bool = False,
        raw_retention_s: float = DEFAULT_RAW_RETENTION_S,
        rollup_retention_s: float = DEFAULT_ROLLUP_RETENTION_S,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        minute_retention_s: float = DEFAULT_MINUTE_RETENTION_S,
    ) -> Store:
        """Open (read-write: create and migrate) the database at `path`, or raise StoreError."""
        path, target, uri = _connect_target(Path(path), readonly)
        connection = aiosqlite.connect(target, uri=uri, isolation_level=None)
        try:
            db = await connection
        except sqlite3.Error as error:
            await _worker_stopped(connection)
            raise _store_error(path, error, busy_timeout_s) from None
        store = cls(
            db,
            path,
            readonly=readonly,
            raw_retention_s=raw_retention_s,
            rollup_retention_s=rollup_retention_s,
            busy_timeout_s=busy_timeout_s,
            minute_retention_s=minute_retention_s,
        )
        try:
            with store._errors():
                await store._prepare()
        except BaseException:
            await db.close()
            raise
        return store

    async def _prepare(self) -> None:
        db = self._db
        await db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
        # The first read of the file: a garbage file fails here, before anything is written.
        version = await self._user_version()
        await self._check_ownership(version)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"history database {self.path} has schema version {version}, newer than this "
                f"clusterdash supports ({SCHEMA_VERSION}); upgrade clusterdash or set [store] path"
            )
        if self.readonly:
            if version < SCHEMA_VERSION:
                raise StoreError(
                    f"history database {self.path} has schema version {version}, older than "
                    f"{SCHEMA_VERSION}; start the collector once to upgrade it"
                )
            return
        (journal_mode,) = await self._fetch_one("PRAGMA journal_mode = WAL")
        if journal_mode != "wal":
            logger.warning(
                "history database {} cannot use WAL (journal mode {}): other processes "
                "reading it will wait for writes",
                self.path,
                journal_mode,
            )
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute("PRAGMA foreign_keys = ON")
        await db.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        await db.execute(f"PRAGMA wal_autocheckpoint = {_CHECKPOINT_PAGES}")
        await db.execute(f"PRAGMA journal_size_limit = {_WAL_LIMIT_BYTES}")
        await self._migrate(version)
        for node_id, name in await self._fetch_all("SELECT id, name FROM nodes"):
            self._node_ids[name] = node_id
        self._rolled_until, _ = await self._meta()

    async def _check_ownership(self, version: int) -> None:
        """Refuse another application's SQLite file rather than adding tables to it."""
        (application_id,) = await self._fetch_one("PRAGMA application_id")
        (tables,) = await self._fetch_one("SELECT count(*) FROM sqlite_master")
        foreign = application_id != APPLICATION_ID if version > 0 else tables > 0
        if foreign:
            raise StoreError(
                f"history database {self.path} is not a clusterdash history database; "
                "move it aside or set [store] path"
            )

    async def _migrate(self, version: int) -> None:
        while version < SCHEMA_VERSION:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                current = await self._user_version()
                if current == version:
                    for statement in _split_statements(MIGRATIONS[version]):
                        await self._db.execute(statement)
                    await self._db.execute(f"PRAGMA user_version = {version + 1}")
                    logger.info("history database {} now at version {}", self.path, version + 1)
                    current = version + 1
                await self._db.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error, ValueError):
                    await self._db.execute("ROLLBACK")
                raise
            version = current

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ----------------------------------------------------------------- low-level access

    @property
    def db(self) -> aiosqlite.Connection:
        """The underlying connection, for modules that own tables here (alerts)."""
        return self._db

    @property
    def schema_version(self) -> int:
        return SCHEMA_VERSION

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            raise _store_error(self.path, error, self._busy_timeout_s) from None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction (BEGIN IMMEDIATE .. COMMIT, ROLLBACK on error), serialised."""
        self._require_writable()
        async with self._lock:
            with self._errors():
                await self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    with suppress(sqlite3.Error, ValueError):
                        await self._db.execute("ROLLBACK")
                    raise
                await self._db.execute("COMMIT")

    def _require_writable(self) -> None:
        if self.readonly:
            raise StoreError(f"history database {self.path} is open read-only")

    async def _fetch_one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        async with self._db.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def _fetch_all(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> Iterable[Any]:
        with self._errors():
            return await self._db.execute_fetchall(sql, params)

    async def _user_version(self) -> int:
        row = await self._fetch_one("PRAGMA user_version")
        return int(row[0])

    async def _meta(self) -> tuple[float | None, float | None]:
        """(rolled-up-until minute, raw-pruned-until time) as stored in the database."""
        rows = dict(await self._fetch_all("SELECT key, value FROM store_meta"))
        rolled, pruned = rows.get("rolled_until"), rows.get("raw_pruned_until")
        return (
            None if rolled is None else float(rolled),
            None if pruned is None else float(pruned),
        )

    async def _node_id(self, node: str) -> int | None:
        node_id = self._node_ids.get(node)
        if node_id is None:
            rows = list(await self._fetch_all("SELECT id FROM nodes WHERE name = ?", (node,)))
            if not rows:
                return None
            node_id = self._node_ids[node] = int(rows[0][0])
        return node_id

    # ----------------------------------------------------------------- samples and rollups

    async def write_snapshot(self, snapshot: ClusterSnapshot) -> int:
        """Store every GPU reading of one cycle in one transaction; returns the rows written."""
        ts = float(snapshot.taken_at)
        names = {gpu.node for gpu in snapshot.gpus}
        ids = dict(self._node_ids)
        async with self.transaction() as db:
            missing = sorted(names - ids.keys())
            if missing:
                await db.executemany(
                    "INSERT OR IGNORE INTO nodes (name) VALUES (?)", [(n,) for n in missing]
                )
                ids.update(
                    (name, node_id)
                    for node_id, name in await db.execute_fetchall("SELECT id, name FROM nodes")
                )
            holders, job_ids = await self._job_holders(db, snapshot)
            rows = [
                (ids[gpu.node], ts, *_GPU_VALUES(gpu), holders.get((gpu.node, gpu.index)))
                for gpu in snapshot.gpus
            ]
            rows.sort(key=itemgetter(0, 2))
            await db.executemany(_INSERT_SAMPLE, rows)
            rolled_until = await self._roll_up(db, ts)
        self._node_ids = ids
        self._job_ids = job_ids
        self._rolled_until = rolled_until
        return len(rows)

    async def _job_holders(
        self, db: aiosqlite.Connection, snapshot: ClusterSnapshot
    ) -> tuple[dict[tuple[str, int], int], dict[str, int]]:
        """(node, GPU index) -> stored job key, for the GPUs Slurm says a job holds; and the
        keys of those jobs, the only ones remembered after the write commits (a job that ended
        is looked up again if it comes back), so that a long run's churn of jobs is not kept."""
        held = [job for job in snapshot.jobs if job.gpu_indices]
        remembered = self._job_ids
        keys = {job.job_id: remembered[job.job_id] for job in held if job.job_id in remembered}
        missing = [job for job in held if job.job_id not in keys]
        if missing:
            await db.executemany(
                "INSERT OR IGNORE INTO jobs (job_id, user, account) VALUES (?, ?, ?)",
                [(job.job_id, job.user, job.account) for job in missing],
            )
            wanted = [job.job_id for job in missing]
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                for key, job_id in await db.execute_fetchall(
                    f"SELECT id, job_id FROM jobs WHERE job_id IN ({marks})", chunk
                ):
                    keys[job_id] = int(key)
        holders: dict[tuple[str, int], int] = {}
        for job in held:
            key = keys[job.job_id]
            for node, indices in job.gpu_indices.items():
                for index in indices:
                    holders[(node, index)] = key
        return holders, keys

    async def _roll_up(self, db: aiosqlite.Connection, ts: float) -> float:
        """Roll up every closed minute not yet rolled up; returns the new watermark."""
        minute = _floor_minute(ts)
        done = self._rolled_until
        if done is None:
            # Every sample write also stores the watermark, so nothing older exists.
            done = minute
        if minute > done:
            await self._roll_up_minutes(db, done, minute)
            done = minute
        elif minute < done:
            # A late sample for a minute already rolled up: recompute that minute.
            _, pruned = await self._meta()
            if pruned is None or minute >= pruned:
                await self._roll_up_minutes(db, minute, minute + _MINUTE)
        await db.execute(
            "INSERT OR REPLACE INTO store_meta (key, value) VALUES ('rolled_until', ?)", (done,)
        )
        await self._roll_up_ten_minutes(db, done)
        return done

    async def _roll_up_minutes(self, db: aiosqlite.Connection, start: float, end: float) -> None:
        """The 1-minute rows of [start, end), and each job's sums over them."""
        await db.execute(_ROLL_UP, (start, end))
        window = {"start": start, "end": end}
        for statement in JOB_MINUTES_ROLL_UP:
            await db.execute(statement, window)

    async def _roll_up_ten_minutes(self, db: aiosqlite.Connection, rolled_until: float) -> None:
        """Roll the 1-minute rows of every closed 10 minutes into the 10-minute tier."""
        bucket = math.floor(rolled_until / _TEN_MINUTES) * _TEN_MINUTES
        rows = await db.execute_fetchall(
            "SELECT value FROM store_meta WHERE key = 'rolled_10m_until'"
        )
        done = float(rows[0][0]) if rows else None  # type: ignore[index]
        if done is not None and bucket > done:
            window = {"start": int(done), "end": bucket}
            await db.execute(TEN_MINUTE_ROLL_UP, window)
            await db.execute(JOB_USAGE_ROLL_UP, window)
            await db.execute(JOB_SPANS_UPDATE, window)
        if done is None or bucket > done:
            await db.execute(
                "INSERT OR REPLACE INTO store_meta (key, value) VALUES ('rolled_10m_until', ?)",
                (bucket,),
            )

    async def prune(self, now: float) -> PruneResult:
        """Delete raw samples older than the raw retention and rollups older than theirs."""
        raw_cutoff = now - self.raw_retention_s
        rollup_cutoff = now - self.rollup_retention_s
        async with self.transaction() as db:
            rolled, _ = await self._meta()
            # Raw rows whose minute is not rolled up yet are kept, whatever their age.
            raw_cutoff = min(raw_cutoff, rolled if rolled is not None else -math.inf)
            samples = await db.execute(
                "DELETE FROM gpu_samples WHERE node_id IN (SELECT id FROM nodes) AND ts < ?",
                (raw_cutoff,),
            )
            ten_rows = await db.execute_fetchall(
                "SELECT value FROM store_meta WHERE key = 'rolled_10m_until'"
            )
            rolled_10m = float(ten_rows[0][0]) if ten_rows else -math.inf  # type: ignore[index]
            # 1-minute rows go after a day, whole 10 minutes at a time once rolled up, so that
            # every 10 minutes is served wholly by one tier. Kept as long as the 10-minute
            # tier, they are the last tier and go minute by minute.
            tiered = self.minute_retention_s < self.rollup_retention_s
            if tiered:
                minute_cutoff = min(now - self.minute_retention_s, rolled_10m)
                if math.isfinite(minute_cutoff):
                    minute_cutoff = math.floor(minute_cutoff / _TEN_MINUTES) * _TEN_MINUTES
            else:
                minute_cutoff = rollup_cutoff
            rollups = await db.execute(
                "DELETE FROM gpu_rollups_1m_rows "
                "WHERE node_id IN (SELECT id FROM nodes) AND minute < ?",
                (minute_cutoff - _MINUTE + 1,),  # minutes that ended by the cutoff
            )
            ten_minute = await db.execute(
                "DELETE FROM gpu_rollups_10m_rows "
                "WHERE node_id IN (SELECT id FROM nodes) AND bucket <= ?",
                (rollup_cutoff - _TEN_MINUTES,),
            )
            await self._prune_job_usage(db, rollup_cutoff - _TEN_MINUTES)
            if tiered and math.isfinite(minute_cutoff):
                await db.execute(
                    "INSERT OR REPLACE INTO store_meta (key, value) "
                    "VALUES ('minute_pruned_until', MAX(?, COALESCE("
                    "(SELECT value FROM store_meta WHERE key = 'minute_pruned_until'), ?)))",
                    (minute_cutoff, minute_cutoff),
                )
            if math.isfinite(raw_cutoff):
                await db.execute(
                    "INSERT OR REPLACE INTO store_meta (key, value) "
                    "VALUES ('raw_pruned_until', MAX(?, COALESCE("
                    "(SELECT value FROM store_meta WHERE key = 'raw_pruned_until'), ?)))",
                    (raw_cutoff, raw_cutoff),
                )
        result = PruneResult(samples.rowcount, rollups.rowcount, ten_minute.rowcount)
        logger.debug("history pruned: {}", result)
        return result

    async def _prune_job_usage(self, db: aiosqlite.Connection, cutoff: float) -> None:
        """Delete the running usage totals of the jobs whose last 10 minutes are at or before
        `cutoff`; a job still in the retention keeps all its rows, so its totals stay exact."""
        rows = await db.execute_fetchall(
            "SELECT value FROM store_meta WHERE key = 'job_usage_pruned_until'"
        )
        since = float(rows[0][0]) if rows else -math.inf  # type: ignore[index]
        if not math.isfinite(cutoff) or cutoff <= since:
            return
        await db.execute(
            "DELETE FROM job_usage_10m WHERE job IN "
            "(SELECT id FROM jobs WHERE last_bucket > ? AND last_bucket <= ?)",
            (since, cutoff),
        )
        # Without its span the job is in no report, as its rollups are gone too.
        await db.execute(
            "UPDATE jobs SET first_bucket = NULL, last_bucket = NULL "
            "WHERE last_bucket > ? AND last_bucket <= ?",
            (since, cutoff),
        )
        await db.execute(
            "INSERT OR REPLACE INTO store_meta (key, value) VALUES ('job_usage_pruned_until', ?)",
            (cutoff,),
        )

    async def run_maintenance(
        self, interval_s: float = 60.0, clock: Callable[[], float] = time.time
    ) -> None:
        """Prune now and then every `interval_s` until cancelled; failures are logged, not fatal."""
        while True:
            try:
                await self.prune(clock())
            except StoreError as error:
                logger.warning("history pruning failed: {}", error)
            await asyncio.sleep(interval_s)

    async def _raw_boundary(self) -> float:
        """Time from which raw samples are complete; rollups serve what lies before it."""
        rolled, pruned = await self._meta()
        if pruned is None:
            return -math.inf
        boundary = _ceil_minute(pruned)
        return boundary if rolled is None else min(boundary, rolled)

    async def _ten_minute_boundary(self) -> float:
        """Time from which 1-minute rollups are complete; the 10-minute tier serves before it."""
        rows = list(
            await self._fetch_all("SELECT value FROM store_meta WHERE key = 'minute_pruned_until'")
        )
        return float(rows[0][0]) if rows else -1.0

    async def _history_boundaries(self, width: float) -> tuple[float, float]:
        """(where the 10-minute tier stops serving a sparkline, where raw samples start) for
        points `width` s apart: where a point spans at least five rows of a tier, its closed
        stretch comes from that tier, so a week reads 10-minute rows up to the last closed
        10 minutes rather than a day of 1-minute rows and an hour of raw samples (3x fewer
        rows)."""
        rows = await self._fetch_all(
            "SELECT key, value FROM store_meta WHERE key IN "
            "('rolled_until', 'raw_pruned_until', 'minute_pruned_until', 'rolled_10m_until')"
        )
        meta = {str(key): float(value) for key, value in rows}
        rolled, pruned = meta.get("rolled_until"), meta.get("raw_pruned_until")
        boundary10 = meta.get("minute_pruned_until", -1.0)
        boundary = -math.inf if pruned is None else _ceil_minute(pruned)
        if rolled is not None:
            boundary = min(boundary, rolled)
            if width >= _ROWS_PER_POINT * _MINUTE:
                boundary = rolled
        if width >= _ROWS_PER_POINT * _TEN_MINUTES:
            boundary10 = max(boundary10, meta.get("rolled_10m_until", -1.0))
        return boundary10, boundary

    async def gpu_history(
        self, node: str, metric: str, start: float, end: float, max_points: int
    ) -> GpuSeries:
        """GPU index -> [(t, value)] over [start, end], averaged into at most max_points buckets.

        Raw samples where they still exist, 1-minute rollup averages before that, 10-minute
        ones before those; where points are five minutes (fifty minutes) apart or more, the
        closed minutes (ten minutes) come from their rollups. Unknown values are left out, never
        reported as zero.
        """
        if metric not in HISTORY_METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {HISTORY_METRICS}")
        if max_points < 1 or end < start:
            return {}
        node_id = await self._node_id(node)
        if node_id is None:
            return {}
        width = max(end - start, 1e-9) / max_points
        boundary10, boundary = await self._history_boundaries(width)
        sql = f"""
            SELECT gpu, MIN(CAST((t - :start) / :width AS INTEGER), :last) AS bucket,
                   AVG(t), AVG(v)
            FROM (
                SELECT gpu, bucket + 300.0 AS t, {metric}_avg AS v FROM gpu_rollups_10m
                WHERE node_id = :node AND bucket >= :start - 300 AND bucket < :boundary10
                  AND bucket + 300 <= :end
                UNION ALL
                SELECT gpu, minute + 30.0 AS t, {metric}_avg AS v FROM gpu_rollups_1m
                WHERE node_id = :node AND minute >= MAX(:start - 30, :boundary10)
                  AND minute < :boundary AND minute + 30 <= :end
                UNION ALL
                SELECT gpu, ts AS t, {_metric_sql(metric)} AS v FROM gpu_samples
                WHERE node_id = :node AND ts >= :raw_start AND ts <= :end
            )
            WHERE v IS NOT NULL
            GROUP BY gpu, bucket
            ORDER BY gpu, bucket
        """
        params = {
            "node": node_id,
            "start": start,
            "end": end,
            "width": width,
            "last": max_points - 1,
            "boundary": boundary if math.isfinite(boundary) else -1.0,
            "boundary10": boundary10,
            "raw_start": max(start, boundary),
        }
        series: dict[int, list[tuple[float, float]]] = {}
        for gpu, _bucket, t, value in await self._fetch_all(sql, params):
            series.setdefault(int(gpu), []).append((float(t), float(value)))
        return series

    async def gpu_samples(
        self, node: str, start: float, end: float, gpu: int | None = None
    ) -> list[StoredGpuSample]:
        """Raw samples of one node (or one of its GPUs) in [start, end], oldest first.

        For "the last N minutes of GPU 3 on node-7": gpu_samples("node-7", now - N*60, now, 3).
        """
        node_id = await self._node_id(node)
        if node_id is None:
            return []
        gpu_filter = "" if gpu is None else "AND gpu = :gpu"
        rows = await self._fetch_all(
            f"SELECT ts, gpu, {', '.join(SAMPLE_METRICS)} FROM gpu_samples "
            f"WHERE node_id = :node AND ts >= :start AND ts <= :end {gpu_filter} "
            "ORDER BY ts, gpu",
            {"node": node_id, "start": start, "end": end, "gpu": gpu},
        )
        return [StoredGpuSample(row[0], node, *row[1:]) for row in rows]

    async def gpu_summary(self, metric: str, start: float, end: float) -> list[GpuSummary]:
        """Cluster-wide: min/avg/max of `metric` per GPU over [start, end], by node and GPU."""
        if metric not in ROLLUP_METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {ROLLUP_METRICS}")
        boundary = await self._raw_boundary()
        sql = f"""
            SELECT n.name, u.gpu, MIN(u.lo), SUM(u.av * u.cnt) / SUM(u.cnt), MAX(u.hi),
                   SUM(u.cnt)
            FROM (
                SELECT node_id, gpu, {metric}_min AS lo, {metric}_avg AS av,
                       {metric}_max AS hi, samples AS cnt
                FROM gpu_rollups_10m
                WHERE node_id IN (SELECT id FROM nodes) AND bucket >= :start
                  AND bucket < :boundary10 AND bucket < :end AND {metric}_avg IS NOT NULL
                UNION ALL
                SELECT node_id, gpu, {metric}_min AS lo, {metric}_avg AS av,
                       {metric}_max AS hi, samples AS cnt
                FROM gpu_rollups_1m
                WHERE node_id IN (SELECT id FROM nodes) AND minute >= MAX(:start, :boundary10)
                  AND minute < :boundary AND minute < :end AND {metric}_avg IS NOT NULL
                UNION ALL
                SELECT node_id, gpu, v, v, v, 1 FROM (
                    SELECT node_id, gpu, {_metric_sql(metric)} AS v FROM gpu_samples
                    WHERE node_id IN (SELECT id FROM nodes) AND ts >= :raw_start AND ts <= :end
                ) WHERE v IS NOT NULL
            ) AS u JOIN nodes AS n ON n.id = u.node_id
            GROUP BY u.node_id, u.gpu
            ORDER BY n.name, u.gpu
        """
        params = {
            "start": start,
            "end": end,
            "boundary": boundary if math.isfinite(boundary) else -1.0,
            "boundary10": await self._ten_minute_boundary(),
            "raw_start": max(start, boundary),
        }
        rows = await self._fetch_all(sql, params)
        return [GpuSummary(name, int(gpu), lo, av, hi, int(n)) for name, gpu, lo, av, hi, n in rows]

    # ----------------------------------------------------------------- audit log

    async def add_audit(self, record: AuditRecord) -> int:
        """Record one action an operator or the agent took; returns its id."""
        if record.origin not in AUDIT_ORIGINS:
            raise ValueError(
                f"unknown audit origin {record.origin!r}; expected one of {AUDIT_ORIGINS}"
            )
        async with self.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO audit_log (ts, user, origin, action, targets, reason, ok, message) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time() if record.ts is None else record.ts,
                    record.user,
                    record.origin,
                    record.action,
                    json.dumps(list(record.targets)),
                    record.reason,
                    int(record.ok),
                    record.message,
                ),
            )
        return int(cursor.lastrowid or 0)

    async def list_audit(self, limit: int = 100, since: float | None = None) -> list[AuditEntry]:
        """The newest audit entries first, at most `limit`, optionally only those at/after since."""
        rows = await self._fetch_all(
            "SELECT id, ts, user, origin, action, targets, reason, ok, message FROM audit_log "
            "WHERE ts >= ? ORDER BY ts DESC, id DESC LIMIT ?",
            (-math.inf if since is None else since, limit),
        )
        return [
            AuditEntry(
                id=row[0],
                ts=row[1],
                user=row[2],
                origin=row[3],
                action=row[4],
                targets=tuple(json.loads(row[5])),
                reason=row[6],
                ok=bool(row[7]),
                message=row[8],
            )
            for row in rows
        ]

    # ----------------------------------------------------------------- agent chat

    async def create_conversation(self, title: str, ts: float | None = None) -> int:
        now = time.time() if ts is None else ts
        async with self.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO chat_conversations (title, created_at, updated_at) VALUES (?, ?, ?)",
                (title, now, now),
            )
        return int(cursor.lastrowid or 0)

    async def add_chat_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        extra: Mapping[str, Any] | None = None,
        ts: float | None = None,
    ) -> int:
        """Append a message (extra: tool calls, tool_call_id, reasoning) to a conversation."""
        now = time.time() if ts is None else ts
        async with self.transaction() as db:
            updated = await db.execute(
                "UPDATE chat_conversations SET updated_at = MAX(updated_at, ?) WHERE id = ?",
                (now, conversation_id),
            )
            if updated.rowcount == 0:
                raise StoreError(f"chat conversation {conversation_id} does not exist")
            cursor = await db.execute(
                "INSERT INTO chat_messages (conversation_id, ts, role, content, extra) "
                "VALUES (?, ?, ?, ?, ?)",
                (conversation_id, now, role, content, json.dumps(dict(extra)) if extra else None),
            )
        return int(cursor.lastrowid or 0)

    async def list_conversations(self, limit: int = 50) -> list[ChatConversation]:
        """Most recently updated first."""
        rows = await self._fetch_all(
            "SELECT id, title, created_at, updated_at FROM chat_conversations "
            "ORDER BY updated_at DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [ChatConversation(*row) for row in rows]

    async def conversation_messages(self, conversation_id: int) -> list[ChatMessage]:
        """A conversation's messages in the order they were added."""
        rows = await self._fetch_all(
            "SELECT id, conversation_id, ts, role, content, extra FROM chat_messages "
            "WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        )
        return [
            ChatMessage(*row[:5], extra=json.loads(row[5]) if row[5] else EMPTY_MAPPING)
            for row in rows
        ]
