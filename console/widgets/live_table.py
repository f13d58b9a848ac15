"""A DataTable that is kept up to date by keyed diff, never by clear-and-refill.

``sync(rows)`` takes the rows the table should show, in order, each keyed by its record id,
and applies the difference inside one ``batch_update``: stale rows are removed, changed cells
updated, new rows added, then the order fixed. The cursor stays on the same record (not the
same index) while rows move around it. Very long inputs are capped (``cap``): Textual's
DataTable slows down with tens of thousands of rows and an operator never scrolls that far.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets._data_table import RowKey, TwoWayDict


@dataclass(frozen=True)
class Col:
    """A column: ``width`` cells; ``flex`` columns share what is left of the screen width;
    ``min_screen`` hides the column on terminals narrower than that."""

    key: str
    label: str
    width: int
    flex: bool = False
    min_screen: int = 0
    right: bool = False


Row = tuple[str, Sequence[Text]]


class LiveTable(DataTable[Text]):
    DEFAULT_CSS = """
    LiveTable {
        height: 1fr;
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 0;
    }
    """

    BINDINGS = [
        Binding("j", "cursor_down", "down", show=False, id="nav.down"),
        Binding("k", "cursor_up", "up", show=False, id="nav.up"),
        Binding("g", "scroll_top", "top", show=False, id="nav.top"),
        Binding("G", "scroll_bottom", "bottom", show=False, id="nav.bottom"),
        Binding("ctrl+d", "half_page(1)", "half page down", show=False, id="nav.half_down"),
        Binding("ctrl+u", "half_page(-1)", "half page up", show=False, id="nav.half_up"),
    ]

    def __init__(self, columns: Sequence[Col], *, cap: int = 500, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False,
                         cell_padding=1)
        self.specs = list(columns)
        self.cap = cap
        self._rows: dict[str, tuple[Text, ...]] = {}
        self._order: list[str] = []
        self._visible: list[int] = []
        self._widths: list[int] = []
        self.truncated = 0

    # -- columns ----------------------------------------------------------------------------
    def _layout(self, width: int) -> tuple[list[int], list[int]]:
        visible = [i for i, c in enumerate(self.specs) if width >= c.min_screen]
        fixed = sum(self.specs[i].width + 2 for i in visible if not self.specs[i].flex)
        flex = [i for i in visible if self.specs[i].flex]
        flex_base = sum(self.specs[i].width + 2 for i in flex)
        room = max(width - 1 - fixed, flex_base)  # 1: the vertical scrollbar
        widths = []
        spare = room - flex_base
        for i in visible:
            spec = self.specs[i]
            if spec.flex and flex:
                extra = spare // len(flex)
                widths.append(spec.width + extra)
            else:
                widths.append(spec.width)
        return visible, widths

    def on_mount(self) -> None:
        self._apply_columns(self.app.size.width)

    def on_resize(self) -> None:
        self._apply_columns(self.size.width or self.app.size.width)

    def _apply_columns(self, width: int) -> None:
        visible, widths = self._layout(width)
        if visible == self._visible and widths == self._widths:
            return
        cursor_key = self.current_key
        self._visible, self._widths = visible, widths
        with self.app.batch_update():
            self.clear(columns=True)
            for i, w in zip(visible, widths, strict=True):
                spec = self.specs[i]
                self.add_column(Text(spec.label, justify="right" if spec.right else "left"),
                                width=w, key=spec.key)
            for key in self._order:
                self.add_row(*self._project(self._rows[key]), key=key)
        self._restore_cursor(cursor_key)

    def _project(self, cells: Sequence[Text]) -> list[Text]:
        return [cells[i] for i in self._visible]

    # -- rows -------------------------------------------------------------------------------
    @property
    def current_key(self) -> str | None:
        if not self._order or self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        except Exception:
            return None
        return key.value

    def keys(self) -> list[str]:
        return list(self._order)

    def row_cells(self, key: str) -> tuple[Text, ...] | None:
        return self._rows.get(key)

    def sync(self, rows: Sequence[Row]) -> None:
        """Make the table show ``rows`` (in this order) with the fewest changes."""
        if len(rows) > self.cap:
            self.truncated = len(rows) - self.cap
            rows = rows[: self.cap]
        else:
            self.truncated = 0
        cursor_key = self.current_key
        cursor_index = self.cursor_row
        new_order = [key for key, _ in rows]
        wanted = set(new_order)
        if not self._visible:  # not mounted yet: remember, columns come on mount
            self._rows = {key: tuple(cells) for key, cells in rows}
            self._order = new_order
            return
        column_keys = [self.specs[i].key for i in self._visible]
        with self.app.batch_update():
            for key in [k for k in self._order if k not in wanted]:
                self.remove_row(key)
                del self._rows[key]
            for key, cells in rows:
                cells = tuple(cells)
                old = self._rows.get(key)
                if old is None:
                    self.add_row(*self._project(cells), key=key)
                elif old != cells:
                    for i, column_key in zip(self._visible, column_keys, strict=True):
                        if old[i] != cells[i]:
                            self.update_cell(key, column_key, cells[i])
                self._rows[key] = cells
            current = [key.value for key in self._row_order()]
            if current != new_order:
                self._reorder(new_order)
            self._order = new_order
        if cursor_key is not None and cursor_key in wanted:
            self._restore_cursor(cursor_key)
        elif self.row_count:
            self.move_cursor(row=min(cursor_index, self.row_count - 1), animate=False)

    def _row_order(self) -> list[RowKey]:
        locations = self._row_locations
        return sorted(self.rows, key=lambda k: locations.get(k))

    def _reorder(self, order: list[str]) -> None:
        # DataTable.sort() would need the order encoded in cell values; set it directly
        # (the same two lines sort() ends with; textual is pinned, a test covers this).
        existing = {row_key.value: row_key for row_key in self.rows}
        self._row_locations = TwoWayDict(
            {existing[key]: index for index, key in enumerate(order)})
        self._update_count += 1
        self.refresh()

    def _restore_cursor(self, key: str | None) -> None:
        if key is None or key not in self._rows:
            return
        try:
            index = self.get_row_index(key)
        except Exception:
            return
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False)

    # -- navigation -------------------------------------------------------------------------
    def action_half_page(self, direction: int) -> None:
        step = max(self.scrollable_content_region.height // 2, 1)
        row = max(0, min(self.row_count - 1, self.cursor_row + direction * step))
        self.move_cursor(row=row, animate=False)
