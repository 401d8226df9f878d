"""DcgmFastPath reads exactly what parse_samples + gpus_from_samples read, or gives up."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.exposition_server import Reply, serve
from tui.model import Gpu
from tui.sim import SimCluster
from tui.sim.dcgm import DcgmRenderer
from tui.sources.exporters import DcgmFastPath, DcgmLineCache, ExporterGpuSource, gpus_from_samples
from tui.sources.promtext import ParseError, parse_samples

FIXTURES = Path(__file__).parent.parent / "fixtures" / "exposition"


def general(text: str, node: str | None) -> list[Gpu] | None:
    """The general path's GPUs; None where it finds none or the page is not Prometheus text."""
    try:
        samples = parse_samples(text)
    except ParseError:
        return None
    return gpus_from_samples(samples, node=node) or None


def fast(text: str, node: str | None, cache: DcgmLineCache | None = None) -> list[Gpu] | None:
    if not DcgmFastPath.accepts(text):
        return None
    path = DcgmFastPath(cache or DcgmLineCache(), node)
    return path.gpus() if path.feed(text.split("\n")) else None


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.prom")))
@pytest.mark.parametrize("node", ["gpu-07", None])
def test_fixture_pages_read_the_same_on_both_paths(name: str, node: str | None) -> None:
    text = (FIXTURES / name).read_text()
    expected = general(text, node)
    got = fast(text, node)
    if "nvidia_smi_" in text or "GPU_I_ID" in text:
        assert got is None  # the other dialect and MIG pages always take the general path
        assert expected
    else:
        assert got is not None, f"fast path gave up on {name}"
        assert got == expected


def test_simulator_pages_read_the_same_with_a_cache_shared_across_nodes_and_cycles() -> None:
    now = [0.0]
    sim = SimCluster(nodes=24, seed=3, start=0.0, clock=lambda: now[0])
    renderer = DcgmRenderer(sim)
    cache = DcgmLineCache()
    # Through the scripted incidents (XIDs, a node not responding, jobs coming and going).
    for now[0] in (0.0, 200.0, 400.0, 900.0):
        sim.sync()
        cache.new_cycle()
        for index, node in enumerate(sim.node_names):
            text = renderer.node_payload(index).decode()
            assert fast(text, node, cache) == general(text, node)
        # Prometheus' view: every node in one page, nodes told apart by the Hostname label.
        whole = renderer.all_payload().decode()
        assert fast(whole, None, cache) == general(whole, None)


def test_cache_forgets_heads_no_page_uses_any_more() -> None:
    cache = DcgmLineCache()
    for job in range(3000):
        cache.new_cycle()
        text = f'DCGM_FI_DEV_GPU_UTIL{{gpu="0",hpc_job="{job}"}} 1\n'
        assert fast(text, "n", cache) is not None
    # A new job label each cycle: the heads of finished jobs are dropped, not piled up.
    assert len(cache.heads) <= 1100


