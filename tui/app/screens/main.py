"""The main screen: status, summary, nodes, GPUs, alerts, chat. Narrow terminals stack."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Input, Static

from tui.app.dash import DashAccess
from tui.app.errors import ContainedErrors
from tui.app.filtering import FilterError, RowFilter, parse_filter
from tui.app.messages import NodeOpenRequested
from tui.app.screens.users import UsersScreen
from tui.app.widgets.alert_feed import AlertFeed, AlertRow, health_alerts
from tui.app.widgets.chat_pane import ChatPane
from tui.app.widgets.gpu_list import GpuList
from tui.app.widgets.key_footer import KeyFooter
from tui.app.widgets.nodes_table import NodesTable
from tui.app.widgets.status_bar import StatusBar, error_lines, status_text
from tui.app.widgets.summary import SummaryLine
from tui.app.widgets.typeahead import is_filter_key, route_typeahead, show_filter
from tui.model import ClusterSnapshot, Job, Node
from tui.summary import ClusterSummary, GpuFigures, SlurmFigures

SIDE_PANES: tuple[str, ...] = ("gpus", "alerts", "chat")
NARROW_WIDTH = 120
FOCUS_PANE = "focus that pane (on narrow screens: show it)"


class NodesPane(ContainedErrors, NodesTable):
    """The nodes table with its cluster actions."""

    BINDINGS = [
        Binding("enter", "open_detail", "Detail", tooltip="charts, jobs, Slurm record"),
        Binding(
            "d",
            "app.on_selection('drain')",
            "Drain",
            tooltip="the selected nodes, else the highlighted one (asks for a reason)",
        ),
        Binding(
            "r",
            "app.on_selection('resume')",
            "Resume",
            tooltip="the selected nodes, else the highlighted one",
        ),
        Binding(
            "slash",
            "screen.filter",
            "Filter",
            tooltip="text, regex (gpu-0[1-4]), !text to invert; esc clears",
        ),
        Binding(
            "escape", "screen.clear", "Clear", show=False, tooltip="the filter, then the selection"
        ),
    ]

    def on_key(self, event: events.Key) -> None:
        box = self.screen.query_one("#node-filter", Input)
        if not route_typeahead(box, event) and is_filter_key(event):
            show_filter(box, self.row_filter.text)

    def action_open_detail(self) -> None:
        node = self.current_node()
        if node:
            self.post_message(NodeOpenRequested(node))


class MainScreen(DashAccess, ContainedErrors, Screen[None]):
    AUTO_FOCUS = "#nodes"
    BINDINGS = [
        Binding("1", "focus_pane('nodes')", "Nodes", show=False, tooltip=FOCUS_PANE),
        Binding("2", "focus_pane('gpus')", "GPUs", show=False, tooltip=FOCUS_PANE),
        Binding("3", "focus_pane('alerts')", "Alerts", show=False, tooltip=FOCUS_PANE),
        Binding("4", "focus_pane('chat')", "Chat", show=False, tooltip=FOCUS_PANE),
        Binding(
            "m",
            "cycle_metric",
            "Metric",
            tooltip="the GPU sparklines show utilization, memory, temperature, power in turn",
        ),
        Binding("b", "toggle_side", "Side panes", show=False, tooltip="show / hide"),
        Binding("j", "app.jobs", "Jobs", tooltip="the job list"),
        Binding("u", "users", "Users", tooltip="GPUs, cost and waste per user and account"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.alerts: list[AlertRow] = []
        self._slurm_kept: tuple[tuple[Node, ...], tuple[Job, ...], SlurmFigures] | None = None

    @property
    def nodes(self) -> NodesPane:
        return self.query_one(NodesPane)

    @property
    def chat(self) -> ChatPane:
        return self.query_one(ChatPane)

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Static("", id="banner", markup=False)
        yield SummaryLine(id="summary")
        with Horizontal(id="body"):
            with Vertical(id="nodes-pane"):
                yield NodesPane(id="nodes")
                yield Static("", id="node-filter-note", markup=False)
                yield Input(placeholder="filter nodes: text, regex, !invert", id="node-filter")
            with Vertical(id="side"):
                with VerticalScroll(id="gpus-pane", classes="side-pane"):
                    yield GpuList(id="gpus")
                yield AlertFeed(id="alerts", classes="side-pane")
                yield ChatPane(id="chat", classes="side-pane")
        yield KeyFooter(show_command_palette=False)  # ":" and ctrl+p are in the help

    def on_mount(self) -> None:
        state = self.dash.ui_state
        nodes = self.nodes
        nodes.sort_column = state.sort_column
        nodes.sort_reverse = state.sort_reverse
        nodes.group_by_partition = state.group_by_partition
        nodes._update_headers()
        self._apply_layout()
        nodes.focus()

    def on_screen_resume(self) -> None:
        self.dash.catch_up()

    # ------------------------------------------------------------------ layout

    def on_resize(self) -> None:
        self._apply_layout()

    def _apply_layout(self) -> None:
        state = self.dash.ui_state
        self.set_class(self.size.width < NARROW_WIDTH, "-narrow")
        self.set_class(not state.show_side, "-no-side")
        for pane in SIDE_PANES:
            widget = self.query_one(f"#{pane}-pane" if pane == "gpus" else f"#{pane}")
            widget.set_class(pane == state.side_pane, "-current")

    @property
    def narrow(self) -> bool:
        return self.has_class("-narrow")

    def pane_visible(self, pane: str) -> bool:
        state = self.dash.ui_state
        if not state.show_side:
            return False
        return not self.narrow or state.side_pane == pane

    def action_focus_pane(self, pane: str) -> None:
        if pane == "nodes":
            self.nodes.focus()
            return
        self.dash.update_ui_state(side_pane=pane, show_side=True)
        self._apply_layout()
        target = {"gpus": "#gpus", "alerts": "#alerts", "chat": "#chat-input"}[pane]
        self.query_one(target).focus()
        self.dash.apply_latest()

    def action_users(self) -> None:
        if not isinstance(self.app.screen, UsersScreen):
            self.app.push_screen(UsersScreen())

    def action_toggle_side(self) -> None:
        self.dash.update_ui_state(show_side=not self.dash.ui_state.show_side)
        self._apply_layout()

    def action_cycle_metric(self) -> None:
        self.dash.cycle_metric()

    # ------------------------------------------------------------------ filter

    def action_filter(self) -> None:
        nodes = self.nodes
        show_filter(self.query_one("#node-filter", Input), nodes.row_filter.text)

    def action_clear(self) -> None:
        nodes = self.nodes
        if nodes.row_filter.active:
            self._set_node_filter(parse_filter(""))
        elif nodes.selected:
            nodes.clear_selection()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "node-filter":
            return
        try:
            row_filter = parse_filter(event.value)
        except FilterError:
            return  # keep the last good filter while a regex is half typed
        self._set_node_filter(row_filter)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "node-filter":
            return
        event.stop()
        try:
            self._set_node_filter(parse_filter(event.value))
        except FilterError as error:
            self.notify(str(error), severity="error")
            return
        event.input.remove_class("-shown")
        self.nodes.focus()

    def _set_node_filter(self, row_filter: RowFilter) -> None:
        """Filter the nodes table; while a filter is on, a line under it says so."""
        self.nodes.set_filter(row_filter)
        self._show_filter_note()

    def _show_filter_note(self) -> None:
        nodes = self.nodes
        note = self.query_one("#node-filter-note", Static)
        row_filter = nodes.row_filter
        if row_filter.active:
            shown, total = len(nodes.visible_nodes()), len(nodes.rows_by_name)
            note.update(f" filter: {row_filter.text}  ({shown} of {total} nodes; esc clears)")
        note.set_class(row_filter.active, "-shown")

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", "")
        box = self.query_one("#node-filter", Input)
        if key == "escape" and box.has_focus:
            box.remove_class("-shown")
            self.nodes.focus()

    # ------------------------------------------------------------------ data

    def on_nodes_table_node_highlighted(self, event: NodesTable.NodeHighlighted) -> None:
        self.dash.node_highlighted(event.node)

    def on_nodes_table_view_changed(self, event: NodesTable.ViewChanged) -> None:
        nodes = self.nodes
        self.dash.update_ui_state(
            sort_column=nodes.sort_column,
            sort_reverse=nodes.sort_reverse,
            group_by_partition=nodes.group_by_partition,
        )

    def show_status(
        self, snapshot: ClusterSnapshot, countdown_s: float | None, busy: int | None
    ) -> None:
        dash = self.dash
        now = dash.now()
        line = status_text(
            cluster_name=dash.cluster_name,
            demo=dash.demo,
            readonly=dash.readonly,
            health=snapshot.health,
            now=now,
            countdown_s=countdown_s,
            busy_frame=busy,
            ui_error=dash.last_ui_error,
        )
        errors = error_lines(snapshot.health, now)
        bars = self.query(StatusBar)
        if not bars:
            return  # the app is closing and the screen's widgets are gone
        bars.first().show(line, errors)
        banner = self.query_one("#banner", Static)
        failing = [h for h in snapshot.health.values() if h.enabled and not h.ok and h.last_error]
        if failing:
            names = ", ".join(h.name for h in failing)
            text = Text(f" ✖ {names} failing: {failing[0].last_error}", style="bold")
            text.append("  — ctrl+r to retry, tab to the status bar for details")
            banner.update(text)
        banner.set_class(bool(failing), "-shown")

    def apply_snapshot(self, snapshot: ClusterSnapshot) -> None:
        dash = self.dash
        gpu_figures = GpuFigures.of(snapshot.gpus)  # one read of the GPUs for both
        price = dash.settings.cluster.gpu_hourly_price
        summary = ClusterSummary.of(snapshot, price, gpu_figures, self._slurm_figures(snapshot))
        self.query_one(SummaryLine).show(summary)
        nodes = self.nodes
        nodes.apply(snapshot, gpu_figures.by_node)
        if nodes.row_filter.active:
            self._show_filter_note()
        if self.pane_visible("gpus"):
            self.query_one(GpuList).show(
                snapshot, nodes.current_node(), dash.ui_state.gpu_metric, dash.rings
            )
        if self.pane_visible("alerts"):
            self.alerts = dash.alerts_ui.rows(snapshot)
            self.query_one(AlertFeed).show(self.alerts, dash.now())

    def _slurm_figures(self, snapshot: ClusterSnapshot) -> SlurmFigures:
        """Kept while the snapshot holds the same Slurm answer (the same node and job tuples)."""
        kept = self._slurm_kept
        if kept is None or kept[0] is not snapshot.nodes or kept[1] is not snapshot.jobs:
            kept = self._slurm_kept = (snapshot.nodes, snapshot.jobs, SlurmFigures.of(snapshot))
        return kept[2]

    def refresh_gpus(self) -> None:
        if not self.pane_visible("gpus"):
            return
        try:
            gpu_list, node = self.query_one(GpuList), self.nodes.current_node()
        except NoMatches:  # a late history answer while the screen is being taken down
            return
        gpu_list.show(self.dash.snapshot, node, self.dash.ui_state.gpu_metric, self.dash.rings)


__all__ = ["SIDE_PANES", "MainScreen", "NodesPane", "health_alerts"]
