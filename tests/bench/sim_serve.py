"""A simulated cluster served the way a real one answers, for benchmarks in other processes.

`python -m tests.bench.sim_serve NODES BIN_DIR`: every node's dcgm-exporter on its own
loopback address (one port for all), pages pre-rendered at a frozen simulation time so that
serving costs little beside the measured process (a real fleet runs on other machines), and
stand-in `scontrol`/`sinfo` commands in BIN_DIR that print the same cluster as Slurm 23.11's
text. Prints one JSON line ({"port": ..., "slurm_bytes": ...}) once everything answers, then
serves until terminated.
"""

from __future__ import annotations

import asyncio
import json
import resource
import stat
import sys
from pathlib import Path

from tui.sim import SimCluster, SimSlurmSource
from tui.sim.server import SimExporterServer
from tui.sim.slurm_render import SLURM_VERSION, scontrol_jobs, scontrol_nodes

START = 1_800_000_000.0
# Ten minutes in: the scripted incidents (an unresponsive exporter, a hot GPU) are live.
FROZEN_AT = START + 600.0


def raise_open_file_limit() -> int:
    """Lift the soft open-file limit to the hard one: one socket per node on each side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def frozen_cluster(nodes: int) -> SimCluster:
    return SimCluster(nodes=nodes, seed=0, start=START, clock=lambda: FROZEN_AT)


def write_slurm_commands(sim: SimCluster, bin_dir: Path) -> int:
    """`scontrol show node|job` and `sinfo --version` stand-ins; returns the text's size."""
    state = SimSlurmSource(sim).state()
    nodes_text = scontrol_nodes(state)
    jobs_text = scontrol_jobs(state, now=FROZEN_AT)
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "nodes.txt").write_text(nodes_text)
    (bin_dir / "jobs.txt").write_text(jobs_text)
    scripts = {
        "scontrol": (
            'case "$2" in\n'
            f'  node) exec cat "{bin_dir}/nodes.txt" ;;\n'
            f'  job) exec cat "{bin_dir}/jobs.txt" ;;\n'
            "esac\n"
            'echo "scontrol: error: unsupported in this benchmark: $*" >&2\nexit 1\n'
        ),
        "sinfo": f'echo "slurm {SLURM_VERSION}"\n',
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return len(nodes_text) + len(jobs_text)


async def serve(nodes: int, bin_dir: Path) -> None:
    raise_open_file_limit()
    sim = frozen_cluster(nodes)
    slurm_bytes = write_slurm_commands(sim, bin_dir)
    server = SimExporterServer(sim, per_node_addresses=True)
    await server.start()
    sim.sync()
    page_bytes = [len(server.renderer.node_payload(i)) for i in range(nodes)]
    print(
        json.dumps(
            {
                "port": server.port,
                "slurm_bytes": slurm_bytes,
                "page_bytes_mean": sum(page_bytes) / len(page_bytes),
            }
        ),
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), Path(sys.argv[2])))
