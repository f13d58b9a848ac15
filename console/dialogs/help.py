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
    ": command mode (runs, tasks, run ID, task ID, q).  ctrl+p command palette.  "
    "q goes back; on a top view it asks to quit, and only ctrl+q confirms.  p pauses a "
    "view (the header says PAUSED).  Attached: ctrl+l logs in again."
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "close", "close", id="help.close"),
        Binding("j,down", "scroll('down')", show=False, id="help.down"),
        Binding("k,up", "scroll('up')", show=False, id="help.up"),
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
        chain = list(self.target._binding_chain)
        screen_and_app = [(n, b) for n, b in chain if n is self.target or n is self.app]
        widgets = [(n, b) for n, b in chain if not (n is self.target or n is self.app)]
        groups = [("This view", screen_and_app[:1]), ("Everywhere", screen_and_app[1:]),
                  ("Moving around", widgets)]
        seen: set[tuple[str, str]] = set()
        for title, nodes in groups:
            rows: list[tuple[Text, Text, Text]] = []
            for node, bindings in nodes:
                for key, items in bindings.key_to_bindings.items():
                    for binding in items:
                        action = binding.action
                        if not binding.description or (key, action) in seen:
                            continue
                        if not binding.id:
                            continue  # Textual's own (tab, copy...): not ours to explain
                        name = action.split("(", 1)[0].split(".")[-1]
                        if name in ("back", "quit_root"):
                            root = bool(getattr(self.target, "VIEW", ""))
                            if (name == "quit_root") != root:
                                continue
                        check = getattr(node, "check_action", None)
                        if check is not None and name not in ("view", "back", "quit_root") \
                                and check(name, ()) is False:
                            continue
                        seen.add((key, action))
                        shown = binding.key_display or self.app.get_key_display(binding)
                        rows.append((Text(shown), Text(binding.description),
                                     Text(binding.id or "")))
            if rows:
                table.add_row(Text(title, style="bold underline"), Text(""), Text(""))
                for row in rows:
                    table.add_row(*row)
                table.add_row(Text(""), Text(""), Text(""))
        return table

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll(self, direction: str) -> None:
        body = self.query_one("#help-body", VerticalScroll)
        body.scroll_relative(y=1 if direction == "down" else -1, animate=False)
