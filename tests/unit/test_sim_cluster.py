"""The simulated cluster: naming, determinism, lazy time, load, jobs and scripted incidents."""

from __future__ import annotations

import time

import pytest

from tui.model import JobState, NodeBaseState, NodeFlag
from tui.sim import Incident, IncidentKind, SimCluster, SimSlurmSource
from tui.sim.dcgm import DcgmRenderer
from tui.sim.incidents import (
    MAX_NORMAL_MEMORY_PCT,
    MAX_NORMAL_TEMP_C,
    MAX_PENDING_S,
    MIN_BUSY_UTIL_PCT,
)
from tui.sources.base import SlurmState

START = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(nodes: int = 16, seed: int = 0) -> tuple[SimCluster, FakeClock]:
    clock = FakeClock()
    return SimCluster(nodes=nodes, seed=seed, start=START, clock=clock), clock


def incident(sim: SimCluster, kind: IncidentKind) -> Incident:
    return next(i for i in sim.incidents if i.kind is kind)


def test_nodes_are_named_and_sized_like_a_real_cluster() -> None:
    sim, _ = make(16)
    assert sim.node_names[0] == "gpu-01" and sim.node_names[-1] == "gpu-16"
    assert make(100)[0].node_names[:2] == ("gpu-001", "gpu-002")
    state = SimSlurmSource(sim).state()
    assert state.version == "23.11.10-sim"
    assert {n.gpus_total for n in state.nodes} == {8}
    assert {n.cpus_total for n in state.nodes} == {128}
    assert {n.mem_total_mb for n in state.nodes} == {1024 * 1024}
    assert all("gpu" in n.partitions for n in state.nodes)
    debug = [n.name for n in state.nodes if "debug" in n.partitions]
    assert 1 <= len(debug) < len(state.nodes)


def run_for(sim: SimCluster, clock: FakeClock, seconds: float, step: float) -> None:
    for _ in range(round(seconds / step)):
        clock.advance(step)
        sim.sync()


def fingerprint(sim: SimCluster) -> tuple[SlurmState, bytes]:
    return SimSlurmSource(sim).state(), DcgmRenderer(sim).all_payload()


def test_same_seed_and_clock_give_identical_output_however_often_it_is_read() -> None:
    often, often_clock = make(seed=7)
    rarely, rarely_clock = make(seed=7)
    run_for(often, often_clock, 1800, 1.0)  # read every second
    run_for(rarely, rarely_clock, 1800, 600.0)  # read every ten minutes
    assert fingerprint(often) == fingerprint(rarely)
    other, other_clock = make(seed=8)
    run_for(other, other_clock, 1800, 600.0)
    assert fingerprint(other) != fingerprint(rarely)


def test_state_advances_lazily_and_never_backwards() -> None:
    sim, clock = make()
    assert sim.sync() == 0
    clock.advance(4.9)
    assert sim.sync() == 0
    clock.advance(0.1)
    assert sim.sync() == 1
    clock.advance(3600)
    assert sim.sync() == 721
    clock.now = START
    assert sim.sync() == 721


def test_default_start_is_the_clock_at_creation() -> None:
    sim = SimCluster(nodes=4)
    assert abs(sim.start - time.time()) < 5
    assert sim.sync() == 0


def test_incidents_are_data_and_show_up_early() -> None:
    sim, _ = make(16)
    kinds = {i.kind for i in sim.incidents}
    assert kinds == set(IncidentKind)
    for item in sim.incidents:
        assert item.start_s <= 300
        assert item.node in sim.node_names
    assert len({i.node for i in sim.incidents}) == len(sim.incidents)
    overheat = incident(sim, IncidentKind.OVERHEAT)
    assert overheat.critical_end_s is not None and overheat.end_s is not None
    assert overheat.critical_end_s - overheat.critical_start_s >= 180


def test_drained_node_has_a_reason_from_the_start() -> None:
    sim, _ = make()
    drained = incident(sim, IncidentKind.DRAINED)
    node = {n.name: n for n in SimSlurmSource(sim).state().nodes}[drained.node]
    assert node.is_drain and node.display_state == "drained"
    assert node.reason == "bad DIMM, ticket OPS-1234"


def temps(sim: SimCluster, node: str) -> list[int]:
    return [s.temperature_c for s in sim.gpu_samples(sim.node_index[node])]


