"""Yes/no confirmation. The default focus is Cancel: enter alone never confirms."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmDialog(ModalScreen[bool]):
    """``y`` confirms, ``n``/``esc`` cancel; with ``require_text`` the operator must type it
    (e.g. the id of what is about to be destroyed) before Confirm does anything."""

    BINDINGS = [
        Binding("y", "confirm", "yes", id="dialog.yes"),
        Binding("n", "cancel", "no", id="dialog.no"),
        Binding("escape", "cancel", "cancel", id="dialog.cancel"),
        Binding("left,h", "app.focus_previous", show=False, id="dialog.left"),
        Binding("right,l", "app.focus_next", show=False, id="dialog.right"),
    ]

    def __init__(self, title: str, body: str, *, confirm: str = "Confirm", cancel: str = "Cancel",
                 danger: bool = True, require_text: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm
        self.cancel_label = cancel
        self.danger = danger
        self.require_text = require_text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield Static(self.body, classes="dialog-body", markup=False)
            if self.require_text:
                yield Label(f"Type {self.require_text} to confirm:", markup=False)
                yield Input(id="confirm-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.cancel_label} (n)", id="cancel", compact=True)
                yield Button(f"{self.confirm_label} (y)", id="confirm", compact=True,
                             variant="error" if self.danger else "primary")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()
        for widget in self.query(Input):
            widget.cursor_blink = getattr(self.app, "cursor_blink", True)

    def _typed_ok(self) -> bool:
        if not self.require_text:
            return True
        value = self.query_one("#confirm-text", Input).value.strip()
        if value != self.require_text:
            self.notify(f"type {self.require_text} exactly to confirm", severity="warning")
            return False
        return True

    def action_confirm(self) -> None:
        if self._typed_ok():
            self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(False)

    @on(Input.Submitted, "#confirm-text")
    def _typed(self) -> None:
        self.action_confirm()
