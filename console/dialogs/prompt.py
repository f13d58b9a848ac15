"""Ask for one line of text: a rejection reason, a run's message."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class PromptDialog(ModalScreen[str | None]):
    """Enter submits, esc cancels. ``required`` refuses an empty answer, saying so."""

    BINDINGS = [Binding("escape", "cancel", "cancel", id="dialog.cancel")]

    def __init__(self, title: str, label: str, *, body: str = "", required: bool = True,
                 placeholder: str = "", submit_hint: str = "enter submits, esc cancels",
                 value: str = "", password: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.label = label
        self.body = body
        self.required = required
        self.placeholder = placeholder
        self.submit_hint = submit_hint
        self.initial = value
        self.password = password  # a credential: never shown on screen

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            if self.body:
                yield Static(self.body, classes="dialog-body", markup=False)
            yield Label(self.label + (" *" if self.required else ""), markup=False)
            yield Input(value=self.initial, placeholder=self.placeholder, id="prompt-input",
                        password=self.password)
            yield Static("", id="prompt-error", classes="field-error", markup=False)
            yield Static(self.submit_hint, classes="dialog-hint", markup=False)

    def on_mount(self) -> None:
        field = self.query_one("#prompt-input", Input)
        field.cursor_blink = getattr(self.app, "cursor_blink", True)
        field.focus()

    @on(Input.Submitted, "#prompt-input")
    def _submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if self.required and not value:
            self.query_one("#prompt-error", Static).update("error: this is required")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)
