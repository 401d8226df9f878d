"""A GPU the pod exporter reports lost shows as an error, never as a silent gap."""

from __future__ import annotations

from tui.sources.exporters import (
    GPU_LOST_ERROR,
    DcgmFastPath,
    DcgmLineCache,
    gpus_from_samples,
)
from tui.sources.promtext import parse_samples

PAGE = """\
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a",modelName="NVIDIA A100-SXM4-80GB",Hostname="n1"} 42
# HELP DCGM_EXP_GPU_LOST 1 when the GPU has fallen off the bus (NVML: GPU is lost).
# TYPE DCGM_EXP_GPU_LOST gauge
DCGM_EXP_GPU_LOST{gpu="0",UUID="GPU-a",modelName="NVIDIA A100-SXM4-80GB",Hostname="n1"} 0
DCGM_EXP_GPU_LOST{gpu="1",UUID="",modelName="",Hostname="n1"} 1
"""


def test_general_path_reports_the_lost_gpu_and_keeps_the_other() -> None:
    gpus = gpus_from_samples(parse_samples(PAGE), node="n1")
    assert [(g.index, g.error) for g in gpus] == [(0, None), (1, GPU_LOST_ERROR)]
    assert gpus[0].utilization_pct == 42
    assert gpus[1].utilization_pct is None


def test_fast_path_agrees() -> None:
    fast = DcgmFastPath(DcgmLineCache(), node="n1")
    assert fast.feed(PAGE.splitlines())
    assert fast.gpus() == gpus_from_samples(parse_samples(PAGE), node="n1")
