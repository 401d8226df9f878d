"""A page read with its target's template reads exactly as the general parser reads it."""

from __future__ import annotations

import asyncio
from dataclasses import fields

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.exposition_server import Reply, serve
from tests.unit.test_exporters_fast_path import general
from tui.model import Gpu
from tui.sim import SimCluster
from tui.sim.dcgm import DcgmRenderer
from tui.sources.exporters import (
    DCGM_INT32_BLANK,
    DcgmFastPath,
    DcgmLineCache,
    ExporterGpuSource,
    _GpuDraft,
)
from tui.sources.page_template import PageTemplate

PAGE = """# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %) of {gpu} here
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a",modelName="NVIDIA A100",hpc_job="7"} 40
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-b",modelName="NVIDIA A100"} 0
DCGM_FI_DEV_MEM_CLOCK{gpu="0",UUID="GPU-a",modelName="NVIDIA A100",hpc_job="7"} 1593
DCGM_FI_DEV_MEM_CLOCK{gpu="1",UUID="GPU-b",modelName="NVIDIA A100"} 1593
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-a",modelName="NVIDIA A100",hpc_job="7"} 100
DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-a",modelName="NVIDIA A100",hpc_job="7"} 900
DCGM_FI_DEV_POWER_USAGE{gpu="1",UUID="GPU-b",modelName="NVIDIA A100"} 61.5
"""


def learn(text: str, node: str | None = "gpu-01") -> PageTemplate | None:
    fast = DcgmFastPath(DcgmLineCache(), node)
    assert DcgmFastPath.accepts(text) and fast.feed(text.split("\n"))
    return PageTemplate.learn(text.encode(), None, fast.meaning_of, fast.drafts(), DCGM_INT32_BLANK)


def test_new_numbers_in_a_known_shape_read_as_the_general_parser_reads_them() -> None:
    template = learn(PAGE)
    assert template is not None
    page = PAGE.replace("} 40\n", "} 97.5\n").replace("} 61.5\n", "} NaN\n")
    page = page.replace("} 900\n", "} 2147483632\n")
    got = template.read(page.encode())
    assert got is not None
    assert got == general(page, "gpu-01")
    assert got[0].utilization_pct == 97.5 and got[1].power_w is None


@pytest.mark.parametrize(
    "page",
    [
        PAGE.replace('hpc_job="7"} 40', 'hpc_job="8"} 40'),  # a label changed
        PAGE.replace("} 40\n", "} forty\n"),  # not a number
        PAGE.replace("} 40\n", "} 40 1700000000000\n"),  # a timestamp
        PAGE.replace("} 40\n", "} 40\r\n"),  # CRLF
        PAGE.replace("} 40\n", "} 4\\0\n"),  # a backslash
        PAGE.replace("} 40\n", "}\t40\n"),  # a tab
        PAGE.replace("# TYPE DCGM_FI_DEV_GPU_UTIL gauge", "# EOF"),  # a comment changed
        PAGE.replace("{gpu} here", "{gpu} there"),  # a comment's last word after a brace
        PAGE + 'DCGM_FI_DEV_GPU_TEMP{gpu="0"} 50\n',  # a line more
        PAGE.replace(
            'DCGM_FI_DEV_POWER_USAGE{gpu="1",UUID="GPU-b",modelName="NVIDIA A100"} 61.5\n', ""
        ),
        PAGE.rstrip("\n"),  # the last line's break gone
    ],
)
def test_a_page_that_differs_in_more_than_numbers_is_not_read(page: str) -> None:
    template = learn(PAGE)
    assert template is not None
    assert template.read(page.encode()) is None


@pytest.mark.parametrize(
    "page",
    [
        PAGE.replace("} 40\n", "} 40\t\n"),  # a value float() reads that no token holds
        PAGE.rstrip("\n"),  # the last line has no break
    ],
)
def test_no_template_for_a_page_with_a_sample_line_it_cannot_hold(page: str) -> None:
    fast = DcgmFastPath(DcgmLineCache(), "gpu-01")
    assert DcgmFastPath.accepts(page) and fast.feed(page.split("\n"))
    assert fast.gpus() == general(page, "gpu-01")
    learned = PageTemplate.learn(
        page.encode(), None, fast.meaning_of, fast.drafts(), DCGM_INT32_BLANK
    )
    assert learned is None


