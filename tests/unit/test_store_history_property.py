"""Property: whatever the samples, a history query stays within its bounds and its inputs."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tui.model import ClusterSnapshot, Gpu
from tui.store import Store

T0 = 1_800_000_000.0

samples_strategy = st.dictionaries(
    keys=st.integers(min_value=0, max_value=400).map(lambda k: T0 + 3 * k),
    values=st.one_of(st.none(), st.floats(min_value=0, max_value=100, allow_nan=False)),
    min_size=1,
    max_size=60,
)


async def query(
    samples: dict[float, float | None], start: float, end: float, max_points: int
) -> dict[int, list[tuple[float, float]]]:
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(Path(folder) / "history.db", raw_retention_s=300)
        try:
            for ts in sorted(samples):
                gpu = Gpu(node="gpu-01", index=0, utilization_pct=samples[ts])
                await store.write_snapshot(ClusterSnapshot(taken_at=ts, gpus=(gpu,)))
            await store.prune(max(samples) + 60)
            series = await store.gpu_history("gpu-01", "utilization_pct", start, end, max_points)
            return dict(series)
        finally:
            await store.close()


@settings(max_examples=25, deadline=None)
@given(
    samples=samples_strategy,
    window=st.tuples(st.integers(0, 1200), st.integers(1, 1200)),
    max_points=st.integers(1, 50),
)
def test_history_points_are_bounded_ordered_and_within_input_range(
    samples: dict[float, float | None], window: tuple[int, int], max_points: int
) -> None:
    start = T0 + window[0]
    end = start + window[1]
    series = asyncio.run(query(samples, start, end, max_points))
    known = [v for v in samples.values() if v is not None]
    assert set(series) <= {0}
    points = series.get(0, [])
    assert len(points) <= max_points
    assert [t for t, _ in points] == sorted(t for t, _ in points)
    for t, value in points:
        assert start <= t <= end
        # Rollup averages are kept to hundredths: within half of one of the inputs' range.
        assert min(known) - 0.005 - 1e-9 <= value <= max(known) + 0.005 + 1e-9
    in_range = [v for ts, v in samples.items() if v is not None and start <= ts <= end]
    # Raw samples are kept 300 s (pruned to a minute boundary): they cover this window whole.
    if in_range and start >= max(samples) - 180:
        assert points
