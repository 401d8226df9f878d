"""BENCH collect_soak_rss_growth_mb_per_h: `collect` at 1,024 nodes keeps a flat RSS.

`clusterdash collect` runs production's wiring against the simulator served on one loopback
address per node, with Slurm answering through the simulator's stand-in commands, for
CLUSTERDASH_SOAK_S seconds (30 minutes by default). Its RSS is sampled every few seconds;
after the first sixth (caches, connection pool, store pages warming up) the growth is the
slope of a least-squares line through the samples, in MB per hour.

The RSS is the whole process's, as an operator sees it: SQLite's page cache (16 MiB, full
about 4 minutes in at 1,024 nodes) and the write-ahead log's index count. The first rollup of
a whole 10 minutes falls 10-20 minutes in, inside the slope's window, so a one-time step there
counts as growth; there was one of +4 MB, glibc keeping SQLite's sort buffers resident (see
tui/malloc_tuning). Raw rows are pruned only after the first hour, which 30 minutes does not
reach.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import psutil
import pytest

from tests.bench.report import bench
from tests.bench.sim_process import sim_server_process
from tests.collect_process import Collect

NODES = 1024
SOAK_S = float(os.environ.get("CLUSTERDASH_SOAK_S", "1800"))
SAMPLE_EVERY_S = 5.0
TARGET_GROWTH_MB_PER_H = 5.0


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per hour."""
    times = [t for t, _ in samples]
    values = [v for _, v in samples]
    mean_t, mean_v = statistics.fmean(times), statistics.fmean(values)
    spread = sum((t - mean_t) ** 2 for t in times)
    if spread == 0:
        return 0.0
    return 3600.0 * sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread


@pytest.mark.bench
@pytest.mark.timeout(int(SOAK_S) + 900)
def test_collect_soak_rss_stays_flat(tmp_path: Path) -> None:
    with sim_server_process(NODES, tmp_path / "bin") as fleet:
        config = tmp_path / "config.toml"
        urls = json.dumps([url for _, url in fleet.targets()])
        config.write_text(
            f'[cluster]\nname = "soak"\n[slurm]\nbin_dir = "{fleet.bin_dir}"\n'
            f"[gpu]\ntargets = {urls}\n"
        )
        env = dict(
            os.environ,
            XDG_RUNTIME_DIR=str(tmp_path / "run"),
            XDG_CONFIG_HOME=str(tmp_path / "config"),
            CLUSTERDASH_STORE_PATH=str(tmp_path / "history.sqlite3"),
        )
        (tmp_path / "run").mkdir()
        collect = Collect(env, "--config", str(config)).start()
        try:
            assert collect.process is not None
            process = psutil.Process(collect.process.pid)
            samples: list[tuple[float, float]] = []
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < SOAK_S:
                assert collect.process.poll() is None, collect.stderr()[-2000:]
                samples.append((elapsed, process.memory_info().rss / 2**20))
                time.sleep(SAMPLE_EVERY_S)
        finally:
            collect.stop()
    settled = [s for s in samples if s[0] >= SOAK_S / 6]
    for minute in range(0, int(SOAK_S // 60) + 1, 5):
        at = min(samples, key=lambda sample: abs(sample[0] - 60 * minute))
        print(f"collect RSS at {at[0] / 60:.1f} min: {at[1]:.1f} MB")
    bench("collect_soak_minutes", SOAK_S / 60, "min", digits=1)
    bench("collect_soak_rss_after_warmup_mb", settled[0][1], "MB", digits=1)
    bench("collect_soak_rss_end_mb", samples[-1][1], "MB", digits=1)
    bench(
        "collect_soak_rss_growth_mb_per_h",
        slope_per_hour(settled),
        "MB/h",
        at_most=TARGET_GROWTH_MB_PER_H,
        digits=2,
    )
    second_half = [s for s in samples if s[0] >= SOAK_S / 2]
    bench(
        "collect_soak_rss_growth_second_half_mb_per_h",
        slope_per_hour(second_half),
        "MB/h",
        digits=2,
    )
