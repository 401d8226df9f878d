"""A large cluster's `scontrol show node -o -d` / `scontrol show job -d -o` text, 23.11-shaped.

Every line is a line of the 23.11 fixtures with its names, numbers and node lists changed,
so the scale text has exactly the fields, spacing and order Slurm 23.11 prints. The mix:
most nodes MIXED with GPUs in use, some drained or down with reasons, a few untyped; jobs
running on one node or spanning three (two node groups), pending ones asking for GPUs per
node or per job, held ones, array remainders and names with spaces.
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "slurm"
NODES_FIXTURE = "scontrol-nodes-23.11.txt"
JOBS_FIXTURE = "scontrol-jobs-23.11.txt"


def _swap(line: str, *pairs: tuple[str, str]) -> str:
    """Replace each old text, which must be there: a template change must not pass silently."""
    for old, new in pairs:
        if old not in line:
            raise ValueError(f"{old!r} not in the template line")
        line = line.replace(old, new)
    return line


def _templates(fixture: str, key: str) -> dict[str, str]:
    lines = (FIXTURES / fixture).read_text().splitlines()
    return {line.split()[0].removeprefix(f"{key}="): line for line in lines if line.strip()}


def node_name(index: int) -> str:
    return f"gpu-{index:04d}"


def nodes_text(count: int) -> str:
    """`count` nodes gpu-0000.., in the 23.11 node-line shapes."""
    templates = _templates(NODES_FIXTURE, "NodeName")
    lines = []
    for i in range(count):
        if i % 50 == 7:
            template, old = templates["gpu-04"], "gpu-04"  # IDLE+DRAIN with a reason
        elif i % 97 == 11:
            template, old = templates["gpu-05"], "gpu-05"  # DOWN+NOT_RESPONDING
        elif i % 61 == 5:
            template, old = templates["gpu-07"], "gpu-07"  # reason with brackets of its own
        elif i % 89 == 3:
            template, old = templates["old-01"], "old-01"  # untyped GPUs
        elif i % 2:
            template, old = templates["gpu-02"], "gpu-02"
        else:
            template, old = templates["gpu-01"], "gpu-01"
        name = node_name(i)
        line = template.replace(f"={old} ", f"={name} ")
        if "Reason=" in line:
            line = line.replace("[root@", f"node {name} [root@")
        lines.append(line)
    return "\n".join(lines) + "\n"


def jobs_text(count: int, nodes: int) -> str:
    """`count` jobs on nodes gpu-0000..gpu-{nodes-1}, in the 23.11 job-line shapes."""
    templates = _templates(JOBS_FIXTURE, "JobId")
    lines = []
    for i in range(count):
        job = 10_000 + i
        kind = i % 20
        first = (3 * i) % (nodes - 3)
        if kind < 11:  # running on one node, two GPUs
            gpu = (i % 4) * 2
            line = _swap(
                templates["101"],
                ("JobId=101 ", f"JobId={job} "),
                ("NodeList=gpu-01 ", f"NodeList={node_name(first)} "),
                ("BatchHost=gpu-01 ", f"BatchHost={node_name(first)} "),
                ("Nodes=gpu-01 ", f"Nodes={node_name(first)} "),
                ("(IDX:0-1)", f"(IDX:{gpu}-{gpu + 1})"),
                ("slurm-101.out", f"slurm-{job}.out"),
            )
        elif kind < 14:  # running on three nodes, two node groups, a name with spaces
            group = f"gpu-[{first + 1:04d}-{first + 2:04d}]"
            line = _swap(
                templates["102"],
                ("JobId=102 ", f"JobId={job} "),
                ("NodeList=gpu-[01-03] ", f"NodeList=gpu-[{first:04d}-{first + 2:04d}] "),
                ("BatchHost=gpu-01 ", f"BatchHost={node_name(first)} "),
                ("Nodes=gpu-01 ", f"Nodes={node_name(first)} "),
                ("Nodes=gpu-[02-03] ", f"Nodes={group} "),
                ("slurm-102.out", f"slurm-{job}.out"),
            )
        elif kind < 17:  # pending, -N4 --gres=gpu:8
            line = _swap(templates["103"], ("JobId=103 ", f"JobId={job} "))
        elif kind < 18:  # held, --gpus=32
            line = _swap(templates["104"], ("JobId=104 ", f"JobId={job} "))
        elif kind < 19:  # an array's pending remainder
            line = _swap(
                templates["107"],
                ("JobId=107 ArrayJobId=107 ", f"JobId={job} ArrayJobId={job} "),
            )
        else:  # held by an admin, no GPUs
            line = _swap(templates["108"], ("JobId=108 ", f"JobId={job} "))
        lines.append(line)
    return "\n".join(lines) + "\n"