def test_overheat_crosses_90_only_in_its_critical_window_then_cools() -> None:
    sim, clock = make()
    hot = incident(sim, IncidentKind.OVERHEAT)
    assert hot.gpu is not None and hot.end_s is not None and hot.critical_end_s is not None
    seen_hot = []
    for tick in range(0, round(hot.end_s / 5) + 24):
        clock.now = START + tick * 5
        sim.sync()
        temperature = temps(sim, hot.node)[hot.gpu]
        if hot.critical_at(tick * 5.0):
            assert temperature >= 90
            seen_hot.append(tick)
        else:
            assert temperature < 90
        if not hot.active_at(tick * 5.0):
            assert temperature < MAX_NORMAL_TEMP_C
    assert len(seen_hot) * 5 == hot.critical_end_s - hot.critical_start_s


def test_xid_79_appears_at_its_time_and_stays() -> None:
    sim, clock = make()
    xid = incident(sim, IncidentKind.XID)
    assert xid.gpu is not None
    position = sim.node_index[xid.node]
    clock.now = START + xid.start_s - 5
    sim.sync()
    assert sim.gpu_samples(position)[xid.gpu].xid == 0
    clock.now = START + xid.start_s
    sim.sync()
    assert sim.gpu_samples(position)[xid.gpu].xid == 79
    clock.advance(3600)
    sim.sync()
    assert sim.gpu_samples(position)[xid.gpu].xid == 79


def test_node_stops_responding_then_comes_back() -> None:
    sim, clock = make()
    silent = incident(sim, IncidentKind.NOT_RESPONDING)
    assert silent.end_s is not None
    source = SimSlurmSource(sim)

    def flags_at(offset: float) -> frozenset[str]:
        clock.now = START + offset
        return {n.name: n for n in source.state().nodes}[silent.node].flags

    assert NodeFlag.NOT_RESPONDING not in flags_at(silent.start_s - 5)
    assert NodeFlag.NOT_RESPONDING in flags_at(silent.start_s)
    assert NodeFlag.NOT_RESPONDING in flags_at(silent.end_s - 5)
    assert NodeFlag.NOT_RESPONDING not in flags_at(silent.end_s)


def test_an_allocated_gpu_sits_idle_for_over_30_minutes() -> None:
    sim, clock = make()
    idle = incident(sim, IncidentKind.ALLOCATED_IDLE)
    assert idle.gpu is not None
    position = sim.node_index[idle.node]
    holder = sim.holder(position, idle.gpu)
    assert holder is not None
    for _ in range(40):
        clock.advance(60)
        sim.sync()
        assert sim.holder(position, idle.gpu) is holder
        assert sim.gpu_samples(position)[idle.gpu].utilization_pct < 5


def check_slurm(sim: SimCluster, source: SimSlurmSource, stats: dict[str, float]) -> None:
    """Nodes healthy and nobody waiting 50 minutes, outside scripted incidents."""
    offset = sim.offset_s()
    exempt_nodes = {i.node for i in sim.incidents if i.gpu is None and i.active_at(offset)}
    state = source.state()
    for node in state.nodes:
        if node.name not in exempt_nodes:
            assert not node.flags, (offset, node)
    for job in state.jobs:
        waited = job.pending_for_s(sim.now)
        if waited is not None:
            assert waited < MAX_PENDING_S, (offset, job)
            stats["max_wait"] = max(stats["max_wait"], waited)
    busy = sum(n.gpus_alloc for n in state.nodes) / (8 * len(state.nodes))
    stats["min_busy"] = min(stats["min_busy"], busy)
    stats["max_busy"] = max(stats["max_busy"], busy)


def check_gpus(sim: SimCluster) -> None:
    """GPU readings stay under every alert threshold, outside scripted incidents."""
    offset = sim.offset_s()
    exempt_gpus = {
        (i.node, i.gpu) for i in sim.incidents if i.gpu is not None and i.active_at(offset)
    }
    for position, name in enumerate(sim.node_names):
        for gpu, reading in enumerate(sim.gpu_samples(position)):
            if (name, gpu) in exempt_gpus:
                continue
            assert reading.temperature_c < MAX_NORMAL_TEMP_C, (offset, name, gpu, reading)
            assert reading.memory_used_mib / 81920 * 100 < MAX_NORMAL_MEMORY_PCT
            assert reading.xid == 0
            assert 50 <= reading.power_w <= 400
            if sim.holder_id(position, gpu):
                assert reading.utilization_pct >= MIN_BUSY_UTIL_PCT, (offset, name, gpu)
            else:
                assert reading.utilization_pct == 0


