"""The simulator's scripted incidents raise exactly the expected alerts over an hour.

The whole pipeline runs on a fake clock, faster than real time: the simulated
exporters over loopback HTTP, the exporter source, the simulated Slurm, the
collector, and the alert engine with the built-in rules.
"""

from __future__ import annotations

from collections.abc import Sequence

from tui.alerts.builtin import BUILTIN_RULES
from tui.alerts.engine import AlertEngine, AlertState, Transition
from tui.alerts.service import AlertService
from tui.collector import Collector, CollectorOptions
from tui.sim import IncidentKind, SimCluster, SimExporterServer, SimSlurmSource
from tui.sources.exporters import ExporterGpuSource

START = 1_800_000_000.0
STEP_S = 15
HOUR_S = 3600


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def expected_alerts(sim: SimCluster) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(fired, resolved) as (rule, target), derived from the incident script."""
    fired: set[tuple[str, str]] = set()
    resolved: set[tuple[str, str]] = set()
    for incident in sim.incidents:
        gpu_target = f"{incident.node}/gpu{incident.gpu}"
        match incident.kind:
            case IncidentKind.DRAINED:
                fired.add(("node_drained", incident.node))
            case IncidentKind.ALLOCATED_IDLE:
                fired.add(("gpu_allocated_idle", gpu_target))
            case IncidentKind.OVERHEAT:
                for rule in ("gpu_temperature_high", "gpu_temperature_critical"):
                    fired.add((rule, gpu_target))
                    resolved.add((rule, gpu_target))
            case IncidentKind.XID:
                fired.add(("gpu_xid_critical", gpu_target))
            case IncidentKind.NOT_RESPONDING:
                fired.add(("node_down", incident.node))
                resolved.add(("node_down", incident.node))
    return fired, resolved


async def test_scripted_incidents_fire_exactly_the_expected_alerts() -> None:
    clock = Clock()
    sim = SimCluster(nodes=16, seed=3, clock=clock, start=START)
    server = SimExporterServer(sim)
    base_url = await server.start()
    gpu = ExporterGpuSource(
        [(name, f"{base_url}/nodes/{name}/metrics") for name in sim.node_names], timeout_s=5
    )
    collector = Collector(
        workload=SimSlurmSource(sim),
        gpu=gpu,
        options=CollectorOptions(demo=True),
        clock=clock,
    )
    service = AlertService(
        AlertEngine(BUILTIN_RULES, keep_firing_s=60, gpu_hourly_price=1.89, clock=clock),
        clock=clock,
    )
    collector.subscribe(service.on_snapshot)
    fired: dict[tuple[str, str], float] = {}
    resolved: set[tuple[str, str]] = set()

    def listen(transitions: Sequence[Transition]) -> None:
        for t in transitions:
            if t.alert.state is AlertState.FIRING:
                fired[t.alert.key] = clock.now
            else:
                resolved.add(t.alert.key)

    service.add_listener(listen)
    try:
        for _ in range(HOUR_S // STEP_S + 1):
            await collector.collect_once()
            clock.now += STEP_S
    finally:
        await gpu.aclose()
        await server.stop()

    want_fired, want_resolved = expected_alerts(sim)
    assert set(fired) == want_fired
    assert resolved == want_resolved
    idle = next(i for i in sim.incidents if i.kind is IncidentKind.ALLOCATED_IDLE)
    idle_key = ("gpu_allocated_idle", f"{idle.node}/gpu{idle.gpu}")
    assert fired[idle_key] - START >= 1800, "allocated-idle waits its 30 minutes"
    overheat = next(i for i in sim.incidents if i.kind is IncidentKind.OVERHEAT)
    hot_key = ("gpu_temperature_critical", f"{overheat.node}/gpu{overheat.gpu}")
    assert abs(fired[hot_key] - (START + overheat.critical_start_s)) <= STEP_S
