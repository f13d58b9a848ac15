"""Pick a task priority with one key (0-3) or the arrows and enter."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

CHOICES = [("P0", "P0 critical"), ("P1", "P1 high"), ("P2", "P2 medium"), ("P3", "P3 low")]


class PriorityDialog(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape", "cancel", "cancel", id="dialog.cancel"),
        Binding("0", "pick('P0')", show=False, id="priority.p0"),
        Binding("1", "pick('P1')", show=False, id="priority.p1"),
        Binding("2", "pick('P2')", show=False, id="priority.p2"),
        Binding("3", "pick('P3')", show=False, id="priority.p3"),
    ]

    def __init__(self, current: str, subject: str) -> None:
        super().__init__()
        self.current = current
        self.subject = subject

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Priority of {self.subject}", classes="dialog-title", markup=False)
            yield OptionList(*[Option(f"{label}{'  (current)' if value == self.current else ''}",
                                      id=value) for value, label in CHOICES], id="priorities")
            yield Label("0-3 or enter picks, esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = [v for v, _ in CHOICES].index(self.current) \
            if self.current in dict(CHOICES) else 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_pick(self, value: str) -> None:
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)
