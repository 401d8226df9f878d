"""The history database's schema and its migrations.

`MIGRATIONS[i]` moves a database from `PRAGMA user_version` i to i + 1. Each runs in its
own transaction together with the version bump, so a crash leaves a whole version or none.
Append new scripts; never edit one that has shipped.
"""

from __future__ import annotations

# Metric columns of a GPU sample row; NULL means "not reported", never zero.
SAMPLE_METRICS = (
    "utilization_pct",
    "memory_used_mib",
    "memory_total_mib",
    "temperature_c",
    "power_w",
    "sm_clock_mhz",
)

# Rolled-up series: the sample metrics plus memory_pct, derived per sample so that its
# min/max stay exact.
ROLLUP_METRICS = (*SAMPLE_METRICS, "memory_pct")

MEMORY_PCT_SQL = "100.0 * memory_used_mib / NULLIF(memory_total_mib, 0)"


def _rollup_columns() -> str:
    return ",\n    ".join(
        f"{metric}_{agg} REAL" for metric in ROLLUP_METRICS for agg in ("min", "avg", "max")
    )


# Marks the file as a clusterdash history database ("CDHS"), so a foreign one is refused.
APPLICATION_ID = 0x43444853

_V1 = f"""
PRAGMA application_id = {APPLICATION_ID};

CREATE TABLE nodes (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- One row per (node, sample time, GPU). Clustered on node first so that one node's time
-- range (a sparkline) is a single contiguous read; pruning and rollups seek per node.
CREATE TABLE gpu_samples (
    node_id INTEGER NOT NULL,
    ts REAL NOT NULL,
    gpu INTEGER NOT NULL,
    {", ".join(f"{m} REAL" for m in SAMPLE_METRICS)},
    PRIMARY KEY (node_id, ts, gpu)
) WITHOUT ROWID;

-- One row per (node, minute start, GPU): min/avg/max of each metric over that minute.
CREATE TABLE gpu_rollups_1m (
    node_id INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    gpu INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    {_rollup_columns()},
    PRIMARY KEY (node_id, minute, gpu)
) WITHOUT ROWID;

-- Small key/value state of the store itself (rollup watermark).
CREATE TABLE store_meta (
    key TEXT PRIMARY KEY,
    value
) WITHOUT ROWID;

CREATE TABLE alert_state (
    rule TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    active_since REAL,
    fired_at REAL,
    resolved_at REAL,
    last_value REAL,
    severity TEXT,
    summary TEXT,
    labels TEXT,
    ack_by TEXT,
    ack_at REAL,
    PRIMARY KEY (rule, target)
);
CREATE INDEX alert_state_by_state ON alert_state (state);

CREATE TABLE alert_events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    rule TEXT NOT NULL,
    target TEXT NOT NULL,
    severity TEXT,
    state TEXT NOT NULL,
    value REAL,
    summary TEXT
);
CREATE INDEX alert_events_by_ts ON alert_events (ts);
CREATE INDEX alert_events_by_rule ON alert_events (rule, ts);
CREATE INDEX alert_events_by_target ON alert_events (target, ts);
CREATE INDEX alert_events_by_severity ON alert_events (severity, ts);

CREATE TABLE silences (
    id INTEGER PRIMARY KEY,
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    rule TEXT,
    target TEXT,
    ends_at REAL NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    lifted_at REAL
);
CREATE INDEX silences_active ON silences (ends_at) WHERE lifted_at IS NULL;

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    user TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('keyboard', 'agent', 'cli')),
    action TEXT NOT NULL,
    targets TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    ok INTEGER NOT NULL,
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_ts ON audit_log (ts);

CREATE TABLE chat_conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX chat_conversations_by_updated ON chat_conversations (updated_at);

CREATE TABLE chat_messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
    ts REAL NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    extra TEXT
);
CREATE INDEX chat_messages_by_conversation ON chat_messages (conversation_id, id);
"""

_AGGREGATE_COLUMNS = ", ".join(
    f"{metric}_{agg}" for metric in ROLLUP_METRICS for agg in ("min", "avg", "max")
)


