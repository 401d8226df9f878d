"""The simulated cluster in its own process, as benchmarks scrape it (like real, remote nodes).

Each node answers on its own loopback address (tests/bench/sim_serve.py), so a client
needs one connection per node as on a real cluster; Slurm answers through stand-in
commands in `bin_dir` with 23.11-shaped text for the same cluster.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tui.sim.server import node_address

START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class SimFleet:
    nodes: int
    port: int
    bin_dir: Path
    node_names: tuple[str, ...]
    slurm_bytes: int
    page_bytes_mean: float

    def targets(self) -> list[tuple[str, str]]:
        """(node name, its exporter's URL on the node's own address)."""
        return [
            (name, f"http://{node_address(i)}:{self.port}/metrics")
            for i, name in enumerate(self.node_names)
        ]


@contextmanager
def sim_server_process(nodes: int, bin_dir: Path) -> Iterator[SimFleet]:
    """Serve `nodes` simulated nodes from another process; yields once every page is ready."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.sim_serve", str(nodes), str(bin_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # the server prints it once it answers
        if not line:
            raise RuntimeError(f"simulator exited with status {server.wait(START_TIMEOUT_S)}")
        ready = json.loads(line)
        yield SimFleet(
            nodes=nodes,
            port=int(ready["port"]),
            bin_dir=bin_dir,
            node_names=_names(nodes),
            slurm_bytes=int(ready["slurm_bytes"]),
            page_bytes_mean=float(ready["page_bytes_mean"]),
        )
    finally:
        server.terminate()
        server.wait(timeout=20)


def _names(nodes: int) -> tuple[str, ...]:
    """The simulator's node names (SimCluster's naming)."""
    width = max(2, len(str(nodes)))
    return tuple(f"gpu-{i:0{width}d}" for i in range(1, nodes + 1))
