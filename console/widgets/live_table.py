"""A keyed, live table drawn line by line, kept up to date by diff.

Why not Textual's DataTable: any cell update there bumps one global counter that keys every
render cache, so each live update re-renders every visible cell (~0.2 ms each: 60 ms for a
40-row, 9-column screen), and a keypress that lands after an update waits for all of it.
Here each row is rendered once into a cached ``Strip`` (one Rich render per row, keyed by the
row's own version), so an update re-renders only the rows that changed and moving the cursor
re-styles two cached lines. This is the line-API approach Textual's own Log and toolong use.

``sync(rows)`` takes the rows the table should show, in order, keyed by record id, and
applies the difference: stale rows go, changed rows get a new version, new rows are added,
the order is taken as given. The cursor stays on the same record (not the same index) while
rows move around it. Inputs longer than ``cap`` rows are cut (an operator never scrolls
through 10,000 rows; filters narrow them).

Keys: j/k or arrows move, g/G top/bottom, ctrl+d/ctrl+u half a page, pageup/pagedown,
enter selects (``LiveTable.RowSelected``); moving posts ``LiveTable.RowHighlighted``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


@dataclass(frozen=True)
class Col:
    """A column: ``width`` cells; ``flex`` columns share what is left of the widget's width;
    ``min_screen`` hides the column on terminals narrower than that."""

    key: str
    label: str
    width: int
    flex: bool = False
    min_screen: int = 0
    right: bool = False


Cell = Text | tuple[str, str]  # a Text, or (plain text, style) which is cheaper to build
Row = tuple[str, Sequence[Cell]]
PAD = 1  # blank cells either side of each column


class LiveTable(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    LiveTable {
        height: 1fr;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
        overflow-y: auto;
        background: $surface;
    }
    LiveTable > .live-table--header {
        text-style: bold;
        background: $panel;
    }
    LiveTable > .live-table--cursor {
        background: $block-cursor-blurred-background;
        text-style: bold;
    }
    LiveTable:focus > .live-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: bold;
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"live-table--header", "live-table--cursor"}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,j", "cursor(1)", "down", show=False, id="nav.down"),
        Binding("up,k", "cursor(-1)", "up", show=False, id="nav.up"),
        Binding("home,g", "first", "top", show=False, id="nav.top"),
        Binding("end,G", "last", "bottom", show=False, id="nav.bottom"),
        Binding("ctrl+d", "half_page(1)", "half page down", show=False, id="nav.half_down"),
        Binding("ctrl+u", "half_page(-1)", "half page up", show=False, id="nav.half_up"),
        Binding("pagedown", "page(1)", "page down", show=False, id="nav.page_down"),
        Binding("pageup", "page(-1)", "page up", show=False, id="nav.page_up"),
        Binding("enter", "select", "open", show=False, id="nav.open"),
    ]

    cursor_row: reactive[int] = reactive(0, init=False, always_update=False)

    class RowHighlighted(Message):
        """The cursor is on a new row (or the row under it is a different record)."""

        def __init__(self, table: LiveTable, row_key: str | None) -> None:
            super().__init__()
            self.table = table
            self.row_key = row_key

        @property
        def control(self) -> LiveTable:
            return self.table

    class RowSelected(Message):
        """Enter (or a double click) on a row."""

        def __init__(self, table: LiveTable, row_key: str) -> None:
            super().__init__()
            self.table = table
            self.row_key = row_key

        @property
        def control(self) -> LiveTable:
            return self.table

    def __init__(self, columns: Sequence[Col], *, cap: int = 500, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.specs = list(columns)
        self.cap = cap
        self._rows: dict[str, tuple[Cell, ...]] = {}
        self._versions: dict[str, int] = {}
        self._version_counter = 0
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._visible: list[int] = []
        self._widths: list[int] = []
        self._width = 0
        self._cache: LRUCache[tuple[object, ...], Strip] = LRUCache(4096)
        self._highlighted: str | None = None
        self.truncated = 0

    # -- the DataTable-like surface the screens and tests use ---------------------------------
    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def rows(self) -> dict[str, tuple[Cell, ...]]:
        return self._rows

    def keys(self) -> list[str]:
        return list(self._order)

    def row_cells(self, key: str) -> tuple[Cell, ...] | None:
        return self._rows.get(key)

    def get_row_index(self, key: str) -> int:
        return self._index[key]

    @property
    def current_key(self) -> str | None:
        if not self._order:
            return None
        return self._order[min(self.cursor_row, len(self._order) - 1)]

    def move_cursor(self, *, row: int, animate: bool = False) -> None:
        if not self._order:
            self.cursor_row = 0
            return
        self.cursor_row = max(0, min(row, len(self._order) - 1))
        self.scroll_to_cursor()

    # -- columns ----------------------------------------------------------------------------
    def set_columns(self, columns: Sequence[Col]) -> None:
        """Show different columns (rows are cleared: their cells follow the old columns)."""
        self.specs = list(columns)
        self._rows, self._order, self._index, self._versions = {}, [], {}, {}
        self._visible, self._widths = [], []
        self.cursor_row = 0
        self._cache.clear()
        if self.is_mounted:
            self._apply_layout()

    def _layout(self, width: int) -> tuple[list[int], list[int]]:
        screen_width = self.app.size.width
        visible = [i for i, c in enumerate(self.specs) if screen_width >= c.min_screen]
        fixed = sum(self.specs[i].width + 2 * PAD for i in visible if not self.specs[i].flex)
        flex = [i for i in visible if self.specs[i].flex]
        flex_base = sum(self.specs[i].width + 2 * PAD for i in flex)
        room = max(width - 1 - fixed, flex_base)  # 1: the vertical scrollbar
        spare = room - flex_base
        widths = []
        for i in visible:
            spec = self.specs[i]
            widths.append(spec.width + (spare // len(flex) if spec.flex and flex else 0))
        return visible, widths

    def on_resize(self, event: events.Resize) -> None:
        self._apply_layout()

    def on_mount(self) -> None:
        self._apply_layout()

    def _apply_layout(self) -> None:
        width = self.size.width or self.app.size.width
        visible, widths = self._layout(width)
        if (visible, widths, width) != (self._visible, self._widths, self._width):
            self._visible, self._widths, self._width = visible, widths, width
            self._cache.clear()
        self._update_virtual_size()
        self.refresh()

    def _update_virtual_size(self) -> None:
        line = sum(w + 2 * PAD for w in self._widths)
        self.virtual_size = Size(line, len(self._order) + 1)

    # -- rows -------------------------------------------------------------------------------
    def sync(self, rows: Sequence[Row]) -> None:
        """Make the table show ``rows`` (in this order), touching only what changed."""
        if len(rows) > self.cap:
            self.truncated = len(rows) - self.cap
            rows = rows[: self.cap]
        else:
            self.truncated = 0
        cursor_key = self.current_key
        cursor_index = self.cursor_row
        new_rows: dict[str, tuple[Cell, ...]] = {}
        versions = self._versions
        changed = False
        for key, cells in rows:
            cells = tuple(cells)
            old = self._rows.get(key)
            if old != cells:
                # one counter for the whole table: a row that leaves and comes back with
                # other cells must never meet the strip cached for its old cells (a per-row
                # count restarted at 1 and showed a retried task as still "failed")
                self._version_counter += 1
                versions[key] = self._version_counter
                changed = True
            new_rows[key] = cells
        new_order = [key for key, _ in rows]
        if new_order != self._order:
            changed = True
            for gone in self._rows.keys() - new_rows.keys():
                versions.pop(gone, None)
        self._rows = new_rows
        self._order = new_order
        self._index = {key: index for index, key in enumerate(new_order)}
        if not changed:
            return
        self._update_virtual_size()
        if cursor_key is not None and cursor_key in self._index:
            target = self._index[cursor_key]
        else:
            target = min(cursor_index, max(len(new_order) - 1, 0))
        if target != self.cursor_row:
            self.set_reactive(LiveTable.cursor_row, target)
            if self.is_mounted:
                self.scroll_to_cursor()
        self._announce()
        self.refresh()

    # -- rendering --------------------------------------------------------------------------
    def _line_text(self, cells: Sequence[Cell]) -> Text:
        line = Text(no_wrap=True, end="")
        pad = " " * PAD
        for i, width in zip(self._visible, self._widths, strict=True):
            raw = cells[i] if i < len(cells) else ""
            cell = raw if isinstance(raw, Text) else Text(raw[0], style=raw[1]) \
                if isinstance(raw, tuple) else Text(str(raw))
            piece = cell.copy()
            piece.no_wrap = True
            piece.truncate(width, overflow="ellipsis", pad=True)
            if self.specs[i].right:
                plain_len = cell.cell_len
                if plain_len < width:
                    piece = Text(" " * (width - plain_len)) + cell.copy()
                    piece.truncate(width, overflow="ellipsis", pad=True)
            line.append(pad)
            line.append_text(piece)
            line.append(pad)
        return line

    def _header_strip(self, width: int) -> Strip:
        key = ("header", width, self._widths_key())
        cached = self._cache.get(key)
        if cached is None:
            labels = [Text(s.label) for s in self.specs]
            text = self._line_text(labels)
            style = self.get_component_rich_style("live-table--header")
            cached = self._to_strip(text, style, width)
            self._cache[key] = cached
        return cached

    def _widths_key(self) -> tuple[int, ...]:
        return tuple(self._widths)

    def _to_strip(self, text: Text, style: Style, width: int) -> Strip:
        console = self.app.console
        segments = list(text.render(console))
        strip = Strip(segments).crop_extend(0, width, style)
        return strip.apply_style(style)

    def _row_strip(self, key: str, cursor: bool, width: int) -> Strip:
        cache_key = (key, self._versions.get(key, 0), cursor, self.has_focus, width,
                     self._widths_key())
        cached = self._cache.get(cache_key)
        if cached is None:
            base = self.rich_style
            text = self._line_text(self._rows[key])
            if cursor:
                style = base + self.get_component_rich_style("live-table--cursor")
                if self.app.no_color:
                    style += Style(reverse=True)
                text.stylize(Style(color=style.color, bgcolor=style.bgcolor, bold=style.bold,
                                   reverse=style.reverse))
                cached = self._to_strip(text, style, width)
            else:
                cached = self._to_strip(text, base, width)
            self._cache[cache_key] = cached
        return cached

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            return self._header_strip(width)
        _, scroll_y = self.scroll_offset
        index = scroll_y + y - 1
        if index >= len(self._order):
            return Strip.blank(width, self.rich_style)
        key = self._order[index]
        return self._row_strip(key, index == self.cursor_row, width)

    # -- cursor -----------------------------------------------------------------------------
    def watch_cursor_row(self, old: int, new: int) -> None:
        self.scroll_to_cursor()
        self._announce()
        self.refresh()

    def _announce(self) -> None:
        key = self.current_key
        if key != self._highlighted:
            self._highlighted = key
            self.post_message(self.RowHighlighted(self, key))

    def _on_focus(self, event: events.Focus) -> None:
        self.refresh()

    def _on_blur(self, event: events.Blur) -> None:
        self.refresh()

    @property
    def _page(self) -> int:
        return max(self.size.height - 2, 1)

    def scroll_to_cursor(self) -> None:
        if not self.size.height:
            return
        _, top = self.scroll_offset
        visible = self._page + 1
        row = self.cursor_row
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + visible:
            self.scroll_to(y=row - visible + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(row=self.cursor_row + delta)

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=len(self._order) - 1)

    def action_half_page(self, direction: int) -> None:
        self.move_cursor(row=self.cursor_row + direction * max(self._page // 2, 1))

    def action_page(self, direction: int) -> None:
        self.move_cursor(row=self.cursor_row + direction * self._page)

    def action_select(self) -> None:
        key = self.current_key
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            return
        _, scroll_y = self.scroll_offset
        row = scroll_y + event.y - 1
        if 0 <= row < len(self._order):
            self.move_cursor(row=row)
            if event.chain >= 2:
                self.action_select()


__all__ = ["Col", "LiveTable", "Row", "Segment"]
