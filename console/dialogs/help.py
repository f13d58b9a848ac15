"""``?`` help: what the current view shows and every key it answers to (as remapped)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

GLOBAL_NOTES = (
    "1-7 jump to Overview, Runs, Tasks, Agents, Approvals, Events, Orchestrations.  "
    ": command mode (runs, tasks, run ID, task ID, q).  ctrl+p command palette."
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "close", "close", id="help.close"),
        Binding("j", "scroll('down')", show=False),
        Binding("k", "scroll('up')", show=False),
    ]

    def __init__(self, screen: Screen[object]) -> None:
        super().__init__()
        self.target = screen

    def compose(self) -> ComposeResult:
        title = getattr(self.target, "TITLE", "") or type(self.target).__name__
        with VerticalScroll(classes="dialog help", id="help-body"):
            yield Label(f"Help: {title}", classes="dialog-title", markup=False)
            about = getattr(self.target, "HELP", "")
            if about:
                yield Static(about, classes="dialog-body", markup=False)
            yield Static(self._keys(), id="help-keys")
            yield Static(GLOBAL_NOTES, classes="dialog-hint", markup=False)
            yield Static("esc or ? closes", classes="dialog-hint", markup=False)

    def _keys(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        table.add_column(style="dim")
        seen: set[tuple[str, str]] = set()
        for node, bindings in self.target._binding_chain:
            for key, items in bindings.key_to_bindings.items():
                for binding in items:
                    action = binding.action
                    if not binding.description or (key, action) in seen:
                        continue
                    check = getattr(node, "check_action", None)
                    params: tuple[object, ...] = ()
                    name = action.split("(", 1)[0].split(".")[-1]
                    if check is not None and check(name, params) is False and \
                            not name.startswith("view"):
                        continue
                    seen.add((key, action))
                    shown = binding.key_display or self.app.get_key_display(binding)
                    table.add_row(Text(shown), Text(binding.description), Text(binding.id or ""))
        return table

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll(self, direction: str) -> None:
        body = self.query_one("#help-body", VerticalScroll)
        body.scroll_relative(y=1 if direction == "down" else -1, animate=False)
