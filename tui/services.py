"""Wiring: from Settings and a mode to running sources, collector and store.

The simulated cluster is wired exactly like a real one: its exporter is served over
loopback HTTP and scraped by the same ExporterGpuSource, and SimSlurmSource stands
where SlurmSource would.
"""

from __future__ import annotations

import asyncio
import importlib
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from tui.actions import ActionRunner
from tui.alerts.service import AlertService
from tui.collector import SOURCE_DEADLINE_GRACE_S, Collector, CollectorOptions
from tui.config import Settings
from tui.history_writer import STORE_SOURCE, HistoryWriter
from tui.malloc_tuning import unmap_large_blocks
from tui.mode import Mode, cluster_identity, store_path_for
from tui.model import ClusterSnapshot, SourceHealth
from tui.sources.base import GpuHistory, GpuSource, WorkloadSource
from tui.store import Store, StoreError
from tui.store_identity import claim_cluster
from tui.writer_lock import WriterLock


@dataclass
class Services:
    settings: Settings
    mode: Mode
    collector: Collector
    workload: ActionRunner | None
    history: GpuHistory | None
    store: Store | None
    cluster_name: str
    alerts: AlertService | None = None
    # False for a second process on a database another one writes: it reads history only.
    writer: bool = True
    identity: str = ""
    # The collector socket a viewer reads from; empty when collecting in-process.
    via: str = ""
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    background: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    @property
    def demo(self) -> bool:
        return self.mode == Mode.DEMO

    @property
    def readonly(self) -> bool:
        return self.settings.readonly

    @property
    def snapshot(self) -> ClusterSnapshot:
        return self.collector.latest

    async def run_background(self) -> None:
        """The collector and every maintenance task, until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.collector.run(), name="collector")
            for job in self.background:
                group.create_task(job())

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            try:
                await close()
            except Exception:  # closing must go on whatever one part says
                logger.exception("error while closing {}", close)
        self.closers.clear()


def _cluster_name(settings: Settings, mode: Mode) -> str:
    if settings.cluster.name:
        return settings.cluster.name
    return "demo" if mode == Mode.DEMO else socket.gethostname().split(".")[0]


async def build_services(
    settings: Settings,
    mode: Mode,
    *,
    with_store: bool = True,
    role: str = "dashboard",
    require_writer: bool = False,
) -> Services:
    """Start what `mode` needs; the caller runs and closes it.

    With a store, the process takes the database's writer lock; when another process holds
    it, this one opens the history read-only and records nothing (no alert events, no
    webhooks), or with `require_writer` fails with one line naming the holder.
    """
    closers: list[Callable[[], Awaitable[Any]]] = []
    try:
        workload, gpu, history = await _sources(settings, mode, closers)
        cluster_name = _cluster_name(settings, mode)
        collector = Collector(
            workload=workload,
            gpu=gpu,
            options=CollectorOptions(
                cluster_name=cluster_name,
                demo=mode == Mode.DEMO,
                gpu_interval_s=settings.gpu.interval,
                gpu_timeout_s=_gpu_deadline_s(settings, mode) + SOURCE_DEADLINE_GRACE_S,
                slurm_interval_s=settings.slurm.interval,
                slurm_timeout_s=settings.slurm.timeout,
            ),
        )
        if gpu is not None:
            closers.append(gpu.aclose)
        if settings.agent.base_url:
            collector.add_probe("agent", agent_health_probe(settings))
        services = Services(
            settings=settings,
            mode=mode,
            collector=collector,
            workload=workload,
            history=history,
            store=None,
            cluster_name=cluster_name,
            closers=closers,
            identity=cluster_identity(settings, mode, cluster_name),
        )
        if with_store:
            await _attach_store(services, role=role, require_writer=require_writer)
        return services
    except BaseException:
        for close in reversed(closers):
            try:
                await close()
            except Exception:
                logger.exception("error while closing after a failed start")
        raise


async def _attach_store(services: Services, *, role: str, require_writer: bool) -> None:
    settings, collector, closers = services.settings, services.collector, services.closers
    path = store_path_for(settings, services.mode)
    lock = WriterLock.for_database(path)
    services.writer = lock.acquire(role)
    if not services.writer:
        holder = lock.holder() or "another process"
        if require_writer:
            raise StoreError(f"history database {path} is already written by {holder}")
        logger.info("history database {} is written by {}: reading it only", path, holder)
    else:
        closers.append(lock.arelease)
        unmap_large_blocks()  # the writer's rollup sorts: see tui/malloc_tuning
    store: Store | None = None
    try:
        store = await Store.open(
            path,
            readonly=not services.writer,
            raw_retention_s=settings.store.raw_retention,
            rollup_retention_s=settings.store.rollup_retention,
        )
    except StoreError:
        if services.writer:
            raise
        logger.info("history database {} is not readable yet", path)
    if store is not None:
        closers.append(store.close)
        await claim_cluster(store, services.identity)
        services.store = store
        if not services.writer:  # its own operator's actions and chats are recorded: see module
            from tui.reader_records import RecordingReader

            services.store = RecordingReader(store)  # type: ignore[assignment]
        if services.history is None:
            services.history = store
    if services.writer and store is not None:
        writer = HistoryWriter(store)
        collector.subscribe(writer.on_snapshot)
        collector.add_health_report(STORE_SOURCE, writer.report)
        services.background.append(store.run_maintenance)
    services.alerts = await build_alerting(
        settings,
        store if services.writer else None,
        services.cluster_name,
        closers,
        notify=services.writer,
    )
    collector.subscribe(services.alerts.on_snapshot)
    services.background.extend(n.run for n in services.alerts.notifiers)


async def attach_or_build(settings: Settings, mode: Mode) -> Services:
    """A viewer of the running collector when there is one, else collect in-process."""
    from tui.collect_client import find_collector

    found = await find_collector(settings, mode)
    if found is not None:
        return await build_viewer_services(settings, mode, *found)
    return await build_services(settings, mode)


async def build_viewer_services(
    settings: Settings, mode: Mode, socket_path: Path, hello: dict[str, Any]
) -> Services:
    """Snapshots from the collector; actions still run here, as the operator's own user.

    History and alert state are read from the collector's database (read-only) when this
    user may read it; acks and silences go to the collector. Events and webhooks are the
    collector's alone: a viewer that cannot read the database shows alerts from a local
    engine that records and sends nothing.
    """
    from tui.collect_client import CollectorBackedStore, RemoteCollector

    closers: list[Callable[[], Awaitable[Any]]] = []
    remote = RemoteCollector(socket_path, str(hello.get("cluster", "")), demo=mode == Mode.DEMO)
    remote.prefetch()
    closers.append(remote.aclose)
    workload: ActionRunner | None = None
    if mode != Mode.DEMO and settings.slurm.enabled:
        from tui.sources.slurm import SlurmSource
        from tui.sources.slurm_probe import slurm_environment

        workload = SlurmSource(env=slurm_environment(settings), timeout_s=settings.slurm.timeout)
    services = Services(
        settings=settings,
        mode=mode,
        collector=remote,  # type: ignore[arg-type]  # the same surface, fed by the socket
        workload=workload,
        history=None,
        store=None,
        cluster_name=remote.latest.cluster_name,
        closers=closers,
        writer=False,
        via=str(socket_path),
    )
    store_path = hello.get("store")
    if store_path:
        try:
            store = await Store.open(store_path, readonly=True)
        except StoreError as error:
            logger.info("collector history not readable here: {}", error)
        else:
            closers.append(store.close)
            services.history = store
            services.store = CollectorBackedStore(store, socket_path)  # type: ignore[assignment]
    alerts = await build_alerting(settings, None, services.cluster_name, closers, notify=False)
    if services.history is not None:
        from tui.alerts.persistence import AlertRepository
        from tui.viewer_alerts import ViewerAlertService

        alerts = ViewerAlertService(alerts.engine, AlertRepository(services.history), socket_path)
        await alerts.start()
    services.alerts = alerts
    remote.subscribe(alerts.on_snapshot)
    return services


def _gpu_deadline_s(settings: Settings, mode: Mode) -> float:
    """How long the GPU source's own cycle may take (it returns what arrived by then)."""
    if mode != Mode.DEMO and settings.gpu.source == "prometheus":
        return settings.prometheus.timeout
    return settings.gpu.timeout


