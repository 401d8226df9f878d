"""A source's health mark: failures count up until one success clears them."""

from __future__ import annotations

from tui.model import SourceHealth


def test_failures_count_up_and_one_success_clears_them() -> None:
    health = SourceHealth(name="slurm").failed(10.0, "sinfo timed out").failed(20.0, "again")
    assert not health.ok and health.consecutive_failures == 2
    assert health.last_error == "again" and health.last_attempt == 20.0
    assert health.last_success is None
    healthy = health.succeeded(30.0, 0.25)
    assert healthy.ok and healthy.consecutive_failures == 0 and healthy.last_error is None
    assert (healthy.last_success, healthy.last_attempt, healthy.latency_s) == (30.0, 30.0, 0.25)


def test_a_partial_success_keeps_which_targets_failed() -> None:
    health = SourceHealth(name="gpu").succeeded(
        5.0, 0.1, partial_error="gpu-03: refused", failing_targets={"gpu-03": "refused"}
    )
    assert health.ok and health.last_error == "gpu-03: refused"
    assert dict(health.failing_targets) == {"gpu-03": "refused"}
    assert health.failed(6.0, "all down").failing_targets == {}
