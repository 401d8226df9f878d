"""The rules screen and form against the simulated cluster: switch, validate, create, refuse."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Select

from tests.ui.alerts_sim import DRAINED, SIZE, next_snapshot, services, sim_app, toasts
from tests.ui.conftest import static_text
from tui.app.screens.alert_rules import AlertRulesScreen, RuleFormScreen
from tui.config import config_dir

pytestmark = pytest.mark.timeout(60)


async def open_rules(app: Any, pilot: Any) -> AlertRulesScreen:
    app.alerts_ui.open_rules()
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, AlertRulesScreen)
    return screen


def highlight(screen: AlertRulesScreen, name: str) -> None:
    screen.query_one("#rules").move_cursor(row=[r.name for r in screen.rules].index(name))


async def fill_form(app: Any, pilot: Any, **values: str) -> RuleFormScreen:
    await pilot.press("n")
    await pilot.pause()
    form = app.screen
    assert isinstance(form, RuleFormScreen)
    for field, value in values.items():
        widget = form.query_one(f"#field-{field}")
        if isinstance(widget, Select):
            widget.value = value
        else:
            assert isinstance(widget, Input)
            widget.value = value
    await pilot.pause()
    await pilot.press("ctrl+s")
    await pilot.pause()
    return form


async def test_switching_off_a_builtin_writes_the_file_and_clears_its_alert(
    tmp_path: Path,
) -> None:
    rules_file = tmp_path / "rules.toml"
    app = sim_app(tmp_path, rules_file=rules_file)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.alerts_ui.find(DRAINED) is not None
        screen = await open_rules(app, pilot)
        names = [r.name for r in screen.rules]
        assert "node_drained" in names and "gpu_temperature_high" in names
        highlight(screen, "node_drained")
        await pilot.press("space")
        await pilot.pause()
        assert tomllib.loads(rules_file.read_text())["builtin"] == {"node_drained": False}
        assert app.alerts_ui.find(DRAINED) is None
        assert not next(r for r in screen.rules if r.name == "node_drained").enabled
        await pilot.press("escape")
        await pilot.pause()
        feed = app.screen.query_one("#alerts")
        assert "node_drained|gpu-03" not in [row.key for row in feed.alerts]
        await next_snapshot(app, pilot)
        assert app.alerts_ui.find(DRAINED) is None
        # And back on: it fires again on the next snapshot.
        screen = await open_rules(app, pilot)
        highlight(screen, "node_drained")
        await pilot.press("space")
        await next_snapshot(app, pilot)
        assert "builtin" not in tomllib.loads(rules_file.read_text())
        assert app.alerts_ui.find(DRAINED) is not None


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"threshold": "hot"}, "threshold", "must be a number"),
        ({"nodes": "~gpu-[0-"}, "nodes", "invalid regex"),
        ({"for": "5 minutes"}, "for", "not a duration"),
        ({"watch": "gpu_utilization", "threshold": "150"}, "threshold", "between 0 and 100"),
        ({"name": "gpu_xid"}, "name", "already exists"),
    ],
)
async def test_form_shows_the_fields_error_and_writes_nothing(
    tmp_path: Path, values: dict[str, str], field: str, message: str
) -> None:
    rules_file = tmp_path / "rules.toml"
    app = sim_app(tmp_path, rules_file=rules_file)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await open_rules(app, pilot)
        form = await fill_form(app, pilot, **({"name": "my_rule"} | values))
        assert app.screen is form
        error = form.query_one(f"#error-{field}")
        assert message in static_text(error) and error.display
        shown = [e for e in form.query(".form-error") if e.has_class("-shown")]
        assert shown == [error]
        assert not rules_file.exists()
        assert "my_rule" not in [r.name for r in services(app).alerts.engine.rules]


async def test_new_rule_is_saved_and_fires_on_the_next_snapshot(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.toml"
    app = sim_app(tmp_path, rules_file=rules_file)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = await open_rules(app, pilot)
        await fill_form(
            app,
            pilot,
            name="gpu01_warm",
            watch="gpu_temperature",
            comparator="gte",
            threshold="0",
            severity="critical",
            nodes="gpu-01",
            description="runbook: check the fans",
        )
        assert app.screen is screen
        (table,) = tomllib.loads(rules_file.read_text())["rule"]
        assert table["name"] == "gpu01_warm" and table["nodes"] == "gpu-01"
        assert "gpu01_warm" in [r.name for r in screen.rules]
        await pilot.press("escape")
        await next_snapshot(app, pilot)
        fired = [a for a in services(app).alerts.active() if a.rule == "gpu01_warm"]
        assert {a.target for a in fired} == {f"gpu-01/gpu{i}" for i in range(8)}
        assert any(t[0] == "CRITICAL gpu01_warm firing" and t[2] == "error" for t in toasts(app))
        feed = app.screen.query_one("#alerts")
        assert "gpu01_warm|gpu-01/gpu0" in [row.key for row in feed.alerts]

        # Edit it: a node_state rule now, scoped by regex.
        screen = await open_rules(app, pilot)
        highlight(screen, "gpu01_warm")
        await pilot.press("e")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, RuleFormScreen)
        assert form.query_one("#field-threshold", Input).value == "0"
        form.query_one("#field-watch", Select).value = "node_state"
        await pilot.pause()
        assert form.query_one("#row-states").display
        assert not form.query_one("#row-threshold").display
        form.query_one("#field-states", Input).value = "drained"
        form.query_one("#field-nodes", Input).value = "~gpu-0[1-3]"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen
        (table,) = tomllib.loads(rules_file.read_text())["rule"]
        assert table["watch"] == "node_state" and table["states"] == ["drained"]
        await pilot.press("escape")
        await next_snapshot(app, pilot)
        fired = {a.target for a in services(app).alerts.active() if a.rule == "gpu01_warm"}
        assert fired == {"gpu-03"}


async def test_a_file_that_does_not_parse_is_never_overwritten(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.toml"
    app = sim_app(tmp_path, rules_file=rules_file)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        broken = "[[rule]]\nname = 'x'\nwatch = 'gpu_temperature'\nthreshold = \n"
        rules_file.write_text(broken)
        screen = await open_rules(app, pilot)
        assert "not valid TOML" in static_text(screen.query_one("#rules-problem"))
        assert "node_drained" in [r.name for r in screen.rules]  # what the engine runs
        highlight(screen, "node_drained")
        await pilot.press("space")
        await pilot.pause()
        assert rules_file.read_text() == broken
        assert app.alerts_ui.find(DRAINED) is not None
        assert any(m.startswith("not changed:") for _, m, _ in toasts(app))
        form = await fill_form(app, pilot, name="new_one")
        assert app.screen is form
        assert "nothing was changed" in static_text(form.query_one("#form-problem"), 400)
        assert rules_file.read_text() == broken


async def test_without_a_rules_file_setting_the_default_path_is_used_and_named(
    tmp_path: Path,
) -> None:
    app = sim_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = await open_rules(app, pilot)
        highlight(screen, "gpu_allocated_idle")
        await pilot.press("space")
        await pilot.pause()
        default = config_dir() / "rules.toml"
        assert tomllib.loads(default.read_text())["builtin"] == {"gpu_allocated_idle": False}
        assert any("alerts.rules_file is not set" in m for _, m, _ in toasts(app))


async def test_readonly_shows_rules_but_changes_nothing(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.toml"
    app = sim_app(tmp_path, rules_file=rules_file, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = await open_rules(app, pilot)
        assert "read-only" in static_text(screen.query_one("#rules-title"))
        highlight(screen, "node_drained")
        await pilot.press("space", "n", "e")
        await pilot.pause()
        assert app.screen is screen
        screen.action_toggle()
        screen.action_new()
        await pilot.pause()
        assert app.screen is screen
        assert not rules_file.exists()
        assert app.alerts_ui.find(DRAINED) is not None
        assert "read-only mode: alert rule editing is disabled" in [m for _, m, _ in toasts(app)]