def agent_health_probe(settings: Settings) -> Callable[[], Awaitable[SourceHealth]]:
    """GET /models on the assistant's endpoint, for the status bar and source alerts."""

    async def probe() -> SourceHealth:
        # openai takes ~0.8 s to import: never on the UI loop, never before it is needed.
        setup = await asyncio.to_thread(importlib.import_module, "tui.agent.setup")
        return await setup.endpoint_health(settings)

    return probe


async def build_alerting(
    settings: Settings,
    store: Store | None,
    cluster_name: str,
    closers: list[Callable[[], Awaitable[Any]]],
    *,
    notify: bool = True,
) -> AlertService:
    """Rules (built-in + file), state restored from the store, webhooks from config."""
    from tui.alerts.engine import AlertEngine
    from tui.alerts.notifiers import WebhookNotifier
    from tui.alerts.persistence import AlertRepository
    from tui.alerts.rules_file import load_rules

    rules_path = settings.rules_path
    rules, rule_set = load_rules(rules_path, builtin=settings.alerts.builtin_rules)
    if rule_set.problems:
        raise ValueError(rule_set.problems[0].format(rules_path))
    notifiers = []
    for url, kind in (
        (settings.alerts.webhook_url, "generic"),
        (settings.alerts.alertmanager_url, "alertmanager"),
    ):
        if url and notify:
            notifier = WebhookNotifier(url, kind=kind, cluster=cluster_name)
            closers.append(notifier.aclose)
            notifiers.append(notifier)
    service = AlertService(
        AlertEngine(
            rules,
            keep_firing_s=settings.alerts.keep_firing,
            gpu_hourly_price=settings.cluster.gpu_hourly_price,
        ),
        AlertRepository(store) if store is not None else None,
        notifiers,
    )
    await service.start()
    return service


