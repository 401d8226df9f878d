"""The nodes pane: one row per node, sortable, filterable, groupable, multi-selectable.

A Line-API widget (like toolong's log view): each visible line is a cached Strip, and a
snapshot only re-renders the rows whose content changed. Measured at 1,024 nodes, a
DataTable spent 60-150 ms repainting after every update (its row cache is invalidated
by any cell change) and held the loop for up to ~360 ms; this view repaints in a few ms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.app.filtering import RowFilter, sort_rows
from tui.app.rows import (
    NODE_COLUMNS,
    UTIL_COLUMN,
    NodeFacts,
    NodeRow,
    UtilShown,
    gpu_figures,
    stale_gpu_age,
    util_cell,
)
from tui.model import ClusterSnapshot

GROUP_PREFIX = "\x00group:"
MARK = "●"
MARK_STYLE = Style.parse("bold magenta")
COLUMN_GAP = 2
# Utilization cells drawn, by what they show, kept at most this many (~1,000 are possible
# without a stale mark: 11 bar lengths x 101 percents, give or take the idle marks).
UTIL_CELLS_KEPT = 4096
NO_GPU_FIGURES: tuple[float | None, int] = (None, 0)
MIN_WIDTHS: dict[str, int] = {"reason": 6, "jobs": 4}


def group_key(partition: str) -> str:
    return GROUP_PREFIX + partition


class NodesTable(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    NodesTable { height: 1fr; }
    NodesTable > .nodes-table--header { text-style: bold; background: $panel; }
    NodesTable > .nodes-table--cursor { background: $block-cursor-blurred-background; }
    NodesTable:focus > .nodes-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
    }
    NodesTable > .nodes-table--group { text-style: bold; color: $accent; }
    """
    COMPONENT_CLASSES = {
        "nodes-table--header",
        "nodes-table--cursor",
        "nodes-table--group",
    }
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "to_edge(0)", "Top", show=False),
        Binding("end,G", "to_edge(1)", "Bottom", show=False),
        Binding(
            "space",
            "toggle_select",
            "Select",
            tooltip="mark / unmark a node for a batch action (the cursor moves down)",
        ),
        Binding("s", "cycle_sort", "Sort", tooltip="by the next column"),
        Binding("S", "reverse_sort", "Reverse", show=False, tooltip="the sort order"),
        Binding("p", "toggle_group", "Group", tooltip="by partition"),
        Binding("c", "copy_name", "Copy name", show=False, tooltip="to your clipboard (OSC 52)"),
    ]

    class NodeHighlighted(Message):
        """The cursor moved to a node (None: a group header or an empty table)."""

        def __init__(self, node: str | None) -> None:
            super().__init__()
            self.node = node

    class ViewChanged(Message):
        """Sort or grouping changed (so the app can persist it)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows_by_name: dict[str, NodeRow] = {}
        self.selected: set[str] = set()
        self.row_filter = RowFilter()
        self.sort_column = "name"
        self.sort_reverse = False
        self.group_by_partition = False
        self.cursor_row = 0
        self.rebuilds = 0
        self._order: list[str] = []
        self._static_widths: tuple[int, ...] | None = None
        self._widths: tuple[int, ...] = self._column_widths()
        self._widths_stale = False
        self._strips: dict[str, tuple[object, ...]] = {}
        # Rows that show the same utilization share its drawn cell.
        self._util_cells: dict[UtilShown, tuple[list[Segment], int]] = {}
        self._header: Strip | None = None
        self._repaint_styles: dict[str, Style] | None = None
        self._last_highlight: str | None = "\x00none"

    # ------------------------------------------------------------------ data

    @property
    def row_count(self) -> int:
        return len(self._order)

    def apply(
        self,
        snapshot: ClusterSnapshot,
        figures_by_node: Mapping[str, tuple[float | None, int]] | None = None,
    ) -> None:
        """`figures_by_node`: each node's (mean utilization, allocated-idle GPUs), when the
        caller has read them from the GPUs already (see tui.summary.GpuFigures)."""
        # A node's Slurm facts are rebuilt only when its record or jobs changed, and its row
        # only when its GPU readings moved; a line is drawn again only when what it shows
        # changed. The order is worked out again only when what it depends on changed.
        previous = self.rows_by_name
        rows: dict[str, NodeRow] = {}
        stale_age = stale_gpu_age(snapshot)
        gpus_by_node, jobs_by_node = snapshot.gpus_by_node, snapshot.jobs_by_node
        column = self.sort_column
        reorder = len(previous) != len(snapshot.nodes)
        for node, old_name in zip(snapshot.nodes, previous, strict=False):
            if node.name != old_name:
                reorder = True
                break
        new_facts = reorder
        util_width = False
        for node in snapshot.nodes:
            name = node.name
            gpus = gpus_by_node.get(name, ())
            jobs = jobs_by_node.get(name, ())
            old = previous.get(name)
            if old is not None and old.facts.same_as(node, jobs):
                facts = old.facts
            else:
                facts = NodeFacts(node, jobs)
                new_facts = True
                reorder = reorder or old is None or _moves_order(old.facts, facts, column)
            if figures_by_node is None:
                util, idle_allocated = gpu_figures(gpus)
            else:
                util, idle_allocated = figures_by_node.get(name, NO_GPU_FIGURES)
            stale = stale_age if gpus else None
            if (
                old is not None
                and old.facts is facts
                and old.same_readings(util, idle_allocated, stale)
            ):
                row = old
            else:
                row = NodeRow(facts, util, idle_allocated, stale)
                util_width = util_width or old is None or old.util_length != row.util_length
                reorder = reorder or column == "util"
            rows[name] = row
        self.rows_by_name = rows
        self.selected &= rows.keys()
        if new_facts:
            self._static_widths = None
        self._widths_stale = self._widths_stale or new_facts or util_width
        self.refresh_rows(reorder=reorder, previous=previous)

    def visible_nodes(self) -> list[str]:
        return [key for key in self._order if not key.startswith(GROUP_PREFIX)]

    def _ordered(self) -> list[str]:
        row_filter = self.row_filter
        rows = self.rows_by_name.values()
        if row_filter.active:
            rows = [r for r in rows if row_filter.matches(r.haystack)]
        column = self.sort_column
        rows = sort_rows(list(rows), lambda r: r.sort_value(column), reverse=self.sort_reverse)
        if not self.group_by_partition:
            return [r.name for r in rows]
        groups: dict[str, list[str]] = {}
        for row in rows:
            groups.setdefault(row.partition, []).append(row.name)
        order: list[str] = []
        for partition in sorted(groups):
            order.append(group_key(partition))
            order.extend(groups[partition])
        return order

    def refresh_rows(
        self, *, reorder: bool = True, previous: Mapping[str, NodeRow] | None = None
    ) -> None:
        """`reorder=False`: no row's sort value, filter text, partition or place changed.

        `previous`: the rows before a new snapshot; when the order and the column widths
        stay, only the lines on screen that show something new are drawn again (the others,
        and Textual's work on them, are kept)."""
        order = self._order
        moved = False
        if reorder:
            current = self.current_key()
            order = self._ordered()
            if order != self._order:
                moved = True
                self.rebuilds += 1
                self._order = order
                position = {key: index for index, key in enumerate(order)}
                if current in position:
                    self.cursor_row = position[current]
        self.cursor_row = max(0, min(self.cursor_row, len(order) - 1))
        if self._widths_stale:
            self._widths_stale = False
            widths = self._column_widths()
            if widths != self._widths:
                moved = True
                self._widths = widths
                self._strips.clear()
                self._header = None
        widths = self._widths
        self.virtual_size = Size(sum(widths) + COLUMN_GAP * len(widths), len(order) + 1)
        if previous is None or moved:
            self.refresh()
        else:
            self._refresh_changed_lines(previous)
        self._announce()

    def _refresh_changed_lines(self, previous: Mapping[str, NodeRow]) -> None:
        top = int(self.scroll_offset.y)
        rows = self.rows_by_name
        width = max(self.virtual_size.width, self.size.width)
        changed: list[Region] = []
        for index in range(top, min(len(self._order), top + self._rows_shown())):
            row = rows.get(self._order[index])
            if row is None:
                continue  # a group header: its count changes only with the order
            old = previous.get(row.name)
            if old is not row and not (
                old is not None and old.facts is row.facts and old.shown == row.shown
            ):
                changed.append(Region(0, index + 1 - top, width, 1))  # the header is line 0
        if changed:
            self.refresh(*changed)  # one call: each call clears the widget's caches

    def _column_widths(self) -> tuple[int, ...]:
        """The mark's column, then each of NODE_COLUMNS as wide as its title or widest cell."""
        rows = self.rows_by_name.values()
        if self._static_widths is None:
            # Every column but the utilization: it moves on most snapshots, they seldom do.
            static = [len(label) + 2 for key, label in NODE_COLUMNS if key != "util"]
            for row in rows:
                for index, length in enumerate(row.facts.lengths):
                    if length > static[index]:
                        static[index] = length
            self._static_widths = tuple(static)
        title = len(NODE_COLUMNS[UTIL_COLUMN][1]) + 2
        util = max(title, max((row.util_length for row in rows), default=0))
        static = self._static_widths
        return (1, *static[:UTIL_COLUMN], util, *static[UTIL_COLUMN:])

    # ------------------------------------------------------------------ rendering

    def _group_text(self, key: str) -> Text:
        partition = key[len(GROUP_PREFIX) :]
        count = sum(1 for r in self.rows_by_name.values() if r.partition == partition)
        return Text(f"  ▾ {partition or '(none)'}  {count} nodes")

    def _row_segments(self, key: str) -> list[Segment]:
        """A node's line: its mark, then each cell padded to its column. The Slurm cells'
        segments are kept while the facts last, and utilization cells by what they show, so
        redrawing a line whose utilization moved mostly renders nothing."""
        widths = self._widths
        row = self.rows_by_name[key]
        console = self.app.console
        facts = row.facts
        if facts.segments is None:
            facts.segments = [_cell_segments(cell, console) for cell in facts.cells]
        shown = row.shown
        util_segments = self._util_cells.get(shown)
        if util_segments is None:
            if len(self._util_cells) >= UTIL_CELLS_KEPT:
                self._util_cells.clear()
            util_segments = self._util_cells[shown] = _cell_segments(util_cell(shown), console)
        cells = [*facts.segments[:UTIL_COLUMN], util_segments, *facts.segments[UTIL_COLUMN:]]
        mark = MARK if key in self.selected else " "
        segments = [Segment(mark, MARK_STYLE), Segment(" " * (widths[0] - 1 + COLUMN_GAP))]
        for index, (cell, length) in enumerate(cells, start=1):
            segments.extend(cell)
            segments.append(Segment(" " * (widths[index] - length + COLUMN_GAP)))
        return segments

    def _render_text(self, text: Text, style: Style, width: int) -> Strip:
        return self._strip(list(text.render(self.app.console)), style, width)

    @staticmethod
    def _strip(segments: list[Segment], style: Style, width: int) -> Strip:
        return Strip(segments).crop_extend(0, width, style).apply_style(style)

    def _style(self, name: str) -> Style:
        """The line style ('' for plain rows), looked up once per repaint: each lookup walks
        the widget's ancestors (~0.2 ms, for each of ~45 lines)."""
        styles = self._repaint_styles
        style = styles.get(name) if styles is not None else None
        if style is None:
            style = self.get_component_rich_style(name) if name else self.rich_style
            if styles is not None:
                styles[name] = style
        return style

    def render_lines(self, crop: Region) -> list[Strip]:
        self._repaint_styles = {}
        try:
            return super().render_lines(crop)
        finally:
            self._repaint_styles = None

    def _header_strip(self, width: int) -> Strip:
        if self._header is None or self._header.cell_length != width:
            arrow = "▼" if self.sort_reverse else "▲"
            text = Text(" " * (self._widths[0] + COLUMN_GAP))
            for index, (key, label) in enumerate(NODE_COLUMNS, start=1):
                title = f"{label} {arrow}" if key == self.sort_column else label
                text.append(title.ljust(self._widths[index] + COLUMN_GAP))
            style = self.get_component_rich_style("nodes-table--header")
            self._header = self._render_text(text, style, width)
        return self._header

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x = int(self.scroll_offset.x)
        if y == 0:
            return self._header_strip(width + scroll_x).crop(scroll_x, scroll_x + width)
        index = int(self.scroll_offset.y) + y - 1
        if index >= len(self._order):
            return Strip([Segment(" " * width, self._style(""))], width)
        key = self._order[index]
        is_cursor = index == self.cursor_row
        is_group = key.startswith(GROUP_PREFIX)
        if is_cursor:
            style = self._style("nodes-table--cursor")
        else:
            style = self._style("nodes-table--group" if is_group else "")
        row = self.rows_by_name.get(key)
        # The cursor line's style says whether the table has focus. A new row that shows
        # what the old one showed keeps its line.
        shown = (row.facts, row.shown) if row is not None else None
        signature = (shown, key in self.selected, is_cursor, style, width + scroll_x)
        cached = self._strips.get(key)
        if cached is not None and cached[0] == signature:
            strip = cached[1]
        else:
            if is_group:
                strip = self._render_text(self._group_text(key), style, width + scroll_x)
            else:
                segments = list(Segment.simplify(self._row_segments(key)))
                strip = self._strip(segments, style, width + scroll_x)
            self._strips[key] = (signature, strip)
        assert isinstance(strip, Strip)
        return strip.crop(scroll_x, scroll_x + width)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # ------------------------------------------------------------------ cursor

    def current_key(self) -> str | None:
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    def current_node(self) -> str | None:
        key = self.current_key()
        return None if key is None or key.startswith(GROUP_PREFIX) else key

    def _announce(self) -> None:
        node = self.current_node()
        if node != self._last_highlight:
            self._last_highlight = node
            self.post_message(self.NodeHighlighted(node))

    def move_cursor(self, row: int) -> None:
        if not self._order:
            return
        self.cursor_row = max(0, min(row, len(self._order) - 1))
        visible = self._rows_shown()
        top = int(self.scroll_offset.y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False)
        self.refresh()
        self._announce()

    def select_node(self, name: str) -> bool:
        if name not in self._order:
            return False
        self.move_cursor(self._order.index(name))
        return True

    def targets(self) -> list[str]:
        """Nodes an action applies to: the selection, else the node under the cursor."""
        if self.selected:
            return [name for name in self.visible_nodes() if name in self.selected] or sorted(
                self.selected
            )
        node = self.current_node()
        return [node] if node else []

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor_row + delta)

    def _rows_shown(self) -> int:
        """Rows in view: the viewport less the header line and any horizontal scrollbar."""
        return max(1, self.scrollable_content_region.height - 1)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor_row + direction * max(1, self._rows_shown() - 1))

    def action_to_edge(self, end: int) -> None:
        self.move_cursor(len(self._order) - 1 if end else 0)

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            self._sort_by_x(event.x + int(self.scroll_offset.x))
        else:
            self.move_cursor(int(self.scroll_offset.y) + event.y - 1)

    def _sort_by_x(self, x: int) -> None:
        edge = 0
        for index, width in enumerate(self._widths):
            edge += width + COLUMN_GAP
            if x < edge:
                if index == 0:
                    return
                column = NODE_COLUMNS[index - 1][0]
                if column == self.sort_column:
                    self.sort_reverse = not self.sort_reverse
                else:
                    self.sort_column, self.sort_reverse = column, False
                self._view_changed()
                return

    # ------------------------------------------------------------------ actions

    def set_filter(self, row_filter: RowFilter) -> None:
        self.row_filter = row_filter
        self.refresh_rows()

    def action_copy_name(self) -> None:
        node = self.current_node()
        if node is not None:
            self.app.copy_to_clipboard(node)
            self.notify(f"copied {node}", timeout=2)

    def action_toggle_select(self) -> None:
        node = self.current_node()
        if node is None:
            return
        self.selected.symmetric_difference_update({node})
        self.move_cursor(self.cursor_row + 1)
        self.refresh()

    def clear_selection(self) -> None:
        self.selected.clear()
        self.refresh()

    def action_cycle_sort(self) -> None:
        keys = [key for key, _ in NODE_COLUMNS]
        position = keys.index(self.sort_column) if self.sort_column in keys else -1
        self.sort_column = keys[(position + 1) % len(keys)]
        self.sort_reverse = False
        self._view_changed()
        self.notify(f"sorted by {dict(NODE_COLUMNS)[self.sort_column]}", timeout=2)

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._view_changed()

    def action_toggle_group(self) -> None:
        self.group_by_partition = not self.group_by_partition
        self._view_changed()

    def _view_changed(self) -> None:
        self._update_headers()
        self.refresh_rows()
        self.post_message(self.ViewChanged())

    def _update_headers(self) -> None:
        self._header = None
        self.refresh()


def _moves_order(old: NodeFacts, new: NodeFacts, column: str) -> bool:
    """Whether new facts for a node can change the table's order, filtering or grouping."""
    return (
        old.sort_values.get(column) != new.sort_values.get(column)
        or old.haystack != new.haystack
        or old.partition != new.partition
    )


def _cell_segments(cell: Text, console: Console) -> tuple[list[Segment], int]:
    """A cell's segments (its own style under its spans' ones, as in a line that holds it)
    and its width in terminal cells."""
    segments: Iterable[Segment] = cell.render(console)
    if cell.style:
        segments = Segment.apply_style(segments, console.get_style(cell.style))
    return list(segments), cell.cell_len
