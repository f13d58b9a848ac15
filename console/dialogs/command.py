"""The ``:`` command line (k9s style), with completion of the known commands."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label


class CommandPrompt(ModalScreen[str | None]):
    DEFAULT_CSS = """
    CommandPrompt {
        align: left bottom;
        background: transparent;
    }
    CommandPrompt > Horizontal {
        dock: bottom;
        height: 1;
        width: 100%;
        background: $boost;
    }
    CommandPrompt Label { width: 2; padding: 0 0 0 1; text-style: bold; }
    CommandPrompt Input { width: 1fr; background: $boost; }
    """

    BINDINGS = [Binding("escape", "cancel", "cancel", id="command.cancel")]

    def __init__(self, words: Sequence[str], *, cursor_blink: bool = True) -> None:
        super().__init__()
        self.words = list(words)
        self.blink = cursor_blink

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(":")
            yield Input(placeholder=":runs :tasks :agents :approvals :events :orchestrations "
                                    ":run ID :q", suggester=SuggestFromList(self.words),
                        id="command-input", compact=True)

    def on_mount(self) -> None:
        field = self.query_one(Input)
        field.cursor_blink = self.blink
        field.focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
