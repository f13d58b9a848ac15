"""Quit confirmation whose confirm key is no list key.

Why not the y/n ``ConfirmDialog``: on a list ``q`` opens this and ``y`` copies an id, so a
hurried ``q`` ``y`` (back, copy) stopped the engine, the API and every worker. Here only
``ctrl+q`` (pressed again) or the Quit button quits; ``y``, ``q``, ``n``, enter and esc keep
the console running (the default focus is Stay, so enter stays).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

QUIT_KEY = "ctrl+q"


class QuitDialog(ModalScreen[bool]):
    """``ctrl+q`` quits; ``esc``/``n``/``q``/``y`` stay (``y`` says which key quits)."""

    BINDINGS = [
        Binding(QUIT_KEY, "confirm", "quit", key_display="^q", priority=True, id="quit.confirm"),
        Binding("escape,n,q", "cancel", "stay", id="quit.cancel"),
        Binding("y", "hint", show=False, id="quit.hint"),
        Binding("left,h", "app.focus_previous", show=False, id="quit.left"),
        Binding("right,l", "app.focus_next", show=False, id="quit.right"),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Static(self.body, classes="dialog-body", markup=False)
            yield Static("ctrl+q quits · esc, n or q stays", classes="dialog-hint",
                         markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Stay (esc)", id="cancel", compact=True)
                yield Button("Quit (ctrl+q)", id="confirm", compact=True, variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_hint(self) -> None:
        self.notify("y does not quit here: ctrl+q quits, esc stays", severity="warning",
                    timeout=3)

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(False)
