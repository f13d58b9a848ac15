"""What every console view shares: header, status line, filter bar, footer, live reloads.

A view declares what it shows (``reload``), which kinds of engine change concern it
(``WATCH``), and its keys (``BINDINGS``, each with an ``id`` so the keymap can move it).
Reloads are requested by live updates and by a slow poll (ages and heartbeats change with
time alone), and never overlap: a request that arrives while a reload runs sets a flag and
one more reload follows, at most every ``MIN_RELOAD_INTERVAL`` seconds.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import ScreenResume, ScreenSuspend
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static

from switchboard.console.backend import Backend, BackendError
from switchboard.console.messages import LiveUpdate
from switchboard.console.widgets.header import StatusHeader

if TYPE_CHECKING:
    from switchboard.console.app import SwitchboardApp

log = logging.getLogger("switchboard.console")

# Actions that change something: hidden and refused in read-only mode.
MUTATING_ACTIONS = frozenset({
    "approve", "reject", "open_form", "cancel_item", "retry_item", "change_priority",
    "start_run", "resume_run",
})


def parse_filter(text: str) -> tuple[dict[str, str], list[str]]:
    """``status:failed p:P0 deploy`` -> ({"status": "failed", "p": "P0"}, ["deploy"])."""
    fields: dict[str, str] = {}
    words: list[str] = []
    for token in text.split():
        key, sep, value = token.partition(":")
        if sep and key and value:
            fields[key.lower()] = value
        else:
            words.append(token.lower())
    return fields, words


def matches_words(words: list[str], *values: Any) -> bool:
    if not words:
        return True
    haystack = " ".join(str(v).lower() for v in values if v is not None)
    return all(word in haystack for word in words)


class FilterBar(Input):
    """The ``/`` filter: typing filters live; enter keeps it; esc clears it."""

    DEFAULT_CSS = """
    FilterBar {
        display: none;
        background: $boost;
    }
    FilterBar.-shown { display: block; }
    """

    BINDINGS = [Binding("escape", "clear_filter", "clear", show=False, id="filter.clear")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(compact=True, **kwargs)
        self.can_focus = False  # only while shown: a hidden input must never eat keys

    def show(self) -> None:
        self.can_focus = True
        self.add_class("-shown")
        self.focus()

    def hide(self) -> None:
        self.remove_class("-shown")
        self.can_focus = False

    def action_clear_filter(self) -> None:
        screen = self.screen
        if isinstance(screen, ViewScreen):
            screen.clear_filter()


class ViewScreen(Screen[None]):
    """Base of the list and detail views."""

    AUTO_FOCUS = "LiveTable, Log"

    TITLE: ClassVar[str] = ""
    VIEW: ClassVar[str] = ""  # the mode this screen is the root of ("" for detail views)
    HELP: ClassVar[str] = ""
    WATCH: ClassVar[frozenset[str]] = frozenset()
    MIN_RELOAD_INTERVAL: ClassVar[float] = 0.5
    POLL_INTERVAL: ClassVar[float] = 2.0
    STALE_AFTER: ClassVar[float] = 10.0  # the header says DATA n OLD past this (seconds)
    FILTERABLE: ClassVar[bool] = True
    FILTER_HINT: ClassVar[str] = "words to match"

    BINDINGS = [
        Binding("q", "back", "back", id="app.back"),
        Binding("q", "quit_root", "quit", id="app.back"),
        Binding("escape", "escape", "back", show=False, id="app.escape"),
        Binding("slash", "filter", "filter", id="view.filter"),
        Binding("p", "pause", "pause", show=False, id="view.pause"),
        Binding("y", "copy_id", "copy id", show=False, id="view.copy_id"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._loading = False
        self._again = False
        self._last_load = 0.0
        self._reload_timer: Timer | None = None
        self._poll: Timer | None = None
        self._missed = 0
        self.paused = False
        self.paused_at: float | None = None  # app clock time of the pause (header: PAUSED 3m)
        self.loaded_at: float | None = None  # app clock time of the last good load
        self.filter_text = ""
        self.loaded = False
        self._seen_seq = 0

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def sb_app(self) -> SwitchboardApp:
        return self.app  # type: ignore[return-value]

    @property
    def backend(self) -> Backend:
        return self.sb_app.backend

    @property
    def now(self) -> float:
        return self.sb_app.clock.now()

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.TITLE)
        with Vertical(id="body"):
            yield Static("", id="status-line", markup=False)
            yield from self.compose_body()
            yield FilterBar(placeholder=f"filter: {self.FILTER_HINT}  (enter keeps, esc clears)",
                            id="filter")
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        filter_bar = self.query_one(FilterBar)
        filter_bar.cursor_blink = self.sb_app.cursor_blink
        self.request_reload(immediate=True)

    @on(ScreenResume)
    def _resumed(self) -> None:
        if self._poll is None:
            self._poll = self.set_interval(self.POLL_INTERVAL, self.request_reload)
        else:
            self._poll.resume()
        if self.loaded:
            self.request_reload(immediate=True)
        self.sb_app.current_view_changed(self)

    @on(ScreenSuspend)
    def _suspended(self) -> None:
        if self._poll is not None:
            self._poll.pause()

    # -- reloads ----------------------------------------------------------------------------
    @property
    def idle(self) -> bool:
        """Loaded, and no reload running or scheduled (tests and benchmarks wait for this)."""
        return self.loaded and not self._loading and self._reload_timer is None \
            and not self._again
    def request_reload(self, immediate: bool = False) -> None:
        if self.paused and self.loaded:
            return
        if self._loading:
            self._again = True
            return
        wait = 0.0 if immediate else self.MIN_RELOAD_INTERVAL - (time.monotonic() - self._last_load)
        if wait > 0:
            if self._reload_timer is None:
                self._reload_timer = self.set_timer(wait, self._start_reload)
            return
        self._start_reload()

    def _start_reload(self) -> None:
        self._reload_timer = None
        if self._loading:
            self._again = True
            return
        self._loading = True
        self.run_worker(self._reload_once(), group="reload", exit_on_error=False)

    async def _reload_once(self) -> None:
        try:
            await self.sb_app.ready.wait()
            await self.reload()
            self.loaded = True
            self.loaded_at = self.now
        except BackendError as exc:
            if not self.sb_app.note_backend_error(exc):
                self.show_problem(exc.detail)
        finally:
            self._loading = False
            self._last_load = time.monotonic()
            if self._again and self.is_attached:
                self._again = False
                self.request_reload()

    async def reload(self) -> None:
        """Fetch and show this view's data (override)."""

    def show_problem(self, detail: str) -> None:
        self.set_status(Text(detail, style="bold"))

    def set_status(self, text: Text | str) -> None:
        line = Text(text) if isinstance(text, str) else text
        self._status_base = line
        marks: list[Text] = []
        if self.filter_text:
            marks.append(Text(f"filter: {self.filter_text}", style="italic"))
        if self.paused:
            extra = f" ({self._missed} updates held)" if self._missed else ""
            marks.append(Text(f"PAUSED{extra} - p resumes", style="bold reverse"))
        if marks:
            line = Text(" · ").join([line, *marks])
        self.query_one("#status-line", Static).update(line)

    def refresh_status(self) -> None:
        """Re-render the status line (after pause or filter changes)."""
        base = getattr(self, "_status_base", None)
        if base is not None:
            self.set_status(base)

    def new_events(self, upto_seq: int) -> list[Any]:
        """Events the app buffered since this screen last asked (oldest first)."""
        out = []
        for event in reversed(self.sb_app.recent_events):
            if event.seq <= self._seen_seq:
                break
            if event.seq <= upto_seq:
                out.append(event)
        self._seen_seq = max(self._seen_seq, upto_seq)
        out.reverse()
        return out

    def on_live_update(self, message: LiveUpdate) -> None:
        if not (message.kinds & self.WATCH):
            return
        if self.paused:
            self._missed += 1
            self.refresh_status()
            for header in self.query(StatusHeader):
                header.refresh()
            return
        self.request_reload(immediate="approvals" in message.kinds and "approvals" in self.WATCH)

    # -- keys -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MUTATING_ACTIONS and self.sb_app.read_only:
            return False
        if action == "filter" and not self.FILTERABLE:
            return False
        if action in ("back", "quit_root"):
            return (action == "quit_root") == self.is_root
        return True

    @property
    def is_root(self) -> bool:
        """The bottom of its mode's stack (q quits there; elsewhere q goes back)."""
        stack = self.sb_app.screen_stack
        return not stack or stack[0] is self or not self.is_attached

    def on_key(self, event: events.Key) -> None:
        """In read-only mode, a key bound to an action says it is refused (the binding itself
        is hidden and inactive, so without this the key would do nothing, silently)."""
        if not self.sb_app.read_only:
            return
        for _node, bindings in self._binding_chain:
            for binding in bindings.key_to_bindings.get(event.key, ()):
                name = binding.action.split("(", 1)[0].split(".")[-1]
                if name in MUTATING_ACTIONS:
                    self.notify(f"read-only mode: {binding.description or name} is disabled",
                                severity="warning", timeout=3)
                    event.stop()
                    event.prevent_default()
                    return

    def refuse_if_read_only(self, what: str) -> bool:
        if self.sb_app.read_only:
            self.notify(f"read-only mode: {what} is disabled", severity="warning")
            return True
        return False

    def action_quit_root(self) -> None:
        self.sb_app.action_request_quit()

    def action_back(self) -> None:
        if not self.is_root:
            self.dismiss()
        else:
            self.sb_app.action_request_quit()

    def action_escape(self) -> None:
        if self.filter_text:
            self.clear_filter()
        elif not self.is_root:
            self.dismiss()

    def action_filter(self) -> None:
        self.query_one(FilterBar).show()

    @property
    def held(self) -> int:
        """Live updates that arrived while paused (shown, not applied)."""
        return self._missed

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._missed = 0
        self.paused_at = self.now if self.paused else None
        for header in self.query(StatusHeader):
            header.refresh()
        if not self.paused:
            self.request_reload(immediate=True)
        # no toast: the header says PAUSED for as long as it lasts (a toast is gone in 2 s)
        self.refresh_status()

    def action_copy_id(self) -> None:
        value = self.selected_id()
        if value:
            self.app.copy_to_clipboard(value)
            self.notify(f"copied {value}", timeout=2)

    def selected_id(self) -> str | None:
        return None

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.request_reload()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        bar = self.query_one(FilterBar)
        if not bar.value.strip():
            bar.hide()
        self.focus_main()

    def clear_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.value = ""
        bar.hide()
        self.filter_text = ""
        self.focus_main()
        self.request_reload(immediate=True)

    def focus_main(self) -> None:
        self.focus_next()