def _ten_minute_aggregates() -> str:
    return ", ".join(
        f"MIN({m}_min), SUM({m}_avg * samples) / SUM(CASE WHEN {m}_avg IS NULL THEN 0 "
        f"ELSE samples END), MAX({m}_max)"
        for m in ROLLUP_METRICS
    )


# Rolls 1-minute rows with :start <= minute < :end into 10-minute rows. Weighted by each
# minute's sample count; the job is the one holding the GPU at the bucket's latest minute.
_TEN_MINUTE_ROLL_UP_V2 = f"""
INSERT OR REPLACE INTO gpu_rollups_10m (node_id, bucket, gpu, job, samples, {_AGGREGATE_COLUMNS})
SELECT node_id, (minute / 600) * 600 AS b, gpu,
       (SELECT r.job FROM gpu_rollups_1m AS r WHERE r.node_id = m.node_id AND r.gpu = m.gpu
          AND r.minute >= (m.minute / 600) * 600 AND r.minute < :end
          ORDER BY r.minute DESC LIMIT 1),
       SUM(samples), {_ten_minute_aggregates()}
FROM gpu_rollups_1m AS m
WHERE node_id IN (SELECT id FROM nodes) AND minute >= :start AND minute < :end
GROUP BY node_id, b, gpu
"""

# Version 2: a 10-minute tier (kept for the rollup retention, while 1-minute rows are kept a
# day) and job attribution: which Slurm job held each GPU in each sample and rollup. Existing
# 1-minute rows are rolled into the new tier so that no history is lost.
_V2 = f"""
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL UNIQUE,
    user TEXT NOT NULL DEFAULT '',
    account TEXT NOT NULL DEFAULT ''
);

ALTER TABLE gpu_samples ADD COLUMN job INTEGER;
ALTER TABLE gpu_rollups_1m ADD COLUMN job INTEGER;

-- One row per (node, 10-minute start, GPU): the 1-minute rows' min, weighted avg and max.
CREATE TABLE gpu_rollups_10m (
    node_id INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    gpu INTEGER NOT NULL,
    job INTEGER,
    samples INTEGER NOT NULL,
    {_rollup_columns()},
    PRIMARY KEY (node_id, bucket, gpu)
) WITHOUT ROWID;

{_TEN_MINUTE_ROLL_UP_V2.replace(":start", "-1").replace(":end", "9e18").strip()};

INSERT OR REPLACE INTO store_meta (key, value)
SELECT 'rolled_10m_until', (MAX(minute) / 600) * 600 FROM gpu_rollups_1m HAVING COUNT(*) > 0;
"""

# Actions taken through `clusterdash mcp` are audited with origin 'mcp'. SQLite cannot change
# a CHECK constraint in place: the table is rebuilt with the same columns and rows.
_V3 = """
CREATE TABLE audit_log_v2 (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    user TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('keyboard', 'agent', 'cli', 'mcp')),
    action TEXT NOT NULL,
    targets TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    ok INTEGER NOT NULL,
    message TEXT NOT NULL DEFAULT ''
);
INSERT INTO audit_log_v2 (id, ts, user, origin, action, targets, reason, ok, message)
    SELECT id, ts, user, origin, action, targets, reason, ok, message FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_v2 RENAME TO audit_log;
CREATE INDEX audit_log_by_ts ON audit_log (ts);
"""

IDLE_THRESHOLD_PCT = 5.0

# Per job, over every GPU it held: GPU-minutes, then (weight, weighted sum) of utilization,
# idle GPU-minutes (utilization under IDLE_THRESHOLD_PCT), and (weight, weighted sum) of memory
# used and of memory percent. NULL readings add to the GPU-minutes only: unknown is never idle.
JOB_USAGE_SUMS = (
    "gpu_minutes",
    "util_minutes",
    "util_sum",
    "idle_minutes",
    "mem_minutes",
    "mem_sum",
    "mem_pct_minutes",
    "mem_pct_sum",
)
_JOB_USAGE_COLUMNS = ", ".join(JOB_USAGE_SUMS)


