"""A GPU an exporter reports fallen off the bus shows as an error, never as a silent gap."""

from __future__ import annotations

from tui.sources.exporters import (
    GPU_LOST_ERROR,
    DcgmFastPath,
    DcgmLineCache,
    gpus_from_samples,
)
from tui.sources.promtext import parse_samples

A = 'gpu="0",UUID="GPU-a",modelName="NVIDIA A100-SXM4-80GB",Hostname="n1"'
B = 'gpu="1",UUID="GPU-b",modelName="NVIDIA A100-SXM4-80GB",Hostname="n1"'
# dcgm-exporter's shape: one health series per watch, DCGM's result as the value
# (0 pass, 10 warn, 20 fail); fallen-off-bus XIDs are filed under the "ALL" watch.
PAGE = f"""\
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{{{A}}} 42
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{{{A}}} 50000
# HELP DCGM_EXP_GPU_HEALTH_STATUS DCGM reported health status
# TYPE DCGM_EXP_GPU_HEALTH_STATUS counter
DCGM_EXP_GPU_HEALTH_STATUS{{{A},health_watch="PCIE",health_error_code="DCGM_FR_OK"}} 0
DCGM_EXP_GPU_HEALTH_STATUS{{{A},health_watch="ALL",health_error_code="DCGM_FR_OK"}} 0
DCGM_EXP_GPU_HEALTH_STATUS{{{B},health_watch="PCIE",health_error_code="DCGM_FR_OK"}} 0
DCGM_EXP_GPU_HEALTH_STATUS{{{B},health_watch="ALL",health_error_code="DCGM_FR_FALLEN_OFF_BUS"}} 20
"""


def test_general_path_reports_the_lost_gpu_and_keeps_the_other() -> None:
    gpus = gpus_from_samples(parse_samples(PAGE), node="n1")
    assert [(g.index, g.error) for g in gpus] == [(0, None), (1, GPU_LOST_ERROR)]
    assert gpus[0].utilization_pct == 42
    assert gpus[1].utilization_pct is None


def test_a_mig_instance_does_not_overwrite_its_whole_gpus_memory() -> None:
    mig = 'GPU_I_PROFILE="3g.40gb",GPU_I_ID="1"'
    page = f"""\
DCGM_FI_DEV_FB_USED{{{A}}} 50000
DCGM_FI_DEV_FB_FREE{{{A}}} 30000
DCGM_FI_DEV_FB_TOTAL{{{A}}} 81920
DCGM_FI_DEV_FB_USED{{{A},{mig}}} 1024
DCGM_FI_DEV_FB_FREE{{{A},{mig}}} 39168
DCGM_FI_DEV_FB_TOTAL{{{A},{mig}}} 40192
"""
    (gpu,) = gpus_from_samples(parse_samples(page), node="n1")
    assert gpu.memory_total_mib == 81920
    assert gpu.memory_used_mib == 50000
    assert [(m.instance_id, m.memory_used_mib) for m in gpu.mig] == [("1", 1024)]


def test_fast_path_agrees() -> None:
    fast = DcgmFastPath(DcgmLineCache(), node="n1")
    assert fast.feed(PAGE.splitlines())
    assert fast.gpus() == gpus_from_samples(parse_samples(PAGE), node="n1")