async def _sources(
    settings: Settings, mode: Mode, closers: list[Callable[[], Awaitable[Any]]]
) -> tuple[WorkloadSource | None, GpuSource, GpuHistory | None]:
    from tui.sources.exporters import ExporterGpuSource

    if mode == Mode.DEMO:
        from tui.sim import SimCluster, SimExporterServer, SimSlurmSource

        sim = SimCluster(nodes=settings.demo.nodes, seed=settings.demo.seed)
        server = SimExporterServer(sim)
        base_url = await server.start()
        closers.append(server.stop)
        targets = [(name, f"{base_url}/nodes/{name}/metrics") for name in sim.node_names]
        gpu = ExporterGpuSource(
            targets, timeout_s=settings.gpu.timeout, concurrency=settings.gpu.concurrency
        )
        return SimSlurmSource(sim), gpu, None

    from tui.sources.slurm import SlurmSource
    from tui.sources.slurm_probe import slurm_environment

    workload: WorkloadSource | None = None
    if settings.slurm.enabled:
        workload = SlurmSource(env=slurm_environment(settings), timeout_s=settings.slurm.timeout)
    if settings.gpu.source == "prometheus":
        from tui.sources.prometheus import PrometheusGpuSource

        if not settings.prometheus.url:
            raise ValueError("gpu.source is prometheus but prometheus.url is not set")
        prometheus = PrometheusGpuSource(
            settings.prometheus.url,
            node_label=settings.prometheus.node_label,
            timeout_s=settings.prometheus.timeout,
        )
        prometheus.name = "prometheus"
        return workload, prometheus, prometheus
    explicit = [
        _explicit_target(entry, settings.gpu.url_template) for entry in settings.gpu.targets
    ]
    gpu = ExporterGpuSource(
        explicit or None,
        url_template=settings.gpu.url_template,
        timeout_s=settings.gpu.timeout,
        concurrency=settings.gpu.concurrency,
    )
    return workload, gpu, None


def _explicit_target(entry: str, template: str) -> tuple[str, str]:
    """A configured target: a URL (its GPUs' node from the exporter's Hostname label, else
    the URL's host) or a node name."""
    if "://" in entry:
        return "", entry
    return entry, template.format(node=entry)
