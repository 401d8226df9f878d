"""The GPUs pane: one line per GPU with a sparkline, current values, and who holds it."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from tui.app import format as fmt
from tui.app.rings import METRIC_LABELS, METRIC_RANGES, GpuRings
from tui.app.rows import stale_gpu_age, stale_gpu_note
from tui.model import ClusterSnapshot, Gpu, is_allocated_idle

TOP_COUNT = 5
# Everything on a GPU line except the sparkline takes about this many cells.
FIXED_WIDTH = 52


def gpu_line(gpu: Gpu, history: Sequence[float], metric: str, spark_width: int, label: str) -> Text:
    idle_alloc = is_allocated_idle(gpu)
    low, high = METRIC_RANGES[metric]
    text = Text(f"{label:<11}", style="bold" if not idle_alloc else "bold yellow")
    text.append(fmt.sparkline(history, spark_width, low, high), style="cyan")
    util = gpu.utilization_pct
    text.append(f" {fmt.percent(util)}%", style="dim" if util is None or util < 5 else "")
    mem = gpu.memory_pct
    text.append(f" mem {fmt.percent(mem)}%", style=fmt.threshold_style("memory_pct", mem))
    temp = gpu.temperature_c
    text.append(
        " " + ("  -" if temp is None else f"{temp:3.0f}") + "°C",
        style=fmt.threshold_style("temperature_c", temp),
    )
    power = gpu.power_w
    text.append(
        " " + ("  -" if power is None else f"{power:3.0f}") + "W",
        style=fmt.threshold_style("power_w", power),
    )
    if gpu.error:
        text.append(f" {fmt.truncate(gpu.error, 20)}", style="bold red")
    elif gpu.last_xid:
        text.append(f" XID {gpu.last_xid}", style="bold red")
    if gpu.job_id:
        text.append(f"  {gpu.job_id} {gpu.user or ''}")
        if idle_alloc:
            text.append(" IDLE", style="bold black on yellow")
    else:
        text.append("  free", style="dim")
    return text


def hottest_and_idlest(
    snapshot: ClusterSnapshot, count: int = TOP_COUNT
) -> tuple[list[Gpu], list[Gpu]]:
    with_temp = [g for g in snapshot.gpus if g.temperature_c is not None]
    hottest = sorted(with_temp, key=lambda g: (-(g.temperature_c or 0.0), g.node, g.index))[:count]
    allocated = [g for g in snapshot.gpus if g.job_id and g.utilization_pct is not None]
    idlest = sorted(allocated, key=lambda g: (g.utilization_pct or 0.0, g.node, g.index))[:count]
    return hottest, idlest


def gpu_pane_text(
    snapshot: ClusterSnapshot, node: str | None, metric: str, rings: GpuRings, width: int
) -> Text:
    text = _gpu_pane_lines(snapshot, node, metric, rings, width)
    stale_age = stale_gpu_age(snapshot)
    if stale_age is None:
        return text
    # Last good readings of a failing GPU source: dimmed, and the title says how old.
    title, *rest = text.split("\n")
    title.append(f" — {stale_gpu_note(stale_age)}", style="bold yellow")
    for line in rest:
        line.stylize("dim")
    return Text("\n").join([title, *rest])


def _gpu_pane_lines(
    snapshot: ClusterSnapshot, node: str | None, metric: str, rings: GpuRings, width: int
) -> Text:
    spark_width = max(6, min(40, width - FIXED_WIDTH))
    metric_label = METRIC_LABELS[metric]
    if node is not None:
        gpus = snapshot.gpus_of(node)
        title = Text(f"{node}", style="bold")
        title.append(f" — {len(gpus)} GPUs, sparkline: {metric_label} (m to change)", style="dim")
        lines = [title]
        if not gpus:
            lines.append(Text("  no GPU data for this node", style="dim"))
        for gpu in gpus:
            lines.append(
                gpu_line(
                    gpu, rings.values(gpu.key, metric), metric, spark_width, f"  GPU{gpu.index}"
                )
            )
        return Text("\n").join(lines)
    hottest, idlest = hottest_and_idlest(snapshot)
    lines = [Text(f"Hottest GPUs — sparkline: {metric_label}", style="bold")]
    for gpu in hottest:
        label = fmt.truncate(f"{gpu.node}:{gpu.index}", 10)
        lines.append(gpu_line(gpu, rings.values(gpu.key, metric), metric, spark_width, label))
    lines.append(Text("Idlest allocated GPUs", style="bold"))
    if not idlest:
        lines.append(Text("  none", style="dim"))
    for gpu in idlest:
        label = fmt.truncate(f"{gpu.node}:{gpu.index}", 10)
        lines.append(gpu_line(gpu, rings.values(gpu.key, metric), metric, spark_width, label))
    return Text("\n").join(lines)


PANE_ID = "gpus-pane"


class GpuList(Static, can_focus=True):
    DEFAULT_CSS = """
    GpuList { height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._last: Text | None = None
        self._lines = 0

    def show(
        self, snapshot: ClusterSnapshot, node: str | None, metric: str, rings: GpuRings
    ) -> None:
        text = gpu_pane_text(snapshot, node, metric, rings, self.size.width or 80)
        if text == self._last:
            return
        self._last = text
        # The first line titles the pane's top border, where scrolling cannot take it away.
        title, *rest = text.split("\n")
        pane = self.parent
        if isinstance(pane, Widget) and pane.id == PANE_ID:
            pane.border_title = title
            text = Text("\n").join(rest)
        # Same number of lines (same node, same GPU count): no layout pass (~50 ms at 1,024).
        lines = text.plain.count("\n") + 1
        self.update(text, layout=lines != self._lines)
        self._lines = lines
