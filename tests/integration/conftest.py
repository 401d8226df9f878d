"""Integration fixtures shared by test modules: a real private Slurm cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need, need_binaries
from tests.integration.slurm_cluster import SlurmCluster, SlurmClusterError

SLURM_BINARIES = ("slurmctld", "slurmd", "munged", "sinfo", "squeue", "scontrol", "sbatch")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """munged + slurmctld + 4 slurmd (gpu-01..gpu-04, 8 fake a100 each), shared by the session.

    Skipped (or failed under CLUSTERDASH_REQUIRE_INTEGRATION=1) without Slurm or root.
    Tests that drain nodes or submit jobs should use `slurm` below, which cleans up after.
    """
    binaries = need_binaries(*SLURM_BINARIES)
    need(os.geteuid() == 0, "a private Slurm cluster needs root")
    root: Path = tmp_path_factory.mktemp("slurm")
    cluster = SlurmCluster(root, binaries)
    try:
        cluster.start()
    except SlurmClusterError as error:
        cluster.stop()
        pytest.fail(f"Slurm test cluster did not start: {error}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def slurm(slurm_cluster: SlurmCluster) -> Iterator[SlurmCluster]:
    """The shared cluster, left with no jobs and no drained nodes after the test."""
    yield slurm_cluster
    slurm_cluster.cancel_all()
    slurm_cluster.reset_nodes()
    slurm_cluster.wait_for(
        lambda: set(slurm_cluster.node_states().values()) == {"idle"}, 20, what="nodes idle again"
    )
