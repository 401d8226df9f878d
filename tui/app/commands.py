"""The command palette (`:` or ctrl+p): jump to a node or job, run an action, theme, refresh."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Matcher, Provider

from tui.actions import ActionKind
from tui.app.dash import DashAccess
from tui.app.widgets.chat_pane import palette_entries as chat_palette_entries

if TYPE_CHECKING:
    from tui.app.app import ClusterDashApp

REFRESH_CHOICES_S: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0)
# Nodes/jobs offered per query: enough to find one, few enough to stay instant at 1,000+ nodes.
MAX_ENTITY_HITS = 30


def palette_commands(app: ClusterDashApp) -> list[tuple[str, Callable[[], object], str]]:
    """(title, callback, help) for everything that is not a node or a job."""
    commands: list[tuple[str, Callable[[], object], str]] = [
        ("Jobs: open the job list", app.action_jobs, "squeue-like list with filters"),
        ("Help: keys", app.action_help, "every key"),
        ("Refresh now", app.action_refresh_now, "poll every source once"),
        ("Alerts: rules", app.alerts_ui.open_rules, "switch, add and edit alert rules"),
        ("Alerts: silences", app.alerts_ui.open_silences, "active silences; lift one"),
        ("Alerts: acknowledge selected alert", app.alerts_ui.ack_selected, "record who is on it"),
        ("Alerts: silence selected alert", app.alerts_ui.silence_selected, "for 15m to 24h"),
    ]
    commands += chat_palette_entries(app)
    for kind in ActionKind:
        noun = "nodes" if kind.targets_nodes else "jobs"
        commands.append(
            (
                f"Action: {kind.value} selected {noun}",
                partial(app.action_on_selection, kind.value),
                f"{kind.value} the selected {noun} (confirmation first)",
            )
        )
    for name in sorted(app.available_themes):
        commands.append((f"Theme: {name}", partial(app.set_theme, name), "switch colour theme"))
    for seconds in REFRESH_CHOICES_S:
        commands.append(
            (
                f"Refresh every {seconds:g}s",
                partial(app.set_refresh, seconds),
                "screen refresh and GPU poll interval",
            )
        )
    return commands


def entity_hits(
    matcher: Matcher, needle: str, entries: Iterable[tuple[str, Callable[[], object]]]
) -> Iterator[Hit]:
    """Nodes or jobs whose title holds the query, at most MAX_ENTITY_HITS of them."""
    found = 0
    for title, callback in entries:
        score = matcher.match(title)
        if score > 0 and needle in title.lower():
            yield Hit(score, matcher.highlight(title), callback)
            found += 1
            if found >= MAX_ENTITY_HITS:
                return


class ClusterCommands(DashAccess, Provider):
    async def discover(self) -> AsyncIterator[DiscoveryHit]:
        for title, callback, help_text in palette_commands(self.dash):
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> AsyncIterator[Hit]:
        matcher = self.matcher(query)
        for title, callback, help_text in palette_commands(self.dash):
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
        snapshot = self.dash.snapshot
        needle = query.strip().lower()
        if not needle:
            return
        nodes = (
            (f"Node {n.name} ({n.display_state})", partial(self.dash.open_node, n.name))
            for n in snapshot.nodes
        )
        jobs = (
            (
                f"Job {j.job_id} {j.user} {j.state.value} {j.name}",
                partial(self.dash.open_job, j.job_id),
            )
            for j in snapshot.jobs
        )
        for entries in (nodes, jobs):
            for hit in entity_hits(matcher, needle, entries):
                yield hit
