"""The simulated cluster (demo mode), behind the same protocols as a real one.

SimCluster holds the state; SimSlurmSource is its Slurm face (WorkloadSource);
SimExporterServer serves its GPUs as dcgm-exporter HTTP on loopback.
"""

from tui.sim.cluster import SimActionError, SimCluster
from tui.sim.incidents import Incident, IncidentKind
from tui.sim.server import SimExporterServer, serve_forever
from tui.sim.slurm import SimSlurmSource

__all__ = [
    "Incident",
    "IncidentKind",
    "SimActionError",
    "SimCluster",
    "SimExporterServer",
    "SimSlurmSource",
    "serve_forever",
]
