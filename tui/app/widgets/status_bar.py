"""Top line: cluster name, DEMO/READONLY badges, one health mark per source, countdown."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.widgets import Static

from tui.app import format as fmt
from tui.model import SourceHealth

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
# Source names as the collector reports them -> what the operator calls them.
SOURCE_LABELS: dict[str, str] = {
    "gpu": "GPU",
    "exporters": "GPU",
    "sim-gpu": "GPU",
    "slurm": "Slurm",
    "sim-slurm": "Slurm",
    "prometheus": "Prometheus",
    "agent": "agent",
    "collect": "via collect",
}


def source_label(name: str) -> str:
    return SOURCE_LABELS.get(name, name)


def health_mark(health: SourceHealth, now: float) -> Text:
    """'● Slurm 3s' green when fresh, yellow with an error on partial data, red when failing."""
    label = source_label(health.name)
    if not health.enabled:
        return Text(f"○ {label} off", style="dim")
    age = fmt.age(health.age_s(now))
    if health.ok and not health.last_error:
        return Text.assemble(("● ", "green"), f"{label} {age}")
    if health.ok:
        return Text.assemble(("◐ ", "yellow"), f"{label} {age}")
    if health.last_attempt is None:
        return Text.assemble(("○ ", "dim"), f"{label} …")
    return Text.assemble(("✖ ", "bold red"), f"{label} {age}")


def status_text(
    *,
    cluster_name: str,
    demo: bool,
    readonly: bool,
    health: Mapping[str, SourceHealth],
    now: float,
    countdown_s: float | None,
    busy_frame: int | None,
    ui_error: str | None = None,
) -> Text:
    text = Text()
    text.append(f" {cluster_name} ", style="bold reverse")
    if demo:
        text.append(" DEMO ", style="bold black on yellow")
    if readonly:
        text.append(" READONLY ", style="bold white on red")
    for name in sorted(health, key=lambda n: (source_label(n).lower() == "agent", n)):
        text.append("  ")
        text.append_text(health_mark(health[name], now))
    text.append("  ")
    if busy_frame is not None:
        text.append(SPINNER[busy_frame % len(SPINNER)] + " refreshing", style="cyan")
    elif countdown_s is not None:
        text.append(f"↻ {max(0, round(countdown_s))}s", style="dim")
    if ui_error:
        text.append(f"  ✖ internal error: {ui_error} (details in the log)", style="bold red")
    return text


def error_lines(health: Mapping[str, SourceHealth], now: float) -> list[str]:
    """One line per source with a problem: 'Slurm: <error> (3 failures, data 2m old)'."""
    lines = []
    for name in sorted(health):
        item = health[name]
        if not item.enabled or not item.last_error:
            continue
        detail = f"{item.consecutive_failures} failures, " if item.consecutive_failures else ""
        lines.append(
            f"{source_label(name)}: {item.last_error} ({detail}data {fmt.age(item.age_s(now))} old)"
        )
    return lines


class StatusBar(Static, can_focus=True):
    """Focus it (tab) to read each source's last error in full."""

    DEFAULT_CSS = """
    StatusBar { height: auto; max-height: 6; background: $boost; }
    StatusBar:focus { background: $accent 30%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._line = Text()
        self._errors: list[str] = []
        self._lines = 0

    def show(self, line: Text, errors: list[str]) -> None:
        if line == self._line and errors == self._errors:
            return
        self._line = line
        self._errors = errors
        self._render_now()

    def _render_now(self) -> None:
        text = self._line.copy()
        if self.has_focus:
            for line in self._errors or ["all sources healthy"]:
                text.append("\n  " + line, style="red" if self._errors else "green")
        # A layout pass costs ~50 ms beside a 1,024-row table: only when the height changes.
        lines = text.plain.count("\n") + 1
        self.update(text, layout=lines != self._lines)
        self._lines = lines

    def on_focus(self) -> None:
        self._render_now()

    def on_blur(self) -> None:
        self._render_now()
