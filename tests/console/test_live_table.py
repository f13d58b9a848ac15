"""LiveTable: keyed diff, cursor follows its record, cap, keys."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from switchboard.console.widgets.live_table import Col, LiveTable

COLUMNS = [Col("id", "ID", 6), Col("name", "NAME", 10, flex=True), Col("n", "N", 4, right=True)]


def rows(*items: tuple[str, str, int]) -> list[tuple[str, list[Text]]]:
    return [(key, [Text(key), Text(name), Text(str(n))]) for key, name, n in items]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LiveTable(COLUMNS, cap=3, id="t")


async def test_diff_keeps_cursor_on_its_record() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(LiveTable)
        table.focus()
        table.sync(rows(("a", "alpha", 1), ("b", "beta", 2), ("c", "gamma", 3)))
        await pilot.press("j")
        assert table.current_key == "b"
        versions = dict(table._versions)
        # a new row above, b changed, c gone: the cursor stays on b
        table.sync(rows(("z", "zeta", 0), ("a", "alpha", 1), ("b", "beta", 5)))
        await pilot.pause()
        assert table.keys() == ["z", "a", "b"]
        assert table.current_key == "b" and table.cursor_row == 2
        assert table._versions["a"] == versions["a"]  # untouched rows keep their render
        assert table._versions["b"] > versions["b"]
        # the cursor's record disappears: the cursor stays at its index
        table.sync(rows(("z", "zeta", 0), ("a", "alpha", 1)))
        await pilot.pause()
        assert table.current_key == "a"


async def test_cap_and_navigation_keys() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(LiveTable)
        table.focus()
        table.sync(rows(*[(f"k{i}", f"n{i}", i) for i in range(10)]))
        assert table.row_count == 3 and table.truncated == 7
        await pilot.press("G")
        assert table.current_key == "k2"
        await pilot.press("g")
        assert table.current_key == "k0"
        selected: list[str] = []
        app.screen.on_live_table_row_selected = lambda e: selected.append(e.row_key)  # type: ignore[attr-defined]
        await pilot.press("j", "enter")
        await pilot.pause()
        assert table.current_key == "k1"


async def test_renders_header_and_right_aligned_cells() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 6)) as pilot:
        table = app.query_one(LiveTable)
        table.sync(rows(("a", "a name that is far too long", 7)))
        await pilot.pause()
        header = "".join(seg.text for seg in table.render_line(0))
        line = "".join(seg.text for seg in table.render_line(1))
        assert header.split() == ["ID", "NAME", "N"]
        assert "…" in line and line.rstrip().endswith("7")


async def test_a_row_that_comes_back_changed_is_drawn_anew() -> None:
    """Issue 13: filter status:failed, retry a task, let it finish, change the filter: the
    row came back showing "failed" (its version restarted and met the old cached strip)."""
    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(LiveTable)
        table.sync(rows(("x", "other", 0), ("a", "failed", 1)))
        await pilot.pause()
        assert "failed" in table.render_line(2).text
        table.sync(rows(("x", "other", 0)))  # the filter changed: a left
        await pilot.pause()
        table.sync(rows(("x", "other", 0), ("a", "completed", 1)))  # a is back, changed
        await pilot.pause()
        assert "completed" in table.render_line(2).text
