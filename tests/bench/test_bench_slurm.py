"""Slurm fetch: `--json` against scontrol's one-line text, on real daemons and at scale.

Real daemons (22.05, 4 nodes, 8 jobs): one full fetch per mode, median of 15.
Scale: parse cost of 1,000 nodes and 5,000 running jobs built from real 22.05 output.
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bench.report import bench
from tests.integration.conftest import slurm_cluster  # noqa: F401  (session fixture)
from tests.integration.slurm_cluster import SlurmCluster
from tui.sources import slurm_json, slurm_text
from tui.sources.slurm import SlurmSource

pytestmark = pytest.mark.bench

FIXTURES = Path(__file__).parent.parent / "fixtures" / "slurm"
NODES = 1000
JOBS = 5000
ROUNDS = 15
# Targets: a fetch well inside a 5 s poll; parsing a large cluster well under a second.
MAX_FETCH_MS = 250.0
MAX_PARSE_MS = 1500.0


def median_ms(
    action: Callable[[], object],
    rounds: int = ROUNDS,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    samples = []
    for _ in range(rounds):
        started = clock()
        action()
        samples.append((clock() - started) * 1000)
    return statistics.median(samples)


@pytest.mark.integration
def test_bench_fetch_on_real_daemons(slurm_cluster: SlurmCluster) -> None:  # noqa: F811
    import asyncio

    cluster = slurm_cluster
    jobs = [cluster.submit("--gres=gpu:2", "--wrap", "sleep 300") for _ in range(6)]
    jobs.append(cluster.submit("-N", "2", "--gres=gpu:3", "--wrap", "sleep 300"))
    jobs.append(cluster.submit("-H", "--gres=gpu:1", "--wrap", "sleep 300"))
    try:
        cluster.wait_for(lambda: len(cluster.run(["squeue", "-h", "-t", "R"]).stdout.split()) > 0)
        figures = {}
        for mode in ("json", "text"):
            source = SlurmSource(env=cluster.env, mode=mode)  # type: ignore[arg-type]
            asyncio.run(source.fetch())  # warm: version cache, page cache
            figures[mode] = median_ms(lambda s=source: asyncio.run(s.fetch()))
            state = asyncio.run(source.fetch())
            assert len(state.nodes) == 4 and len(state.jobs) == len(jobs)
    finally:
        cluster.cancel_all()
    bench("slurm_fetch_json_ms", figures["json"], "ms", at_most=MAX_FETCH_MS, digits=1)
    bench("slurm_fetch_text_ms", figures["text"], "ms", at_most=MAX_FETCH_MS, digits=1)


def big_json() -> tuple[str, str]:
    nodes_doc = json.loads((FIXTURES / "sinfo-22.05.json").read_text())
    jobs_doc = json.loads((FIXTURES / "squeue-22.05.json").read_text())
    node_template = nodes_doc["nodes"][0]
    job_template = next(j for j in jobs_doc["jobs"] if j["job_id"] == 2)
    nodes = []
    for i in range(NODES):
        node = copy.deepcopy(node_template)
        node["name"] = f"gpu-{i:04d}"
        nodes.append(node)
    jobs = []
    for i in range(JOBS):
        job = copy.deepcopy(job_template)
        job["job_id"] = 1000 + i
        job["nodes"] = f"gpu-[{(2 * i) % NODES:04d}-{(2 * i) % NODES + 1:04d}]"
        jobs.append(job)
    return json.dumps({**nodes_doc, "nodes": nodes}), json.dumps({**jobs_doc, "jobs": jobs})


def big_text() -> tuple[str, str]:
    node_line = (FIXTURES / "scontrol-nodes-22.05.txt").read_text().splitlines()[0]
    job_line = next(
        line
        for line in (FIXTURES / "scontrol-jobs-22.05.txt").read_text().splitlines()
        if line.startswith("JobId=2 ")
    )
    nodes = [node_line.replace("NodeName=gpu-01", f"NodeName=gpu-{i:04d}") for i in range(NODES)]
    jobs = []
    for i in range(JOBS):
        a, b = (2 * i) % NODES, (2 * i) % NODES + 1
        jobs.append(
            job_line.replace("JobId=2 ", f"JobId={1000 + i} ")
            .replace("NodeList=gpu-[01-02]", f"NodeList=gpu-[{a:04d}-{b:04d}]")
            .replace("Nodes=gpu-01 ", f"Nodes=gpu-{a:04d} ")
            .replace("Nodes=gpu-02 ", f"Nodes=gpu-{b:04d} ")
        )
    return "\n".join(nodes) + "\n", "\n".join(jobs) + "\n"


def test_bench_parse_large_cluster() -> None:
    nodes_json, jobs_json = big_json()
    nodes_text, jobs_text = big_text()

    def parse_json() -> tuple[int, int]:
        nodes = slurm_json.parse_nodes(slurm_json.load(nodes_json, "sinfo"))
        jobs = slurm_json.parse_jobs(slurm_json.load(jobs_json, "squeue"))
        return len(nodes), len(jobs)

    def parse_text() -> tuple[int, int]:
        return len(slurm_text.parse_nodes(nodes_text)), len(slurm_text.parse_jobs(jobs_text))

    assert parse_json() == (NODES, JOBS) == parse_text()
    # CPU time: the figure that matters for a parse, and steady on a shared 2-core box.
    json_ms = median_ms(parse_json, 5, time.process_time)
    text_ms = median_ms(parse_text, 5, time.process_time)
    size = f"{NODES}n_{JOBS}j"
    bench(f"slurm_parse_json_{size}_cpu_ms", json_ms, "ms", at_most=MAX_PARSE_MS, digits=0)
    bench(f"slurm_parse_text_{size}_cpu_ms", text_ms, "ms", at_most=MAX_PARSE_MS, digits=0)
    bench(f"slurm_output_json_{size}_bytes", len(nodes_json) + len(jobs_json), "B", digits=0)
    bench(f"slurm_output_text_{size}_bytes", len(nodes_text) + len(jobs_text), "B", digits=0)
