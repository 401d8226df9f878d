"""Every alert rule with its switch; the form that creates and edits custom rules.

Changes go to the rules file (alerts.rules_file, else <config dir>/rules.toml) and to
the running engine at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static

from tui.alerts.rules import Comparator, Rule, Severity, Watch
from tui.alerts.rules_file import RuleSet
from tui.app.dash import DashAccess
from tui.app.rule_form import FIELDS, FieldError, fields_for, form_to_rule, rule_to_form
from tui.app.rules_editor import (
    RulesFileError,
    effective_rules,
    read_rule_set,
    rules_location,
    with_rule,
    with_toggled,
    write_rule_set,
)
from tui.app.screens.form_dialog import FormDialog
from tui.app.widgets.alert_feed import SEVERITY_STYLES
from tui.app.widgets.key_footer import KeyFooter
from tui.durations import format_duration

SaveRule = Callable[[Rule, str | None], None]

FIELD_LABELS: dict[str, str] = {
    "name": "Name",
    "watch": "Watches",
    "comparator": "Comparator",
    "threshold": "Threshold",
    "for": "For",
    "severity": "Severity",
    "nodes": "Nodes",
    "partition": "Partition",
    "gpu_model": "GPU model",
    "states": "States",
    "xids": "XIDs",
    "description": "Description",
    "enabled": "Enabled",
}
PLACEHOLDERS: dict[str, str] = {
    "name": "hot_h100 (letters, digits, _ . : -)",
    "threshold": "85",
    "for": "how long it must hold: 0s, 90s, 5m, 1h",
    "nodes": "glob gpu-* or ~regex gpu-0[1-4]; empty: every node",
    "partition": "empty: every partition",
    "gpu_model": "substring, e.g. H100; empty: every model",
    "states": "down, drained, not responding",
    "xids": "48, 79 (empty: any XID)",
    "description": "what to do: runbook link or first steps",
}
CHOICES: dict[str, tuple[tuple[str, str], ...]] = {
    "watch": tuple((w.value, w.value) for w in Watch),
    "comparator": tuple((f"{c.symbol}  ({c.value})", c.value) for c in Comparator),
    "severity": tuple((s.value, s.value) for s in Severity),
}
NEW_RULE = Rule(name="", watch=Watch.GPU_TEMPERATURE, comparator=Comparator.GTE, threshold=85)


def scope_text(rule: Rule) -> str:
    scope = rule.scope
    parts = [
        f"nodes {scope.nodes}" if scope.nodes else "",
        f"partition {scope.partition}" if scope.partition else "",
        f"model {scope.gpu_model}" if scope.gpu_model else "",
    ]
    return ", ".join(p for p in parts if p) or "all"


class RuleFormScreen(FormDialog[Rule]):
    """Create or edit a custom rule; nothing is saved while a field is wrong."""

    SUBMIT_BUTTON = "save"

    DEFAULT_CSS = """
    RuleFormScreen { align: center middle; }
    RuleFormScreen > Vertical {
        width: 95%; max-width: 110; height: 95%;
        border: thick $accent; background: $panel; padding: 0 1;
    }
    RuleFormScreen .form-row { height: auto; }
    RuleFormScreen .form-row Label { width: 14; padding: 1 1 0 0; }
    RuleFormScreen .form-row Input, RuleFormScreen .form-row Select { width: 1fr; }
    RuleFormScreen .form-error { color: $error; padding-left: 14; height: auto; display: none; }
    RuleFormScreen .form-error.-shown { display: block; }
    RuleFormScreen .-hidden { display: none; }
    RuleFormScreen #form-problem { color: $error; height: auto; }
    RuleFormScreen #form-buttons { height: auto; align-horizontal: right; }
    RuleFormScreen Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save", tooltip="the rule, to the rules file"),
    ]

    def __init__(self, rule: Rule | None, save: SaveRule) -> None:
        super().__init__()
        self.original = rule
        self.save_rule = save
        self.initial = rule_to_form(rule or NEW_RULE)

    def compose(self) -> ComposeResult:
        title = f"Edit rule {self.original.name}" if self.original else "New alert rule"
        with Vertical():
            yield Label(Text(f"{title}  (ctrl+s saves, esc cancels)", style="bold"))
            with VerticalScroll():
                for field in FIELDS:
                    with Horizontal(classes="form-row", id=f"row-{field}"):
                        yield Label(FIELD_LABELS[field])
                        yield self._widget(field)
                    yield Static("", classes="form-error", id=f"error-{field}", markup=False)
            yield Static("", id="form-problem", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def _widget(self, field: str) -> Input | Select[str] | Checkbox:
        value = self.initial[field]
        widget_id = f"field-{field}"
        if field == "enabled":
            return Checkbox("evaluate this rule", bool(value), id=widget_id)
        if field in CHOICES:
            return Select(CHOICES[field], value=str(value), allow_blank=False, id=widget_id)
        return Input(str(value), placeholder=PLACEHOLDERS.get(field, ""), id=widget_id)

    def on_mount(self) -> None:
        self._show_fields()
        self.query_one("#field-name", Input).focus()

    def values(self) -> dict[str, str | bool]:
        values: dict[str, str | bool] = {}
        for field in FIELDS:
            widget = self.query_one(f"#field-{field}")
            if isinstance(widget, Checkbox):
                values[field] = widget.value
            elif isinstance(widget, Select):
                values[field] = str(widget.value)
            else:
                values[field] = self.query_one(f"#field-{field}", Input).value
        return values

    def _show_fields(self) -> None:
        try:
            watch = Watch(self.query_one("#field-watch", Select).value)
        except ValueError:
            return
        shown = fields_for(watch)
        for field in FIELDS:
            self.query_one(f"#row-{field}").set_class(field not in shown, "-hidden")

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "field-watch":
            self._show_fields()

    def show_error(self, error: FieldError | None) -> None:
        for field in FIELDS:
            label = self.query_one(f"#error-{field}", Static)
            message = error.message if error is not None and error.field == field else ""
            label.update(message)
            label.set_class(bool(message), "-shown")
        if error is not None:
            self.query_one(f"#field-{error.field}").focus()

    def submit(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        problem = self.query_one("#form-problem", Static)
        try:
            rule = form_to_rule(self.values())
            self.save_rule(rule, self.original.name if self.original else None)
        except FieldError as error:
            self.show_error(error)
            return
        except RulesFileError as error:
            self.show_error(None)
            problem.update(str(error))
            return
        self.dismiss(rule)


class AlertRulesScreen(DashAccess, Screen[None]):
    """Built-in and custom rules; space switches one on/off, n adds, e or enter edits."""

    DEFAULT_CSS = """
    AlertRulesScreen #rules-title { height: 1; background: $boost; }
    AlertRulesScreen #rules-problem { color: $error; height: auto; display: none; }
    AlertRulesScreen #rules-problem.-shown { display: block; }
    AlertRulesScreen DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("space", "toggle", "On/off", tooltip="built-ins too; saved to the rules file"),
        Binding("n", "new", "New rule", tooltip="a custom rule, in a form"),
        Binding("e", "edit", "Edit"),
        Binding("escape", "close", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rules: list[Rule] = []
        self.problem = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="rules-title", markup=False)
        yield Static("", id="rules-problem", markup=False)
        yield DataTable(id="rules", cursor_type="row")
        yield KeyFooter(show_command_palette=False)  # ":" and ctrl+p are in the help

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label in ("ON", "RULE", "KIND", "SEV", "CONDITION", "FOR", "SCOPE", "DESCRIPTION"):
            table.add_column(label, key=label.lower())
        self.reload()
        table.focus()

    # ------------------------------------------------------------------ data

    def reload(self) -> None:
        """Rules as the file says (what the engine runs if the file cannot be read)."""
        location = rules_location(self.dash.settings)
        try:
            rule_set = read_rule_set(location.path)
            self.problem = ""
            self.rules = effective_rules(rule_set, builtin=self.dash.settings.alerts.builtin_rules)
        except RulesFileError as error:
            self.problem = str(error)
            service = self.dash.alert_service
            self.rules = list(service.engine.rules) if service is not None else []
        self._show(location.path)

    def _show(self, path: object) -> None:
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for rule in self.rules:
            table.add_row(
                Text("on", style="green") if rule.enabled else Text("off", style="dim"),
                rule.name,
                "built-in" if rule.builtin else "custom",
                Text(rule.severity.value, style=SEVERITY_STYLES.get(rule.severity.value, "")),
                rule.condition_text(),
                format_duration(rule.for_s) if rule.for_s else "-",
                scope_text(rule),
                rule.description,
                key=rule.name,
            )
        if self.rules:
            table.move_cursor(row=min(max(cursor, 0), len(self.rules) - 1), animate=False)
        on = sum(r.enabled for r in self.rules)
        self.query_one("#rules-title", Static).update(
            f" {len(self.rules)} rules, {on} on  ·  file {path}"
            + ("  ·  read-only" if self.dash.readonly else "")
        )
        problem = self.query_one("#rules-problem", Static)
        problem.update(self.problem)
        problem.set_class(bool(self.problem), "-shown")

    def current(self) -> Rule | None:
        row = self.query_one(DataTable).cursor_row
        return self.rules[row] if 0 <= row < len(self.rules) else None

    def apply(
        self, change: Callable[[RuleSet], RuleSet], done: str, restart: str | None = None
    ) -> None:
        """Re-read the file, change it, write it, run the result. Raises on refusal.

        `restart`: a rule whose definition changed; its alerts start over under the new one.
        """
        settings = self.dash.settings
        location = rules_location(settings)
        changed = change(read_rule_set(location.path))
        write_rule_set(location.path, changed)
        service = self.dash.alert_service
        if service is not None:
            rules = effective_rules(changed, builtin=settings.alerts.builtin_rules)
            if restart is not None:
                service.engine.set_rules([r for r in rules if r.name != restart])
            service.engine.set_rules(rules)
            send = getattr(service, "send_rules", None)
            if send is not None:  # attached: the collector's engine is the one that alerts
                text = location.path.read_text(encoding="utf-8")
                self.run_worker(self._send_rules(send, text, restart), group="rules")
        self.notify(f"{done}; saved to {location.path}")
        if not location.configured:
            self.notify(
                f"alerts.rules_file is not set: add rules_file = {str(location.path)!r} under "
                "[alerts] in config.toml so these rules load at the next start",
                severity="warning",
                timeout=15,
            )
        self.reload()

    async def _send_rules(
        self, send: Callable[[str, str | None], Awaitable[None]], text: str, restart: str | None
    ) -> None:
        try:
            await send(text, restart)
        except Exception as error:  # the collector said no or is gone: say so, keep running
            self.notify(
                f"the collector did not take the new rules: {error}", severity="error", timeout=15
            )

    # ------------------------------------------------------------------ actions

    def action_toggle(self) -> None:
        rule = self.current()
        if rule is None or not self.dash.alerts_ui.allowed("rule editing"):
            return
        state = "off" if rule.enabled else "on"
        try:
            self.apply(
                lambda rules: with_toggled(rules, rule.name), f"{rule.name} switched {state}"
            )
        except (RulesFileError, KeyError) as error:
            message = str(error) if isinstance(error, RulesFileError) else "rule is gone"
            self.notify(f"not changed: {message}", severity="error", timeout=10)
            self.reload()

    def action_new(self) -> None:
        if self.dash.alerts_ui.allowed("rule editing"):
            self.app.push_screen(RuleFormScreen(None, self.save_rule))

    def action_edit(self) -> None:
        rule = self.current()
        if rule is None or not self.dash.alerts_ui.allowed("rule editing"):
            return
        if rule.builtin:
            self.notify(
                "built-in rules can be switched on/off (space), not edited: n makes a custom one",
                severity="warning",
            )
            return
        self.app.push_screen(RuleFormScreen(rule, self.save_rule))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_edit()

    def save_rule(self, rule: Rule, replacing: str | None) -> None:
        """The form's save: raises FieldError or RulesFileError and changes nothing then."""
        verb = "saved" if replacing else "created"
        self.apply(
            lambda rules: with_rule(rules, rule, replacing), f"rule {rule.name} {verb}", replacing
        )

    def action_close(self) -> None:
        self.dismiss(None)