@pytest.mark.parametrize(
    "text",
    [
        'DCGM_FI_DEV_GPU_UTIL{gpu="0",job="a\\"b"} 5\n',  # escapes
        'DCGM_FI_DEV_GPU_UTIL{gpu="0"} 5 1700000000000\n',  # timestamp
        'DCGM_FI_DEV_GPU_UTIL{gpu="0"} 5\r\n',  # CRLF
        'DCGM_FI_DEV_GPU_UTIL {gpu="0"} 5\n',  # blank before the labels
        'DCGM_FI_DEV_GPU_UTIL{gpu="0"}\t5\n',  # tab
        'DCGM_FI_DEV_GPU_UTIL{gpu="0"} 5 \n',  # trailing blank
        '  DCGM_FI_DEV_GPU_UTIL{gpu="0"} 5\n',  # leading blanks
        'DCGM_FI_DEV_GPU_UTIL{gpu="0"} 5\n# EOF\n',  # OpenMetrics end
        'DCGM_FI_DEV_GPU_UTIL{gpu="0",gpu="1"} 5\n',  # duplicate label: not Prometheus text
        'DCGM_FI_DEV_GPU_UTIL{gpu="0"} five\n',  # not a number
        'DCGM_FI_DEV_GPU_UTIL{gpu="0"} 5\nDCGM_FI_DEV_MEM_CLOCK{gpu="0"} x\n',  # bad unused line
        'DCGM_FI_DEV_GPU_UTIL{gpu="0"} 5\n9bad{gpu="0"} 1\n',  # bad metric name
        'DCGM_FI_DEV_GPU_UTIL{gpu="0"} 5\nnode_load1 0.5\n',  # a sample without labels
        'DCGM_FI_DEV_GPU_UTIL{gpu="0"} 1 # {trace_id="x"} 1\n',  # exemplar
        'DCGM_FI_DEV_GPU_UTIL{gpu="²"} 5\n',  # a digit int() cannot read
        'node_load1{cpu="0"} 0.5\n',  # no GPU at all
        "",
    ],
)
def test_fast_path_gives_up_on_anything_but_plain_dcgm_lines(text: str) -> None:
    assert fast(text, "gpu-01") is None


# Label values without backslashes (the fast path gives those up), including braces, blanks,
# commas, quotes' neighbours and non-ASCII text.
label_values = st.text(
    alphabet=st.characters(blacklist_characters='\\"\n\r', blacklist_categories=("Cs",)),
    max_size=12,
)
metric_names = st.sampled_from(
    [
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_FB_FREE",
        "DCGM_FI_DEV_FB_RESERVED",
        "DCGM_FI_DEV_GPU_TEMP",
        "DCGM_FI_DEV_POWER_USAGE",
        "DCGM_FI_DEV_XID_ERRORS",
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
        "DCGM_FI_DEV_MEM_CLOCK",
        "DCGM_FI_PROF_SM_ACTIVE",
        "go_goroutines",
    ]
)
values = st.one_of(
    st.sampled_from(["NaN", "+Inf", "-Inf", "2147483632", "1.40737488355328e14", "0", "1e3"]),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.integers(-10, 10**6).map(str),
)


@st.composite
def sample_lines(draw: st.DrawFn) -> str:
    labels = {}
    if draw(st.booleans()):
        labels["gpu"] = draw(st.sampled_from(["0", "1", "2", "x", ""]))
    for key in draw(
        st.lists(st.sampled_from(["UUID", "modelName", "Hostname", "hpc_job", "err"]), max_size=4)
    ):
        labels[key] = draw(label_values)
    pairs = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{draw(metric_names)}{{{pairs}}} {draw(values)}"


pages = st.lists(
    st.one_of(sample_lines(), st.sampled_from(["# HELP x y", "# TYPE x gauge", ""])), max_size=30
).map("\n".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=pages, node=st.sampled_from(["gpu-01", None]))
def test_any_page_the_fast_path_reads_reads_the_same_on_the_general_path(
    page: str, node: str | None
) -> None:
    got = fast(page, node)
    if got is not None:
        assert got == general(page, node)
    for gpu in got or ():
        assert gpu.utilization_pct is None or math.isfinite(gpu.utilization_pct)


async def test_whole_cluster_page_is_read_in_chunks_by_the_source_the_same_as_by_the_parser() -> (
    None
):
    sim = SimCluster(nodes=64, seed=1)
    page = DcgmRenderer(sim).all_payload().decode()
    assert len(page) > 1_000_000  # more than one chunk between yields
    expected = general(page, None)

    with serve({"/metrics": Reply(page)}) as server:
        source = ExporterGpuSource([server.url("/metrics")])
        try:
            reading = await source.fetch()
        finally:
            await source.aclose()
    assert reading.errors == {}
    assert expected is not None and len(expected) == 64 * 8
    assert list(reading.gpus) == expected
