"""Wiring: the demo cluster behind real protocols; rules loaded from the default place."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tui.config import Settings, config_dir
from tui.services import build_services


def demo_settings(tmp_path: Path) -> Settings:
    base = Settings()
    return replace(
        base,
        store=replace(base.store, path=str(tmp_path / "h.sqlite3")),
        demo=replace(base.demo, nodes=4),
    )


async def test_demo_services_collect_store_and_alert(tmp_path: Path) -> None:
    services = await build_services(demo_settings(tmp_path), "demo")
    try:
        snapshot = await services.collector.collect_once()
        assert snapshot.demo and len(snapshot.gpus) == 32
        assert services.history is services.store
        assert services.alerts is not None
        series = await services.history.gpu_history(  # type: ignore[union-attr]
            "gpu-01", "utilization_pct", snapshot.taken_at - 60, snapshot.taken_at + 1, 10
        )
        assert sorted(series) == list(range(8)), "the cycle was written to the store"
    finally:
        await services.aclose()


async def test_rules_saved_by_the_dashboard_are_loaded_at_start(tmp_path: Path) -> None:
    rules = config_dir() / "rules.toml"
    rules.parent.mkdir(parents=True)
    rules.write_text(
        '[builtin]\nnode_drained = false\n\n[[rule]]\nname = "warm"\n'
        'watch = "gpu_temperature"\nthreshold = 20\n'
    )
    services = await build_services(demo_settings(tmp_path), "demo")
    try:
        engine = services.alerts.engine  # type: ignore[union-attr]
        by_name = {rule.name: rule for rule in engine.rules}
        assert by_name["warm"].threshold == 20
        assert by_name["node_drained"].enabled is False
    finally:
        await services.aclose()


async def test_an_invalid_rules_file_stops_start_up_with_its_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "x"\nwatch = "nope"\n')
    settings = demo_settings(tmp_path)
    settings = replace(settings, alerts=replace(settings.alerts, rules_file=str(rules)))
    with pytest.raises(ValueError, match=r"rules\.toml:1: rule 'x': watch must be one of"):
        await build_services(settings, "demo")


async def test_agent_endpoint_health_shows_as_a_source(tmp_path: Path) -> None:
    from tests.agent_server import MODEL, ScriptedServer

    settings = demo_settings(tmp_path)
    with ScriptedServer([]) as server:
        online = replace(
            settings, agent=replace(settings.agent, base_url=server.base_url, model=MODEL)
        )
        services = await build_services(online, "demo", with_store=False)
        try:
            health = (await services.collector.collect_once()).health["agent"]
        finally:
            await services.aclose()
    assert health.ok and MODEL in health.detail
    offline = replace(settings, agent=replace(settings.agent, base_url="http://127.0.0.1:9/v1"))
    services = await build_services(offline, "demo", with_store=False)
    try:
        health = (await services.collector.collect_once()).health["agent"]
    finally:
        await services.aclose()
    assert not health.ok and health.last_error


async def test_prometheus_timeout_is_not_capped_by_the_exporter_timeout(tmp_path: Path) -> None:
    from tests.unit.exposition_server import Reply, serve
    from tests.unit.test_prometheus_source import instant
    from tui.config import Duration

    def slow(request: str) -> Reply:
        return replace(instant(request), delay_s=1.5)

    with serve({"/api/v1/query": slow}) as server:
        base = demo_settings(tmp_path)
        settings = replace(
            base,
            gpu=replace(base.gpu, source="prometheus", timeout=Duration(1.0)),
            prometheus=replace(base.prometheus, url=server.url(""), timeout=Duration(5.0)),
        )
        services = await build_services(settings, "slurm", with_store=False)
        try:
            snapshot = await services.collector.collect_once()
        finally:
            await services.aclose()
    assert snapshot.health["prometheus"].ok, snapshot.health["prometheus"].last_error
    assert {g.key for g in snapshot.gpus} == {("gpu-01", 0), ("gpu-02", 1), ("gpu-03", 0)}