def _job_usage_terms(minutes: str) -> str:
    """SELECT terms in JOB_USAGE_SUMS order over rollup rows that each last `minutes`."""
    terms = (
        f"SUM({minutes})",
        f"SUM(CASE WHEN utilization_pct_avg IS NOT NULL THEN {minutes} ELSE 0 END)",
        f"COALESCE(SUM(utilization_pct_avg * {minutes}), 0)",
        f"SUM(CASE WHEN utilization_pct_avg < {IDLE_THRESHOLD_PCT} THEN {minutes} ELSE 0 END)",
        f"SUM(CASE WHEN memory_used_mib_avg IS NOT NULL THEN {minutes} ELSE 0 END)",
        f"COALESCE(SUM(memory_used_mib_avg * {minutes}), 0)",
        f"SUM(CASE WHEN memory_pct_avg IS NOT NULL THEN {minutes} ELSE 0 END)",
        f"COALESCE(SUM(memory_pct_avg * {minutes}), 0)",
    )
    return ", ".join(
        f"{term} AS {column}" for term, column in zip(terms, JOB_USAGE_SUMS, strict=True)
    )


def _minute_sums(start: str, end: str) -> str:
    """(job, bucket, sums) of the 1-minute rows in [start, end), each minute its own job's."""
    return f"""
    SELECT job, (minute / 600) * 600 AS bucket, {_job_usage_terms("1.0")}
    FROM gpu_rollups_1m
    WHERE node_id IN (SELECT id FROM nodes) AND minute >= {start} AND minute < {end}
      AND job IS NOT NULL
    GROUP BY job, bucket"""


def _ten_minute_sums(start: str, end: str) -> str:
    """(job, bucket, sums) of 10-minute rows in [start, end), each wholly its job's."""
    return f"""
    SELECT job, bucket, {_job_usage_terms("10.0")}
    FROM gpu_rollups_10m
    WHERE node_id IN (SELECT id FROM nodes) AND bucket >= {start} AND bucket < {end}
      AND job IS NOT NULL
    GROUP BY job, bucket"""


_RUNNING = ", ".join(f"SUM({column}) OVER running" for column in JOB_USAGE_SUMS)
_WINDOW = "WINDOW running AS (PARTITION BY job ORDER BY bucket)"

# Adds the 1-minute rows with :start <= minute < :end (whole 10 minutes, after every bucket
# already in the table) to each job's running totals; run with the 10-minute rollup.
JOB_USAGE_ROLL_UP = f"""
INSERT OR REPLACE INTO job_usage_10m (job, bucket, {_JOB_USAGE_COLUMNS})
SELECT n.job, n.bucket, {
    ", ".join(f"COALESCE(p.{c}, 0) + SUM(n.{c}) OVER running" for c in JOB_USAGE_SUMS)
}
FROM ({_minute_sums(":start", ":end")}
) AS n
LEFT JOIN job_usage_10m AS p ON p.job = n.job AND p.bucket = (
    SELECT MAX(bucket) FROM job_usage_10m WHERE job = n.job AND bucket < :start)
WINDOW running AS (PARTITION BY n.job ORDER BY n.bucket)
"""

# Each job's first and last 10 minutes in the table and its totals at the last, for the jobs
# of 1-minute rows in [:start, :end).
JOB_SPANS_UPDATE = f"""
UPDATE jobs SET
    first_bucket = COALESCE(
        first_bucket, (SELECT MIN(bucket) FROM job_usage_10m WHERE job = jobs.id)),
    (last_bucket, {_JOB_USAGE_COLUMNS}) = (
        SELECT bucket, {_JOB_USAGE_COLUMNS} FROM job_usage_10m WHERE job = jobs.id
        ORDER BY bucket DESC LIMIT 1)
WHERE id IN (
    SELECT job FROM gpu_rollups_1m
    WHERE node_id IN (SELECT id FROM nodes) AND minute >= :start AND minute < :end
)
"""

# How long each job's per-minute sums are kept (job_minutes): the jobs screen's last ten
# minutes, and refreshes up to this far apart, read them instead of every GPU's rollups.
JOB_MINUTES_KEPT_S = 1800

