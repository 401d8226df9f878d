"""Alert engine: every rule kind over synthetic series, `for`, flapping, restart."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tui.alerts.builtin import BUILTIN_RULES
from tui.alerts.engine import Alert, AlertEngine, AlertState
from tui.alerts.rules import Comparator, Rule, Scope, Severity, Watch
from tui.model import (
    ClusterSnapshot,
    Gpu,
    Job,
    JobState,
    Node,
    NodeBaseState,
    SourceHealth,
)

T0 = 1_000_000.0


def gpu(**fields: object) -> Gpu:
    base: dict[str, object] = {
        "node": "gpu-01",
        "index": 0,
        "model": "NVIDIA A100-SXM4-80GB",
        "utilization_pct": 50.0,
        "memory_used_mib": 1000.0,
        "memory_total_mib": 81920.0,
        "temperature_c": 60.0,
        "power_w": 250.0,
        "last_xid": 0,
        "ecc_uncorrectable": 0,
        "remapped_row_failures": 0,
    }
    base.update(fields)
    return Gpu(**base)  # type: ignore[arg-type]


def snap(
    at: float,
    gpus: tuple[Gpu, ...] = (),
    nodes: tuple[Node, ...] = (),
    jobs: tuple[Job, ...] = (),
    health: dict[str, SourceHealth] | None = None,
) -> ClusterSnapshot:
    return ClusterSnapshot(taken_at=at, gpus=gpus, nodes=nodes, jobs=jobs, health=health or {})


def states_over(engine: AlertEngine, series: list[tuple[float, ClusterSnapshot]]) -> list[str]:
    """The firing/resolved transitions, as 'rule target state' lines, in order."""
    out = []
    for at, snapshot in series:
        for t in engine.evaluate(snapshot, now=at):
            if t.alert.state is not AlertState.PENDING:
                out.append(f"{t.alert.rule} {t.alert.target} {t.alert.state}")
    return out


HOLDER = Job(
    "42",
    user="alice",
    state=JobState.RUNNING,
    nodes=("gpu-01",),
    gpu_indices={"gpu-01": (0,)},
)


@pytest.mark.parametrize(
    ("name", "readings", "jobs", "expected"),
    [
        # temperature: warning after 2 m at >= 85; critical immediately at >= 90
        (
            "gpu_temperature_high",
            [(0, {"temperature_c": 86}), (60, {"temperature_c": 87}), (120, {"temperature_c": 86})],
            (),
            ["gpu_temperature_high gpu-01/gpu0 firing"],
        ),
        (
            "gpu_temperature_high",
            [(0, {"temperature_c": 86}), (60, {"temperature_c": 80}), (120, {"temperature_c": 86})],
            (),
            [],
        ),
        (
            "gpu_temperature_critical",
            [(0, {"temperature_c": 91})],
            (),
            ["gpu_temperature_critical gpu-01/gpu0 firing"],
        ),
        ("gpu_temperature_critical", [(0, {"temperature_c": None})], (), []),
        ("gpu_xid_critical", [(0, {"last_xid": 79})], (), ["gpu_xid_critical gpu-01/gpu0 firing"]),
        ("gpu_xid_critical", [(0, {"last_xid": 13})], (), []),
        ("gpu_xid", [(0, {"last_xid": 13})], (), ["gpu_xid gpu-01/gpu0 firing"]),
        ("gpu_xid", [(0, {"last_xid": 79})], (), []),
        (
            "gpu_ecc_uncorrectable",
            [(0, {"ecc_uncorrectable": 2})],
            (),
            ["gpu_ecc_uncorrectable gpu-01/gpu0 firing"],
        ),
        (
            "gpu_ecc_uncorrectable",
            [(0, {"remapped_row_failures": 1})],
            (),
            ["gpu_ecc_uncorrectable gpu-01/gpu0 firing"],
        ),
        (
            "gpu_ecc_uncorrectable",
            [(0, {"ecc_uncorrectable": None, "remapped_row_failures": None})],
            (),
            [],
        ),
        (
            "gpu_memory_high",
            [(0, {"memory_used_mib": 80000}), (299, {"memory_used_mib": 80000})],
            (),
            [],
        ),
        (
            "gpu_memory_high",
            [(0, {"memory_used_mib": 80000}), (300, {"memory_used_mib": 80000})],
            (),
            ["gpu_memory_high gpu-01/gpu0 firing"],
        ),
        (
            "gpu_allocated_idle",
            [(0, {"utilization_pct": 1}), (1800, {"utilization_pct": 2})],
            (HOLDER,),
            ["gpu_allocated_idle gpu-01/gpu0 firing"],
        ),
        (
            "gpu_allocated_idle",
            [(0, {"utilization_pct": 1}), (1800, {"utilization_pct": 2})],
            (),
            [],
        ),
    ],
)
def test_gpu_rules(
    name: str,
    readings: list[tuple[float, dict[str, object]]],
    jobs: tuple[Job, ...],
    expected: list[str],
) -> None:
    rule = next(r for r in BUILTIN_RULES if r.name == name)
    engine = AlertEngine([rule], keep_firing_s=60, gpu_hourly_price=2.5)
    series = [(T0 + at, snap(T0 + at, gpus=(gpu(**fields),), jobs=jobs)) for at, fields in readings]
    assert states_over(engine, series) == expected


def test_allocated_idle_alert_names_job_user_and_cost() -> None:
    rule = next(r for r in BUILTIN_RULES if r.name == "gpu_allocated_idle")
    engine = AlertEngine([rule], gpu_hourly_price=2.5)
    engine.evaluate(snap(T0, gpus=(gpu(utilization_pct=1),), jobs=(HOLDER,)), now=T0)
    [t] = engine.evaluate(
        snap(T0 + 1800, gpus=(gpu(utilization_pct=0),), jobs=(HOLDER,)), now=T0 + 1800
    )
    assert "job 42 (alice)" in t.alert.summary
    assert "$2.50/h" in t.alert.summary
    assert t.alert.labels["user"] == "alice"


@pytest.mark.parametrize(
    ("node", "rule_name", "fires"),
    [
        (Node("n1", NodeBaseState.DOWN, reason="Not responding"), "node_down", True),
        (Node("n1", NodeBaseState.IDLE, flags=frozenset({"NOT_RESPONDING"})), "node_down", True),
        (Node("n1", NodeBaseState.IDLE), "node_down", False),
        (
            Node("n1", NodeBaseState.IDLE, flags=frozenset({"DRAIN"}), reason="bad DIMM"),
            "node_drained",
            True,
        ),
        (Node("n1", NodeBaseState.MIXED, flags=frozenset({"DRAIN"})), "node_drained", True),
        (Node("n1", NodeBaseState.MIXED), "node_drained", False),
    ],
)
def test_node_state_rules(node: Node, rule_name: str, fires: bool) -> None:
    rule = next(r for r in BUILTIN_RULES if r.name == rule_name)
    engine = AlertEngine([rule])
    transitions = engine.evaluate(snap(T0, nodes=(node,)), now=T0)
    assert bool(transitions) is fires
    if fires and node.reason:
        assert node.reason in transitions[0].alert.summary


def test_job_pending_over_an_hour_is_info_with_reason() -> None:
    rule = next(r for r in BUILTIN_RULES if r.name == "job_pending_long")
    engine = AlertEngine([rule])
    job = Job("7", user="bob", state=JobState.PENDING, reason="Resources", submit_time=T0)
    assert engine.evaluate(snap(T0 + 3500, jobs=(job,)), now=T0 + 3500) == []
    [t] = engine.evaluate(snap(T0 + 3700, jobs=(job,)), now=T0 + 3700)
    assert t.alert.severity is Severity.INFO
    assert t.alert.target == "job/7"
    assert "Resources" in t.alert.summary


def test_source_failing_for_a_minute() -> None:
    rule = next(r for r in BUILTIN_RULES if r.name == "source_failing")
    engine = AlertEngine([rule])
    failing = {"gpu": SourceHealth("gpu", ok=False, last_attempt=T0, last_error="refused")}
    assert [t.alert.state for t in engine.evaluate(snap(T0, health=failing), now=T0)] == [
        AlertState.PENDING
    ]
    [t] = engine.evaluate(snap(T0 + 60, health=failing), now=T0 + 60)
    assert t.alert.state is AlertState.FIRING
    assert "refused" in t.alert.summary


def test_flapping_value_does_not_resolve_within_keep_firing() -> None:
    rule = Rule("hot", Watch.GPU_TEMPERATURE, Comparator.GTE, 90, severity=Severity.CRITICAL)
    engine = AlertEngine([rule], keep_firing_s=60)
    temps = [91, 80, 91, 80, 80, 80, 80]
    series = [
        (T0 + i * 20, snap(T0 + i * 20, gpus=(gpu(temperature_c=t),))) for i, t in enumerate(temps)
    ]
    assert states_over(engine, series) == [
        "hot gpu-01/gpu0 firing",
        "hot gpu-01/gpu0 resolved",
    ]
    # Clear from t=60 s (after the last hold at t=40 s): resolved keep_firing later, at t=120 s.
    engine2 = AlertEngine([rule], keep_firing_s=60)
    resolved_at = [
        t.alert.resolved_at
        for at, s in series
        for t in engine2.evaluate(s, now=at)
        if t.alert.state is AlertState.RESOLVED
    ]
    assert resolved_at == [T0 + 120]


def test_one_alert_per_rule_and_target() -> None:
    rule = Rule("hot", Watch.GPU_TEMPERATURE, Comparator.GTE, 90)
    engine = AlertEngine([rule])
    gpus = (gpu(temperature_c=95), gpu(index=1, temperature_c=95), gpu(index=2))
    for i in range(5):
        engine.evaluate(snap(T0 + i, gpus=gpus), now=T0 + i)
    assert sorted(a.target for a in engine.active) == ["gpu-01/gpu0", "gpu-01/gpu1"]


def test_scope_by_glob_regex_partition_and_model() -> None:
    gpus = (
        gpu(node="gpu-01", temperature_c=95),
        gpu(node="cpu-01", temperature_c=95),
        gpu(node="gpu-02", temperature_c=95, model="NVIDIA H100 80GB HBM3"),
    )
    nodes = (
        Node("gpu-01", NodeBaseState.IDLE, partitions=("train",)),
        Node("gpu-02", NodeBaseState.IDLE, partitions=("debug",)),
        Node("cpu-01", NodeBaseState.IDLE, partitions=("train",)),
    )

    def targets(scope: Scope) -> list[str]:
        rule = Rule("hot", Watch.GPU_TEMPERATURE, Comparator.GTE, 90, scope=scope)
        engine = AlertEngine([rule])
        return sorted(t.alert.target for t in engine.evaluate(snap(T0, gpus, nodes), now=T0))

    assert targets(Scope(nodes="gpu-*")) == ["gpu-01/gpu0", "gpu-02/gpu0"]
    assert targets(Scope(nodes="~cpu-\\d+")) == ["cpu-01/gpu0"]
    assert targets(Scope(partition="train")) == ["cpu-01/gpu0", "gpu-01/gpu0"]
    assert targets(Scope(gpu_model="h100")) == ["gpu-02/gpu0"]


def test_restart_in_pending_keeps_for_clock() -> None:
    rule = next(r for r in BUILTIN_RULES if r.name == "gpu_temperature_high")
    engine = AlertEngine([rule])
    engine.evaluate(snap(T0, gpus=(gpu(temperature_c=86),)), now=T0)
    saved = engine.active
    restarted = AlertEngine([rule])
    restarted.restore(saved)
    [t] = restarted.evaluate(snap(T0 + 120, gpus=(gpu(temperature_c=86),)), now=T0 + 120)
    assert t.alert.state is AlertState.FIRING
    assert t.alert.active_since == T0


def test_restart_in_firing_does_not_fire_again() -> None:
    rule = Rule("hot", Watch.GPU_TEMPERATURE, Comparator.GTE, 90)
    engine = AlertEngine([rule])
    engine.evaluate(snap(T0, gpus=(gpu(temperature_c=95),)), now=T0)
    restarted = AlertEngine([rule])
    restarted.restore(engine.active)
    assert restarted.evaluate(snap(T0 + 5, gpus=(gpu(temperature_c=95),)), now=T0 + 5) == []
    assert restarted.firing()[0].fired_at == T0


def test_disabled_rule_never_fires_and_set_rules_drops_its_alerts() -> None:
    rule = Rule("hot", Watch.GPU_TEMPERATURE, Comparator.GTE, 90)
    engine = AlertEngine([replace(rule, enabled=False)])
    assert engine.evaluate(snap(T0, gpus=(gpu(temperature_c=95),)), now=T0) == []
    engine.set_rules([rule])
    engine.evaluate(snap(T0, gpus=(gpu(temperature_c=95),)), now=T0)
    engine.set_rules([replace(rule, enabled=False)])
    assert engine.active == []


def test_active_is_sorted_by_severity() -> None:
    engine = AlertEngine(BUILTIN_RULES)
    engine.evaluate(
        snap(
            T0,
            gpus=(gpu(temperature_c=95), gpu(index=1, last_xid=13)),
            nodes=(Node("gpu-01", NodeBaseState.IDLE, flags=frozenset({"DRAIN"})),),
        ),
        now=T0,
    )
    severities = [a.severity for a in engine.active]
    assert severities == sorted(severities, key=lambda s: -s.rank)
    assert isinstance(engine.active[0], Alert)


def test_stale_gpu_readings_neither_raise_nor_clear_gpu_alerts() -> None:
    hot = Rule("hot", Watch.GPU_TEMPERATURE, Comparator.GTE, 90, severity=Severity.CRITICAL)
    idle = Rule("idle", Watch.GPU_UTILIZATION, Comparator.LTE, 5)
    engine = AlertEngine([hot, idle], keep_firing_s=60)
    fresh_hot = snap(T0, gpus=(gpu(temperature_c=95.0),))
    assert states_over(engine, [(T0, fresh_hot)]) == ["hot gpu-01/gpu0 firing"]
    # The GPU source fails: the last readings (hot) and later stale ones (cool, idle) hold.
    stale = [
        (
            T0 + i * 30,
            replace(
                snap(T0 + i * 30, gpus=(gpu(temperature_c=40.0, utilization_pct=0.0),)),
                gpus_stale=True,
            ),
        )
        for i in range(1, 8)
    ]
    assert states_over(engine, stale) == []
    assert [(a.rule, a.state) for a in engine.active] == [("hot", AlertState.FIRING)]
    # Fresh readings again: the rules evaluate as usual.
    fresh = snap(T0 + 300, gpus=(gpu(temperature_c=40.0, utilization_pct=0.0),))
    assert states_over(engine, [(T0 + 300, fresh)]) == ["idle gpu-01/gpu0 firing"]


def test_node_down_fires_only_when_it_lasts_a_minute() -> None:
    rule = next(r for r in BUILTIN_RULES if r.name == "node_down")
    engine = AlertEngine([rule])
    down = Node("n1", NodeBaseState.IDLE, flags=frozenset({"NOT_RESPONDING"}))
    engine.evaluate(snap(T0, nodes=(down,)), now=T0)
    engine.evaluate(snap(T0 + 5, nodes=(Node("n1", NodeBaseState.IDLE),)), now=T0 + 5)
    assert not [a for a in engine.active if a.state is AlertState.FIRING]
    engine.evaluate(snap(T0 + 10, nodes=(down,)), now=T0 + 10)
    engine.evaluate(snap(T0 + 69, nodes=(down,)), now=T0 + 69)
    assert not [a for a in engine.active if a.state is AlertState.FIRING]
    engine.evaluate(snap(T0 + 71, nodes=(down,)), now=T0 + 71)
    assert [a.rule for a in engine.active if a.state is AlertState.FIRING] == ["node_down"]


def test_an_active_gpu_alert_follows_its_reading_and_holder_between_snapshots() -> None:
    hot = Rule("hot", Watch.GPU_TEMPERATURE, Comparator.GTE, 85, severity=Severity.CRITICAL)
    engine = AlertEngine([hot])
    engine.evaluate(snap(T0, (gpu(temperature_c=90.0),)), now=T0)
    (before,) = engine.active
    engine.evaluate(snap(T0 + 5, (gpu(temperature_c=90.0),)), now=T0 + 5)
    assert engine.active == [before]  # unchanged reading: the same alert
    engine.evaluate(snap(T0 + 10, (gpu(temperature_c=97.0),)), now=T0 + 10)
    (hotter,) = engine.active
    assert (hotter.value, hotter.summary) == (97.0, "GPU 0 on gpu-01 at 97 C")
    engine.evaluate(snap(T0 + 15, (gpu(temperature_c=97.0, job_id="42"),)), now=T0 + 15)
    (held,) = engine.active
    assert held.labels["job"] == "42"
    engine.evaluate(snap(T0 + 20, (gpu(temperature_c=90.0),)), now=T0 + 20)
    (back,) = engine.active
    assert (back.value, back.summary, "job" in back.labels) == (90.0, before.summary, False)
