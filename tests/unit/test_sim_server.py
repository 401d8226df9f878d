"""The simulator's dcgm-exporter endpoints over real loopback HTTP, read with httpx."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tui.model import JobState
from tui.sim import IncidentKind, SimCluster, SimExporterServer, SimSlurmSource, serve_forever

START = 1_700_000_000.0
DCGM_NAMES = {
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_SM_CLOCK",
    "DCGM_FI_DEV_MEM_CLOCK",
    "DCGM_FI_DEV_XID_ERRORS",
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE",
}
LABELS = {"gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION"}


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> SimCluster:
    return SimCluster(nodes=16, seed=0, start=START, clock=clock)


@pytest.fixture
async def server(sim: SimCluster) -> AsyncIterator[SimExporterServer]:
    exporter = SimExporterServer(sim)
    await exporter.start()
    yield exporter
    await exporter.stop()


@pytest.fixture
async def client(server: SimExporterServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
        yield http


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(family, labels, value) per sample; the family name is the name dcgm-exporter wrote
    (prometheus_client adds "_total" to counter samples)."""
    return [
        (family.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


async def test_it_listens_on_loopback_only(server: SimExporterServer) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.port > 0


async def test_node_endpoint_serves_dcgm_exporter_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/nodes/gpu-01/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %)." in text
    assert "# TYPE DCGM_FI_DEV_GPU_UTIL gauge" in text
    parsed = samples(text)
    assert {name for name, _, _ in parsed} >= DCGM_NAMES
    utilization = [s for s in parsed if s[0] == "DCGM_FI_DEV_GPU_UTIL"]
    assert sorted(int(labels["gpu"]) for _, labels, _ in utilization) == list(range(8))
    for _, labels, value in utilization:
        assert set(labels) >= LABELS
        assert labels["Hostname"] == "gpu-01"
        assert labels["modelName"] == "NVIDIA A100-SXM4-80GB"
        assert labels["UUID"].startswith("GPU-")
        assert labels["device"] == f"nvidia{labels['gpu']}"
        assert 0 <= value <= 100
    used = {s[1]["gpu"]: s[2] for s in parsed if s[0] == "DCGM_FI_DEV_FB_USED"}
    free = {s[1]["gpu"]: s[2] for s in parsed if s[0] == "DCGM_FI_DEV_FB_FREE"}
    assert {gpu: used[gpu] + free[gpu] for gpu in used} == dict.fromkeys(used, 81920.0)


async def test_host_header_and_query_address_one_node(client: httpx.AsyncClient) -> None:
    by_path = (await client.get("/nodes/gpu-05/metrics")).text
    by_host = await client.get("/metrics", headers={"Host": "gpu-05:9400"})
    by_query = await client.get("/metrics", params={"node": "gpu-05"})
    assert by_host.text == by_path
    assert by_query.text == by_path
    assert {s[1]["Hostname"] for s in samples(by_path)} == {"gpu-05"}


async def test_unknown_node_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/nodes/gpu-77/metrics")).status_code == 404
    assert (await client.get("/metrics", params={"node": "nope"})).status_code == 404
    assert (await client.get("/elsewhere")).status_code == 404
    assert (await client.post("/metrics")).status_code == 405


async def test_plain_metrics_serves_every_node_once_per_family(
    client: httpx.AsyncClient, sim: SimCluster
) -> None:
    text = (await client.get("/metrics")).text
    assert text.count("# TYPE DCGM_FI_DEV_GPU_TEMP gauge") == 1
    temps = [s for s in samples(text) if s[0] == "DCGM_FI_DEV_GPU_TEMP"]
    assert len(temps) == 16 * 8
    assert {labels["Hostname"] for _, labels, _ in temps} == set(sim.node_names)


async def test_not_responding_node_fails_while_others_answer(
    client: httpx.AsyncClient, sim: SimCluster, clock: FakeClock
) -> None:
    silent = next(i for i in sim.incidents if i.kind is IncidentKind.NOT_RESPONDING)
    assert silent.end_s is not None
    other = next(name for name in sim.node_names if name != silent.node)
    assert (await client.get(f"/nodes/{silent.node}/metrics")).status_code == 200
    clock.now = START + silent.start_s
    assert (await client.get(f"/nodes/{silent.node}/metrics")).status_code == 503
    assert (await client.get(f"/nodes/{other}/metrics")).status_code == 200
    everyone = (await client.get("/metrics")).text
    assert f'Hostname="{silent.node}"' not in everyone
    clock.now = START + silent.end_s
    assert (await client.get(f"/nodes/{silent.node}/metrics")).status_code == 200


async def test_incident_readings_reach_the_wire(
    client: httpx.AsyncClient, sim: SimCluster, clock: FakeClock
) -> None:
    xid = next(i for i in sim.incidents if i.kind is IncidentKind.XID)
    hot = next(i for i in sim.incidents if i.kind is IncidentKind.OVERHEAT)
    clock.now = START + max(xid.start_s, hot.critical_start_s)
    xid_values = {
        s[1]["gpu"]: s[2]
        for s in samples((await client.get(f"/nodes/{xid.node}/metrics")).text)
        if s[0] == "DCGM_FI_DEV_XID_ERRORS"
    }
    assert xid_values[str(xid.gpu)] == 79
    assert sum(xid_values.values()) == 79
    hot_temps = {
        s[1]["gpu"]: s[2]
        for s in samples((await client.get(f"/nodes/{hot.node}/metrics")).text)
        if s[0] == "DCGM_FI_DEV_GPU_TEMP"
    }
    assert hot_temps[str(hot.gpu)] >= 90
    assert max(v for gpu, v in hot_temps.items() if gpu != str(hot.gpu)) < 83


async def test_hpc_job_labels_match_slurms_gpu_indices(
    client: httpx.AsyncClient, sim: SimCluster, clock: FakeClock
) -> None:
    source = SimSlurmSource(sim)
    for _ in range(3):
        clock.now += 1800
        state = await source.fetch()
        expected = {
            (node, index): job.job_id
            for job in state.jobs
            if job.state is JobState.RUNNING
            for node, indices in job.gpu_indices.items()
            for index in indices
        }
        text = (await client.get("/metrics")).text
        seen = {
            (labels["Hostname"], int(labels["gpu"])): labels["hpc_job"]
            for name, labels, _ in samples(text)
            if name == "DCGM_FI_DEV_GPU_UTIL" and "hpc_job" in labels
        }
        assert seen == expected
        assert len(seen) > 10
        busy = [
            value
            for name, labels, value in samples(text)
            if name == "DCGM_FI_DEV_GPU_UTIL" and "hpc_job" not in labels
        ]
        assert set(busy) == {0.0}


async def test_keep_alive_and_head_over_one_connection(server: SimExporterServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for method in ("GET", "HEAD", "GET"):
            writer.write(f"{method} /nodes/gpu-02/metrics HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            assert length > 1000
            if method == "GET":
                body = await reader.readexactly(length)
                assert body.startswith(b"# HELP DCGM_FI_DEV_SM_CLOCK")
        writer.write(b"garbage\r\n\r\n")
        await writer.drain()
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 400")
    finally:
        writer.close()


async def test_serve_forever_runs_until_stopped() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve_forever(nodes=4, seed=1, host="127.0.0.1", port=port, stop=stop)
    )
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(100):
            try:
                response = await http.get(f"http://127.0.0.1:{port}/metrics")
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.02)
        else:
            pytest.fail("the simulator never started serving")
    assert response.status_code == 200
    assert 'Hostname="gpu-04"' in response.text
    stop.set()
    await asyncio.wait_for(task, 5)


async def scrape_all(port: int, names: tuple[str, ...], connections: int) -> list[int]:
    """GET every node's metrics over a few keep-alive connections; body sizes in order."""
    queue = list(enumerate(names))
    sizes = [0] * len(names)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                position, name = queue.pop()
                writer.write(f"GET /nodes/{name}/metrics HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200 ")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                sizes[position] = len(await reader.readexactly(length))
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return sizes


async def test_1024_nodes_are_served_quickly() -> None:
    """The server's share of a 1024-node scrape cycle: render once, then serve from cache."""
    sim = SimCluster(nodes=1024, seed=0)
    server = SimExporterServer(sim)
    await server.start()
    try:
        await scrape_all(server.port, sim.node_names, 16)  # builds label templates
        sim.version += 1  # as after a tick: every payload is rendered again
        started = time.perf_counter()
        sizes = await scrape_all(server.port, sim.node_names, 16)
        elapsed = time.perf_counter() - started
    finally:
        await server.stop()
    print(f"1024 node scrapes, rendered fresh, raw keep-alive client: {elapsed:.2f} s")
    assert all(size > 10_000 for size in sizes)
    assert elapsed < 3


async def test_the_real_exporter_source_reads_the_simulator(
    server: SimExporterServer, sim: SimCluster, clock: FakeClock
) -> None:
    """Demo mode runs the production scraper against this server: it must understand it."""
    from tui.sources.exporters import ExporterGpuSource

    silent = next(i for i in sim.incidents if i.kind is IncidentKind.NOT_RESPONDING)
    xid = next(i for i in sim.incidents if i.kind is IncidentKind.XID)
    clock.now = START + silent.start_s
    source = ExporterGpuSource([(name, server.node_url(name)) for name in sim.node_names])
    try:
        reading = await source.fetch()
    finally:
        await source.aclose()
    assert set(reading.errors) == {silent.node}
    assert len(reading.gpus) == 15 * 8
    by_key = {gpu.key: gpu for gpu in reading.gpus}
    assert by_key[(xid.node, xid.gpu)].last_xid == 79
    assert {gpu.memory_total_mib for gpu in reading.gpus} == {81920}
    running = [j for j in SimSlurmSource(sim).state().jobs if j.state is JobState.RUNNING]
    for job in running:
        for node, indices in job.gpu_indices.items():
            for index in indices:
                if node != silent.node:
                    assert by_key[(node, index)].job_id == job.job_id


async def test_each_node_answers_on_its_own_loopback_address() -> None:
    from tui.sim.dcgm import METRICS

    sim = SimCluster(nodes=3, seed=0)
    server = SimExporterServer(sim, per_node_addresses=True)
    await server.start()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            for name in sim.node_names:
                url = server.node_url(name)
                assert f"//{name}" not in url  # addressed by IP, like a node's own exporter
                response = await client.get(url)
                assert response.status_code == 200
                families = {f.name for f in text_string_to_metric_families(response.text)}
                hosts = {
                    s.labels["Hostname"]
                    for f in text_string_to_metric_families(response.text)
                    for s in f.samples
                }
                assert hosts == {name}
                # every default-counter family, as a real dcgm-exporter page carries
                assert len(families) == len(METRICS)
    finally:
        await server.stop()