# Each job's sums per minute with :start <= minute < :end, replacing what those minutes held
# (a late sample recomputes its minute), and dropping minutes older than the kept span.
JOB_MINUTES_ROLL_UP = (
    "DELETE FROM job_minutes WHERE minute >= :start AND minute < :end",
    f"""INSERT INTO job_minutes (minute, job, {_JOB_USAGE_COLUMNS})
SELECT minute, job, {_job_usage_terms("1.0")}
FROM gpu_rollups_1m
WHERE node_id IN (SELECT id FROM nodes) AND minute >= :start AND minute < :end
  AND job IS NOT NULL
GROUP BY minute, job""",
    f"DELETE FROM job_minutes WHERE minute < :end - {JOB_MINUTES_KEPT_S}",
)

_META = "COALESCE((SELECT value FROM store_meta WHERE key = '{}'), -1)"

# Every job's running totals from the history already kept: 10-minute rows before the 1-minute
# tier begins, then the 1-minute rows of every rolled-up 10 minutes.
JOB_USAGE_BACKFILL = f"""
INSERT OR REPLACE INTO job_usage_10m (job, bucket, {_JOB_USAGE_COLUMNS})
SELECT job, bucket, {_RUNNING}
FROM ({_ten_minute_sums("-1", _META.format("minute_pruned_until"))}
    UNION ALL {_minute_sums(_META.format("minute_pruned_until"), _META.format("rolled_10m_until"))}
)
{_WINDOW}
"""

JOB_SPANS_BACKFILL = f"""
UPDATE jobs SET
    first_bucket = (SELECT MIN(bucket) FROM job_usage_10m WHERE job = jobs.id),
    (last_bucket, {_JOB_USAGE_COLUMNS}) = (
        SELECT bucket, {_JOB_USAGE_COLUMNS} FROM job_usage_10m WHERE job = jobs.id
        ORDER BY bucket DESC LIMIT 1)
"""

_JOB_TOTAL_COLUMNS = "".join(f"ALTER TABLE jobs ADD COLUMN {c} REAL;\n" for c in JOB_USAGE_SUMS)

# Version 4: each job's running usage totals at the end of every 10 minutes it held a GPU, and
# on the job its first and last of those 10 minutes and its totals at the last: the usage of a
# job over whole 10 minutes is its totals when it lies wholly inside them, else one difference
# of two rows, so a report over a week reads one row per job instead of every GPU's rollups.
# A job's rows are kept until its last 10 minutes leave the rollup retention.
_V4 = f"""
CREATE TABLE job_usage_10m (
    job INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    {", ".join(f"{column} REAL NOT NULL" for column in JOB_USAGE_SUMS)},
    PRIMARY KEY (job, bucket)
) WITHOUT ROWID;

-- Each job's sums per closed minute, for the last JOB_MINUTES_KEPT_S.
CREATE TABLE job_minutes (
    minute INTEGER NOT NULL,
    job INTEGER NOT NULL,
    {", ".join(f"{column} REAL NOT NULL" for column in JOB_USAGE_SUMS)},
    PRIMARY KEY (minute, job)
) WITHOUT ROWID;

ALTER TABLE jobs ADD COLUMN first_bucket INTEGER;
ALTER TABLE jobs ADD COLUMN last_bucket INTEGER;
{_JOB_TOTAL_COLUMNS}CREATE INDEX jobs_by_last_bucket ON jobs (last_bucket);

{JOB_USAGE_BACKFILL.strip()};

{JOB_SPANS_BACKFILL.strip()};

{
    JOB_MINUTES_ROLL_UP[1]
    .replace(":start", f"{_META.format('rolled_until')} - {JOB_MINUTES_KEPT_S}")
    .replace(":end", _META.format("rolled_until"))
};
"""

# Rollup figures stored as integers in hundredths of their unit: averages (and power and
# memory-percent readings) are fractional, and an 8-byte float each was most of a row; an
# integer of hundredths takes 2-4 bytes. Integral readings stay as they are: SQLite keeps a
# whole REAL in 1-3 bytes already.
ROLLUP_SCALE = 100
SCALED_ROLLUP_COLUMNS = frozenset(
    f"{metric}_{agg}"
    for metric in ROLLUP_METRICS
    for agg in ("min", "avg", "max")
    if agg == "avg" or metric in ("power_w", "memory_pct")
)
ROLLUP_COLUMNS = tuple(f"{m}_{agg}" for m in ROLLUP_METRICS for agg in ("min", "avg", "max"))


