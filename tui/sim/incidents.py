"""The simulator's scripted incidents, as data, so tests know exactly which alerts must fire.

Offsets are seconds from the simulation's start; node positions are taken modulo the
cluster size, so clusters of ten or more nodes get each incident on its own node.
Clusters of one or two nodes have no drained node (it would stop all work).

| kind            | node (16 nodes) | gpu | start  | critical window    | end     |
|-----------------|-----------------|-----|--------|--------------------|---------|
| drained         | gpu-03          | -   | 0 s    | 0 s ->             | never   |
| allocated_idle  | gpu-08          | 0   | 0 s    | 0 s -> (alerts 30m)| never   |
| overheat        | gpu-05          | 2   | 60 s   | 90 s -> 390 s >=90C| 450 s   |
| xid             | gpu-07          | 5   | 120 s  | 120 s -> (XID 79)  | never   |
| not_responding  | gpu-10          | -   | 180 s  | 180 s -> 360 s     | 360 s   |

Outside these windows the simulated load stays under every alert threshold below.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# What the random load never crosses outside an incident.
MAX_NORMAL_TEMP_C = 83.0
MAX_NORMAL_MEMORY_PCT = 93.0
MIN_BUSY_UTIL_PCT = 20.0
MAX_PENDING_S = 50 * 60.0

OVERHEAT_PEAK_C = 92.0
XID_CODE = 79
DRAIN_REASON = "bad DIMM, ticket OPS-1234"


class IncidentKind(StrEnum):
    DRAINED = "drained"
    ALLOCATED_IDLE = "allocated_idle"
    OVERHEAT = "overheat"
    XID = "xid"
    NOT_RESPONDING = "not_responding"


@dataclass(frozen=True, slots=True)
class Incident:
    """One scripted anomaly. Readings may be abnormal anywhere in [start_s, end_s)."""

    kind: IncidentKind
    node: str
    gpu: int | None
    start_s: float
    end_s: float | None
    # When the reading is past the alert level (e.g. >= 90 C); inside [start_s, end_s).
    critical_start_s: float
    critical_end_s: float | None
    detail: str = ""

    def active_at(self, offset_s: float) -> bool:
        return self.start_s <= offset_s and (self.end_s is None or offset_s < self.end_s)

    def critical_at(self, offset_s: float) -> bool:
        return self.critical_start_s <= offset_s and (
            self.critical_end_s is None or offset_s < self.critical_end_s
        )


# (kind, node position, gpu, start, critical start, critical end, end, detail)
_SCRIPT: tuple[
    tuple[IncidentKind, int, int | None, float, float, float | None, float | None, str], ...
] = (
    (IncidentKind.DRAINED, 2, None, 0.0, 0.0, None, None, DRAIN_REASON),
    (IncidentKind.ALLOCATED_IDLE, 7, 0, 0.0, 0.0, None, None, "notebook holding a GPU at <5 %"),
    (IncidentKind.OVERHEAT, 4, 2, 60.0, 90.0, 390.0, 450.0, f"{OVERHEAT_PEAK_C:.0f} C, then cools"),
    (IncidentKind.XID, 6, 5, 120.0, 120.0, None, None, f"XID {XID_CODE}: GPU fell off the bus"),
    (
        IncidentKind.NOT_RESPONDING,
        9,
        None,
        180.0,
        180.0,
        360.0,
        360.0,
        "slurmd and exporter silent",
    ),
)

OVERHEAT_RAMP_S = 30.0
OVERHEAT_COOL_S = 60.0


def incident_script(node_names: tuple[str, ...]) -> tuple[Incident, ...]:
    """The incidents for a cluster with these nodes (in order)."""
    count = len(node_names)
    script = [row for row in _SCRIPT if count > row[1] or row[0] is not IncidentKind.DRAINED]
    return tuple(
        Incident(
            kind=kind,
            node=node_names[position % count],
            gpu=gpu,
            start_s=start,
            end_s=end,
            critical_start_s=crit_start,
            critical_end_s=crit_end,
            detail=detail,
        )
        for kind, position, gpu, start, crit_start, crit_end, end, detail in script
    )
