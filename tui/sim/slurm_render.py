"""The simulated cluster as Slurm 23.11 prints it: `scontrol show node|job -o -d` text.

Benchmarks serve these through stand-in `scontrol`/`sinfo` commands so that the real Slurm
source runs its real commands and parses text of the real shape and size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from tui.model import Job, JobState, Node, NodeFlag
from tui.sim.slurm import GRES_TYPE
from tui.sources.base import SlurmState

SLURM_VERSION = "23.11.4"
BOOT_TIME = 1_767_139_200
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def _ranges(numbers: Sequence[int]) -> str:
    parts: list[str] = []
    start = previous = numbers[0]
    for number in [*numbers[1:], None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if number is not None:
            start = previous = number
    return ",".join(parts)


def compress_hostlist(names: Iterable[str]) -> str:
    """`gpu-[0001-0004,0007]` from node names, as Slurm prints a NodeList."""
    groups: dict[tuple[str, int], list[int]] = {}
    plain: list[str] = []
    for name in names:
        match = _NUMBERED.match(name)
        if match is None:
            plain.append(name)
            continue
        prefix, digits = match.groups()
        groups.setdefault((prefix, len(digits)), []).append(int(digits))
    parts = list(plain)
    for (prefix, width), numbers in groups.items():
        numbers.sort()
        if len(numbers) == 1:
            parts.append(f"{prefix}{numbers[0]:0{width}d}")
            continue
        spans = _ranges(numbers).split(",")
        padded = ["-".join(f"{int(n):0{width}d}" for n in span.split("-")) for span in spans]
        parts.append(f"{prefix}[{','.join(padded)}]")
    return ",".join(parts)


def _index_list(indices: Sequence[int]) -> str:
    return _ranges(sorted(indices)) if indices else "N/A"


def node_line(node: Node, gpu_indices: Sequence[int]) -> str:
    state = node.state.value
    if NodeFlag.DRAIN.value in node.flags:
        state += "+DRAIN"
    if NodeFlag.NOT_RESPONDING.value in node.flags:
        state += "*"
    alloc_tres = (
        f"cpu={node.cpus_alloc},mem={node.mem_alloc_mb}M,gres/gpu={node.gpus_alloc}"
        if node.gpus_alloc
        else ""
    )
    line = (
        f"NodeName={node.name} Arch=x86_64 CoresPerSocket=32 CPUAlloc={node.cpus_alloc} "
        f"CPUEfctv={node.cpus_total} CPUTot={node.cpus_total} CPULoad=2.12 "
        f"AvailableFeatures=(null) ActiveFeatures=(null) "
        f"Gres=gpu:{GRES_TYPE}:{node.gpus_total}(S:0-1) GresDrain=N/A "
        f"GresUsed=gpu:{GRES_TYPE}:{node.gpus_alloc}(IDX:{_index_list(gpu_indices)}) "
        f"NodeAddr={node.name} NodeHostName={node.name} Version={SLURM_VERSION} "
        f"OS=Linux 5.15.0-105-generic #115-Ubuntu SMP RealMemory={node.mem_total_mb} "
        f"AllocMem={node.mem_alloc_mb} FreeMem=1843200 Sockets=2 Boards=1 State={state} "
        f"ThreadsPerCore=2 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A "
        f"Partitions={','.join(node.partitions)} BootTime={BOOT_TIME} "
        f"SlurmdStartTime={BOOT_TIME + 400} LastBusyTime={BOOT_TIME + 86340} "
        f"ResumeAfterTime=None CfgTRES=cpu={node.cpus_total},mem={node.mem_total_mb}M,"
        f"billing={node.cpus_total},gres/gpu={node.gpus_total} AllocTRES={alloc_tres} "
        f"CapWatts=n/a CurrentWatts=0 AveWatts=0 ExtSensorsJoules=n/a ExtSensorsWatts=0 "
        f"ExtSensorsTemp=n/a"
    )
    if node.reason:
        line += f" Reason={node.reason} [root@{BOOT_TIME + 3600}]"
    return line


def _duration(seconds: float) -> str:
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def job_line(job: Job, now: float) -> str:
    running = job.state is JobState.RUNNING
    gpus = job.gpus_requested or job.gpus_per_node * max(1, len(job.nodes))
    node_count = max(1, len(job.nodes))
    cpus = 10 * node_count
    limit = job.time_limit_min or 60
    submit = int(job.submit_time or now)
    start = int(job.start_time) if running and job.start_time is not None else None
    reason = "None" if running else (job.reason or "Priority")
    priority = 0 if job.held else 1000
    uid = 1000 + sum(job.user.encode()) % 1000
    tres = f"cpu={cpus},mem={32 * node_count}G,node={node_count},billing={cpus},gres/gpu={gpus}"
    line = (
        f"JobId={job.job_id} JobName={job.name} UserId={job.user}({uid}) "
        f"GroupId={job.user}({uid}) MCS_label=N/A Priority={priority} Nice=0 "
        f"Account={job.account} QOS=normal JobState={job.state.value} Reason={reason} "
        f"Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 "
        f"DerivedExitCode=0:0 RunTime={_duration(now - start) if start else '00:00:00'} "
        f"TimeLimit={_duration(limit * 60)} TimeMin=N/A SubmitTime={submit} "
        f"EligibleTime={submit} AccrueTime={submit} "
        f"StartTime={start if start else 'Unknown'} "
        f"EndTime={start + limit * 60 if start else 'Unknown'} Deadline=N/A "
        f"SuspendTime=None SecsPreSuspend=0 LastSchedEval={submit} Scheduler=Main "
        f"Partition={job.partition} AllocNode:Sid=head:4242 ReqNodeList=(null) "
        f"ExcNodeList=(null) NodeList={compress_hostlist(job.nodes) if running else '(null)'} "
    )
    if running:
        line += f"BatchHost={job.nodes[0]} "
    line += (
        f"NumNodes={node_count} NumCPUs={cpus} NumTasks={node_count} CPUs/Task=10 "
        f"ReqB:S:C:T=0:0:*:* ReqTRES={tres} "
    )
    if running:
        line += f"AllocTRES={tres} "
    line += "Socks/Node=* NtasksPerN:B:S:C=1:0:*:* CoreSpec=* "
    if running:
        line += f"JOB_GRES=gpu:{GRES_TYPE}:{gpus} "
        for node in job.nodes:
            indices = job.gpu_indices.get(node, ())
            line += (
                f"  Nodes={node} CPU_IDs=0-9 Mem=32768 "
                f"GRES=gpu:{GRES_TYPE}:{len(indices)}(IDX:{_index_list(indices)}) "
            )
    home = f"/home/{job.user}"
    line += (
        "MinCPUsNode=10 MinMemoryNode=32G MinTmpDiskNode=0 Features=(null) "
        "DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) "
        f"Command={home}/run.sh WorkDir={home} StdErr={home}/slurm-{job.job_id}.out "
        f"StdIn=/dev/null StdOut={home}/slurm-{job.job_id}.out Power= "
        f"TresPerNode=gres/gpu:{job.gpus_per_node}"
    )
    return line


def scontrol_nodes(state: SlurmState) -> str:
    """`scontrol show node -o -d` for the state's nodes."""
    held: dict[str, list[int]] = {}
    for job in state.jobs:
        for node, indices in job.gpu_indices.items():
            held.setdefault(node, []).extend(indices)
    return "".join(f"{node_line(node, held.get(node.name, []))}\n" for node in state.nodes)


def scontrol_jobs(state: SlurmState, now: float) -> str:
    """`scontrol show job -d -o` for the state's jobs."""
    return "".join(f"{job_line(job, now)}\n" for job in state.jobs)