def scaled(column: str, value: str) -> str:
    """The SQL that stores `value` (in the metric's unit) in rollup column `column`."""
    if column in SCALED_ROLLUP_COLUMNS:
        return f"ROUND(({value}) * {ROLLUP_SCALE})"
    return value


def _column_type(column: str) -> str:
    return "INTEGER" if column in SCALED_ROLLUP_COLUMNS else "REAL"


def _unscaled(column: str) -> str:
    if column in SCALED_ROLLUP_COLUMNS:
        return f"{column} / {ROLLUP_SCALE}.0 AS {column}"
    return column


def _compact_tier(view: str, time_column: str) -> str:
    """Version 5's rows table for one rollup tier, its rows copied from the old table, and
    the view and trigger under the old name that read and write it in the metrics' units."""
    rows = f"{view}_rows"
    names = ", ".join(ROLLUP_COLUMNS)
    return f"""
CREATE TABLE {rows} (
    node_id INTEGER NOT NULL,
    {time_column} INTEGER NOT NULL,
    gpu INTEGER NOT NULL,
    job INTEGER,
    samples INTEGER NOT NULL,
    {", ".join(f"{c} {_column_type(c)}" for c in ROLLUP_COLUMNS)},
    PRIMARY KEY (node_id, {time_column}, gpu)
) WITHOUT ROWID;

INSERT INTO {rows} (node_id, {time_column}, gpu, job, samples, {names})
SELECT node_id, {time_column}, gpu, job, samples, {", ".join(scaled(c, c) for c in ROLLUP_COLUMNS)}
FROM {view} ORDER BY node_id, {time_column}, gpu;

DROP TABLE {view};

CREATE VIEW {view} AS
SELECT node_id, {time_column}, gpu, samples, {", ".join(_unscaled(c) for c in ROLLUP_COLUMNS)}, job
FROM {rows};

CREATE TRIGGER {view}_insert INSTEAD OF INSERT ON {view}
BEGIN
    INSERT INTO {rows} (node_id, {time_column}, gpu, job, samples, {names})
    VALUES (NEW.node_id, NEW.{time_column}, NEW.gpu, NEW.job, NEW.samples,
            {", ".join(scaled(c, f"NEW.{c}") for c in ROLLUP_COLUMNS)});
END;
"""


# Version 5: compact rollup rows. Each tier's rows move to a table of integer keys and
# figures in hundredths (gpu_rollups_1m_rows, gpu_rollups_10m_rows); views under the old
# names read them in the metrics' units, so readers are unchanged.
_V5 = _compact_tier("gpu_rollups_1m", "minute") + _compact_tier("gpu_rollups_10m", "bucket")


def _ten_minute_roll_up() -> str:
    def weighted_avg(metric: str) -> str:
        known = f"CASE WHEN {metric}_avg IS NULL THEN 0 ELSE samples END"
        return f"SUM({metric}_avg * samples) / SUM({known})"

    aggregates = ", ".join(
        f"{scaled(f'{m}_min', f'MIN({m}_min)')}, {scaled(f'{m}_avg', weighted_avg(m))}, "
        f"{scaled(f'{m}_max', f'MAX({m}_max)')}"
        for m in ROLLUP_METRICS
    )
    return f"""
INSERT OR REPLACE INTO gpu_rollups_10m_rows (node_id, bucket, gpu, job, samples,
                                             {_AGGREGATE_COLUMNS})
SELECT node_id, (minute / 600) * 600 AS b, gpu,
       (SELECT r.job FROM gpu_rollups_1m_rows AS r WHERE r.node_id = m.node_id AND r.gpu = m.gpu
          AND r.minute >= (m.minute / 600) * 600 AND r.minute < :end
          ORDER BY r.minute DESC LIMIT 1),
       SUM(samples), {aggregates}
FROM gpu_rollups_1m AS m
WHERE node_id IN (SELECT id FROM nodes) AND minute >= :start AND minute < :end
GROUP BY node_id, b, gpu
"""


# Rolls 1-minute rows with :start <= minute < :end into 10-minute rows. Weighted by each
# minute's sample count; the job is the one holding the GPU at the bucket's latest minute.
TEN_MINUTE_ROLL_UP = _ten_minute_roll_up()

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5)

SCHEMA_VERSION = len(MIGRATIONS)