def test_build_puts_each_reading_in_its_own_field() -> None:
    """The GPU is built by position: every field must land under its own name."""
    draft = _GpuDraft("gpu-01", 3, uuid="GPU-u", model="A100", pci_bus_id="0:1", job_id="9")
    values = {
        "utilization_pct": 1.0,
        "memory_used_mib": 2.0,
        "memory_total_mib": 3.0,
        "temperature_c": 4.0,
        "power_w": 5.0,
        "sm_clock_mhz": 6.0,
        "last_xid": 7.0,
        "ecc_uncorrectable": 8.0,
        "remapped_row_failures": 9.0,
    }
    draft.lost = True
    gpu = draft.build_with(3, values)
    expected = Gpu(
        node="gpu-01",
        index=3,
        uuid="GPU-u",
        model="A100",
        pci_bus_id="0:1",
        job_id="9",
        error="GPU lost: fell off the bus",
        last_xid=7,
        ecc_uncorrectable=8,
        remapped_row_failures=9,
        **{
            k: v
            for k, v in values.items()
            if k not in ("last_xid", "ecc_uncorrectable", "remapped_row_failures")
        },
    )
    assert gpu == expected
    assert [f.name for f in fields(Gpu)][-4:] == ["job_id", "user", "error", "mig"]


numbers = st.one_of(
    st.sampled_from(["NaN", "+Inf", "-Inf", "2147483632", "1.40737488355328e14", "0", "1e3"]),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.integers(-10, 10**6).map(str),
    st.sampled_from(["x", "1_0", "0x1", "", "1.2.3", "in f"]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    edit=st.sampled_from(["none", "insert", "delete", "swap"]),
    node=st.sampled_from(["gpu-01", None]),
)
def test_any_page_a_template_reads_reads_the_same_on_the_general_path(
    data: st.DataObject, edit: str, node: str | None
) -> None:
    lines = PAGE.split("\n")
    template = learn(PAGE, node)
    assert template is not None
    changed = []
    for line in lines:
        head, blank, _ = line.rpartition(" ")
        changed.append(f"{head}{blank}{data.draw(numbers)}" if "}" in head else line)
    position = data.draw(st.integers(0, len(changed) - 1))
    if edit == "insert":
        changed.insert(position, data.draw(st.sampled_from(["", "# x", "x 1", changed[position]])))
    elif edit == "delete":
        del changed[position]
    elif edit == "swap":
        changed[position], changed[-2] = changed[-2], changed[position]
    page = "\n".join(changed)
    got = template.read(page.encode())
    if got is not None:
        assert got == general(page, node)


async def test_the_source_reads_changing_simulator_pages_as_the_general_parser_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read = PageTemplate.read
    answers: list[bool] = []

    def counted(template: PageTemplate, body: bytes) -> list[Gpu] | None:
        gpus = read(template, body)
        answers.append(gpus is not None)
        return gpus

    monkeypatch.setattr(PageTemplate, "read", counted)
    now = [0.0]
    sim = SimCluster(nodes=6, seed=3, start=0.0, clock=lambda: now[0])
    renderer = DcgmRenderer(sim)
    pages: dict[str, bytes] = {}

    def route(node: str) -> Reply:
        return Reply(pages[node])

    routes = {f"/{node}": (lambda _path, node=node: route(node)) for node in sim.node_names}
    with serve(routes) as server:  # type: ignore[arg-type]
        source = ExporterGpuSource([(node, server.url(f"/{node}")) for node in sim.node_names])
        try:
            # Through the scripted incidents: values change every time, jobs now and then.
            for now[0] in (0.0, 5.0, 10.0, 200.0, 205.0, 400.0, 900.0, 905.0):
                sim.sync()
                expected = []
                for index, node in enumerate(sim.node_names):
                    pages[node] = renderer.node_payload(index)
                    expected.extend(general(pages[node].decode(), node) or [])
                reading = await source.fetch()
                assert list(reading.gpus) == expected
            # Most pages were read from their template, not all (jobs came and went).
            assert sum(answers) >= 4 * len(sim.node_names)
            assert not all(answers)
        finally:
            await source.aclose()


def test_templates_replace_the_line_cache_and_go_with_their_target() -> None:
    text = PAGE

    async def run() -> int:
        with serve({"/a": Reply(text), "/b": Reply(text.replace("GPU-a", "GPU-c"))}) as server:
            targets = [("a", server.url("/a")), ("b", server.url("/b"))]
            source = ExporterGpuSource(lambda: targets)
            try:
                await source.fetch()
                assert len(source._templates) == 2
                # What the templates hold is not also kept line by line.
                assert not source._line_cache.heads and not source._line_cache.blocks
                del targets[1]
                await source.fetch()
                return len(source._templates)
            finally:
                await source.aclose()

    assert asyncio.run(run()) == 1


async def test_a_template_that_fails_leaves_the_page_to_the_full_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(template: PageTemplate, body: bytes) -> list[Gpu] | None:
        raise RuntimeError("template bug")

    with serve({"/a": Reply(PAGE)}) as server:
        source = ExporterGpuSource([("gpu-01", server.url("/a"))])
        try:
            first = await source.fetch()
            monkeypatch.setattr(PageTemplate, "read", broken)
            second = await source.fetch()
        finally:
            await source.aclose()
    assert second.errors == {} and second.gpus == first.gpus == tuple(general(PAGE, "gpu-01") or ())
