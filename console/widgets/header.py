"""The one-line header: view, server address, connection state, approvals badge, clock.

Every part is words (``connected``, ``3 APPROVALS WAITING``); colour only repeats them.
The clock comes from the app's injected clock, so snapshots never show the wall clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from switchboard.console.backend import ConnectionState
from switchboard.console.formatting import clock_text, tint

if TYPE_CHECKING:
    from switchboard.console.app import SwitchboardApp

STATE_STYLES = {
    ConnectionState.CONNECTED: "green",
    ConnectionState.CONNECTING: "yellow",
    ConnectionState.RECONNECTING: "bold yellow",
    ConnectionState.DISCONNECTED: "bold reverse red",
}


def compact_address(address: str) -> str:
    """``http://127.0.0.1:8000/api/v1`` -> ``127.0.0.1:8000`` (the header is one line)."""
    text = address.removeprefix("http://").removeprefix("https://")
    return text.removesuffix("/").removesuffix("/api/v1")


class StatusHeader(Widget):
    DEFAULT_CSS = """
    StatusHeader {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    view_title: reactive[str] = reactive("", layout=False)

    def __init__(self, title: str) -> None:
        super().__init__()
        self.view_title = title

    @property
    def sb_app(self) -> SwitchboardApp:
        return self.app  # type: ignore[return-value]

    def on_mount(self) -> None:
        self.sb_app.status_changed.subscribe(self, lambda _: self.refresh())
        self.set_interval(1.0, self.refresh)

    def render(self) -> Text:
        app = self.sb_app
        width = self.size.width or 80
        left = Text.assemble((" Switchboard", "bold"), " ▸ ", (self.view_title, "bold"))
        if app.read_only:
            left.append("  READ-ONLY", style="bold reverse")
        state = app.connection_state
        waiting = app.approvals_waiting
        if waiting:
            badge = Text(f" {waiting} APPROVAL{'S' if waiting != 1 else ''} WAITING ",
                         style=tint("bold reverse yellow"))
        else:
            badge = Text("no approvals waiting", style="dim")
        clock = Text(clock_text(app.clock.now()) + " UTC ", style="")
        state_text = Text(str(state), style=tint(STATE_STYLES.get(state, "")))
        right = Text("  ").join([state_text, badge, clock])
        # the address as given if it fits, then without scheme and /api/v1, then not at all
        for address in (app.server_address, compact_address(app.server_address)):
            full = Text("  ").join([Text(address, style="dim"), state_text, badge, clock])
            if address and left.cell_len + full.cell_len + 1 <= width:
                right = full
                break
        gap = max(width - left.cell_len - right.cell_len, 1)
        line = Text.assemble(left, " " * gap, right)
        line.truncate(width)
        return line
