"""The one-line header: view, pause marker, server address, connection state, approvals
badge, clock.

Every part is words (``connected``, ``P0 CRITICAL 1``, ``3 APPROVALS WAITING``,
``PAUSED 3m``); colour only repeats them. The header never pauses: it reads the app's live
state every second, so a paused view cannot hide that approvals arrived. When the line is
too narrow, parts go in this order: the address, the clock, then the long wording of the
badge (the counts stay). The clock comes from the app's injected clock, so snapshots never
show the wall clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from switchboard.console.backend import ConnectionState
from switchboard.console.formatting import age, clock_text, tint

if TYPE_CHECKING:
    from switchboard.console.app import SwitchboardApp

STATE_STYLES = {
    ConnectionState.CONNECTED: "green",
    ConnectionState.CONNECTING: "yellow",
    ConnectionState.RECONNECTING: "bold yellow",
    ConnectionState.DISCONNECTED: "bold reverse red",
    ConnectionState.UNAUTHORIZED: "bold reverse red",
}


STALE_AFTER = 10.0  # seconds; views reload every 2 s while live


def compact_address(address: str) -> str:
    """``http://127.0.0.1:8000/api/v1`` -> ``127.0.0.1:8000`` (the header is one line)."""
    text = address.removeprefix("http://").removeprefix("https://")
    return text.removesuffix("/").removesuffix("/api/v1")


def badge_variants(app: SwitchboardApp) -> list[Text]:
    """The approvals badge from the longest wording to the shortest.

    P0 first, in its own segment with the word CRITICAL (not colour alone: under NO_COLOR
    a P0 and a P2 looked the same); "unknown" until the console has actually read the
    inbox (a refused token used to sit beside "no approvals waiting" while some waited)."""
    variants = _badges(app)
    if app.new_approvals:  # "+2 NEW" while fresh, dropped first when there is no room
        flash = Text(f" +{app.new_approvals} NEW ", style="bold reverse")
        variants = [flash + Text(" ") + v for v in variants] + variants
    return variants


def _badges(app: SwitchboardApp) -> list[Text]:
    if not app.approvals_known:
        return [Text("approvals unknown", style="bold"), Text("approvals ?", style="bold")]
    waiting = app.approvals_waiting
    if not waiting:
        return [Text("no approvals waiting", style="dim"), Text("0 waiting", style="dim")]
    p0 = app.approvals_by_priority.get("P0", 0)
    plural = "S" if waiting != 1 else ""
    long = Text(f" {waiting} APPROVAL{plural} WAITING ", style=tint("bold reverse yellow"))
    short = Text(f" {waiting} WAITING ", style=tint("bold reverse yellow"))
    if not p0:
        return [long, short, Text(f" {waiting} WAIT ", style=tint("bold reverse yellow"))]
    critical = Text(f" P0 CRITICAL {p0} ", style=tint("bold reverse red"))
    return [critical + Text(" ") + long, critical + Text(" ") + short,
            Text(f" P0 {p0} ", style=tint("bold reverse red")) + Text(" ") + short,
            Text(f" P0 {p0}/{waiting} ", style=tint("bold reverse red"))]


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
        self._cache_key: tuple[object, ...] | None = None
        self._cache_line: Text | None = None

    @property
    def sb_app(self) -> SwitchboardApp:
        return self.app  # type: ignore[return-value]

    def on_mount(self) -> None:
        self.sb_app.status_changed.subscribe(self, lambda _: self.refresh())
        self.set_interval(1.0, self.refresh)

    def pause_text(self) -> Text | None:
        """``PAUSED 3m · 5 held`` while the screen under this header is paused; otherwise
        ``DATA 40s OLD`` when its last good load is older than ``STALE_AFTER`` seconds (its
        reloads fail, or the server stopped answering): never old numbers passed off as
        live."""
        screen = self.screen
        if not getattr(screen, "paused", False):
            loaded_at = getattr(screen, "loaded_at", None)
            if loaded_at is None:
                return None
            old = self.sb_app.clock.now() - loaded_at
            if old < getattr(screen, "STALE_AFTER", STALE_AFTER):
                return None
            return Text(f" DATA {age(old)} OLD ", style="bold reverse")
        since = getattr(screen, "paused_at", None)
        held = getattr(screen, "held", 0)
        text = "PAUSED"
        if since is not None:
            text += f" {age(self.sb_app.clock.now() - since)}"
        if held:
            text += f" · {held} held"
        return Text(f" {text} ", style="bold reverse")

    def render(self) -> Text:
        app = self.sb_app
        width = self.size.width or 80
        state = app.connection_state
        paused = self.pause_text()
        # the inputs of the line: an unchanged line is not built again (every frame of a
        # view switch renders the header; building it cost more than the rest of the switch)
        key = (width, self.view_title, app.read_only, paused.plain if paused else "",
               state, app.approvals_known, app.approvals_waiting,
               tuple(sorted(app.approvals_by_priority.items())), app.new_approvals,
               int(app.clock.now()), app.server_address)
        if key == self._cache_key and self._cache_line is not None:
            return self._cache_line
        left = Text.assemble((" Switchboard", "bold"), " ▸ ", (self.view_title, "bold"))
        if app.read_only:
            left.append("  READ-ONLY", style="bold reverse")
        if paused is not None:
            left.append("  ")
            left.append_text(paused)
        state_word = str(state)
        if state == ConnectionState.UNAUTHORIZED:
            state_word = "UNAUTHORIZED - ctrl+l logs in"
        state_text = Text(state_word, style=tint(STATE_STYLES.get(state, "")))
        clock = Text(clock_text(app.clock.now()) + " UTC ", style="")
        badges = badge_variants(app)
        candidates: list[list[Text]] = []
        for address in (app.server_address, compact_address(app.server_address)):
            if address:
                candidates.append([Text(address, style="dim"), state_text, badges[0], clock])
        candidates.append([state_text, badges[0], clock])
        candidates.extend([state_text, badge] for badge in badges)
        # a very narrow terminal: the badge alone while connected, else the state alone
        candidates.append([badges[-1]] if state == ConnectionState.CONNECTED else [state_text])
        room = width - left.cell_len - 1
        chosen = candidates[-1]
        for parts in candidates:  # lengths first: only the line shown is built
            if sum(p.cell_len for p in parts) + 2 * (len(parts) - 1) <= room:
                chosen = parts
                break
        right = Text("  ").join(chosen)
        gap = max(width - left.cell_len - right.cell_len, 1)
        line = Text.assemble(left, " " * gap, right)
        line.truncate(width)
        self._cache_key, self._cache_line = key, line
        return line