@pytest.mark.parametrize(("seed", "hours"), [(0, 6), (1, 2), (2, 2)])
def test_random_load_never_crosses_alert_thresholds(seed: int, hours: int) -> None:
    sim, clock = make(seed=seed)
    source = SimSlurmSource(sim)
    stats = {"max_wait": 0.0, "min_busy": 1.0, "max_busy": 0.0}
    for tick in range(1, hours * 720 + 1):
        clock.advance(5)
        sim.sync()
        check_gpus(sim)  # every tick
        if tick % 6 == 0:  # the Slurm view every 30 s, like a collector would
            check_slurm(sim, source, stats)
    # Load rises and falls; queues form but drain.
    assert stats["max_busy"] - stats["min_busy"] > 0.3
    assert stats["max_wait"] > 60
    assert sim.finished_counts[JobState.FAILED] > 0
    assert sim.finished_counts[JobState.COMPLETED] > 50


def test_jobs_look_like_slurm_jobs() -> None:
    sim, clock = make(seed=3)
    source = SimSlurmSource(sim)
    sizes: set[int] = set()
    reasons: set[str] = set()
    users: set[str] = set()
    multi_node = 0
    for _ in range(6 * 60):
        clock.advance(60)
        state = source.state()
        nodes = {n.name: n for n in state.nodes}
        taken: dict[tuple[str, int], str] = {}
        for job in state.jobs:
            users.add(job.user)
            assert job.account and job.name and job.partition in ("gpu", "debug")
            if job.state is JobState.PENDING:
                reasons.add(job.reason)
                assert not job.nodes and not job.gpu_indices
                continue
            assert job.state is JobState.RUNNING
            assert job.start_time is not None and job.submit_time is not None
            assert job.submit_time <= job.start_time <= sim.now
            assert set(job.gpu_indices) == set(job.nodes)
            multi_node += len(job.nodes) > 1
            for node, indices in job.gpu_indices.items():
                sizes.add(len(indices))
                assert len(indices) == job.gpus_per_node
                assert list(indices) == sorted(set(indices))
                if job.partition == "debug":
                    assert "debug" in nodes[node].partitions
                for index in indices:
                    assert 0 <= index < 8
                    assert (node, index) not in taken, "two jobs on one GPU"
                    taken[(node, index)] = job.job_id
        for node in state.nodes:
            held = sum(1 for (name, _) in taken if name == node.name)
            assert node.gpus_alloc == held
            expected = (
                NodeBaseState.IDLE
                if held == 0
                else NodeBaseState.ALLOCATED
                if held == 8
                else NodeBaseState.MIXED
            )
            assert node.state is expected
            assert node.cpus_alloc == 16 * held
    assert sizes == {1, 2, 4, 8}
    assert multi_node > 0
    assert {"Resources", "Priority"} <= reasons
    assert len(users) >= 5


def test_tick_cost_at_1024_nodes_is_small() -> None:
    sim, clock = make(nodes=1024)
    started = time.perf_counter()
    ticks = 120
    for _ in range(ticks):
        clock.advance(5)
        sim.sync()
    per_tick_ms = (time.perf_counter() - started) / ticks * 1000
    print(f"sim tick at 1024 nodes: {per_tick_ms:.2f} ms")
    assert per_tick_ms < 60
    assert sim.gpus_allocated(0) >= 0


def test_docstring_table_matches_the_script() -> None:
    """The incident table operators read in the module docstring is the data tests use."""
    from tui.sim import incidents as module

    sim, _ = make(16)
    doc = module.__doc__ or ""
    rows = [line.split("|")[1:-1] for line in doc.splitlines() if line.startswith("| ")][1:]
    table = {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows}
    for item in sim.incidents:
        node, gpu, start, _, end = table[item.kind.value]
        assert node == item.node
        assert gpu == ("-" if item.gpu is None else str(item.gpu))
        assert start == f"{item.start_s:.0f} s"
        assert end == ("never" if item.end_s is None else f"{item.end_s:.0f} s")


@pytest.mark.parametrize(("nodes", "gpus_per_node"), [(1, 8), (3, 4), (40, 2)])
def test_small_and_odd_shapes_run(nodes: int, gpus_per_node: int) -> None:
    clock = FakeClock()
    sim = SimCluster(nodes=nodes, seed=5, start=START, gpus_per_node=gpus_per_node, clock=clock)
    source = SimSlurmSource(sim)
    for _ in range(120):
        clock.advance(60)
        state = source.state()
        for job in state.jobs:
            assert all(len(ix) <= gpus_per_node for ix in job.gpu_indices.values())
    assert sim.finished_counts[JobState.COMPLETED] > 0
    assert len(DcgmRenderer(sim).node_payload(0)) > 1000
