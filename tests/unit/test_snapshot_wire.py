"""Snapshot deltas: a viewer applying them holds exactly the collector's snapshot."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from types import MappingProxyType

from tui.model import ClusterSnapshot, Gpu, Job, JobState, Node, NodeBaseState, SourceHealth
from tui.snapshot_wire import decode, diff, encode, patch


def _through_the_socket(message: dict[str, object]) -> dict[str, object]:
    return dict(json.loads(json.dumps(message, separators=(",", ":"), allow_nan=False)))


def _changed(snapshot: ClusterSnapshot, rng: random.Random, step: int) -> ClusterSnapshot:
    nodes = list(snapshot.nodes)
    gpus = [
        replace(g, utilization_pct=float(rng.randint(0, 100))) if rng.random() < 0.3 else g
        for g in snapshot.gpus
    ]
    jobs = [j for j in snapshot.jobs if rng.random() > 0.1]
    if rng.random() < 0.3:
        index = rng.randrange(len(nodes))
        nodes[index] = replace(
            nodes[index], state=NodeBaseState.DOWN, flags=frozenset({"DRAIN"}), reason="bad DIMM"
        )
    if rng.random() < 0.2:  # a node leaves the cluster, with its GPUs
        gone = nodes.pop(rng.randrange(len(nodes))).name
        gpus = [g for g in gpus if g.node != gone]
    if rng.random() < 0.2:  # a node joins, not at the end
        name = f"gpu-new-{step}"
        nodes.insert(rng.randrange(len(nodes) + 1), Node(name, NodeBaseState.IDLE, gpus_total=2))
        gpus += [Gpu(name, i, utilization_pct=None) for i in range(2)]
    jobs.append(
        Job(
            str(1000 + step),
            user="ana",
            state=JobState.RUNNING,
            nodes=(nodes[0].name,),
            gpu_indices=MappingProxyType({nodes[0].name: (0, 1)}),
            priority=step,
            stdout=f"/home/ana/slurm-{1000 + step}.out",
            stderr=f"/home/ana/slurm-{1000 + step}.err",
        )
    )
    health = MappingProxyType(
        {"gpu": SourceHealth("gpu", ok=step % 3 != 0, last_error=None if step % 3 else "timeout")}
    )
    return replace(
        snapshot,
        taken_at=snapshot.taken_at + 1,
        nodes=tuple(nodes),
        gpus=tuple(gpus),
        jobs=tuple(jobs),
        health=health,
    )


def test_a_viewer_applying_deltas_holds_the_same_snapshot() -> None:
    rng = random.Random(7)
    snapshot = ClusterSnapshot(
        taken_at=1.0,
        nodes=tuple(Node(f"gpu-{i:02d}", NodeBaseState.MIXED, gpus_total=4) for i in range(20)),
        gpus=tuple(
            Gpu(f"gpu-{i:02d}", g, utilization_pct=50.0) for i in range(20) for g in range(4)
        ),
        cluster_name="lab",
    )
    held = _through_the_socket({"snapshot": encode(snapshot)})["snapshot"]
    for step in range(60):
        following = _changed(snapshot, rng, step)
        delta = _through_the_socket({"delta": diff(encode(snapshot), encode(following))})["delta"]
        held = patch(held, delta)  # type: ignore[arg-type]
        assert decode(held) == following, f"step {step}"
        snapshot = following


def test_an_unchanged_cluster_sends_no_nodes_gpus_or_jobs() -> None:
    snapshot = ClusterSnapshot(
        taken_at=1.0,
        nodes=tuple(Node(f"gpu-{i:02d}", NodeBaseState.IDLE) for i in range(100)),
        gpus=tuple(Gpu(f"gpu-{i:02d}", 0, utilization_pct=1.0) for i in range(100)),
        jobs=(Job("7", nodes=("gpu-01",)),),
    )
    delta = diff(encode(snapshot), encode(replace(snapshot, taken_at=2.0)))
    assert delta["taken_at"] == 2.0
    assert all(delta[part] == {"set": []} for part in ("nodes", "gpus", "jobs"))
