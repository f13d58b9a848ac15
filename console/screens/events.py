"""Events: the live tail of everything the engine commits.

Tail mode follows new events; scrolling up (k, g, page up) leaves tail mode without losing
anything (new events keep arriving below, counted in the status line); ``t`` or ``G`` goes
back to the tail. ``p`` pauses the display entirely. ``/`` filters by type prefix or words
(``task.`` ``approval`` ``agent_3``).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Log

from switchboard.console.formatting import clock_text, event_summary, tint
from switchboard.console.messages import LiveUpdate
from switchboard.console.screens.base import ViewScreen
from switchboard.server.contract import Event

MAX_LINES = 5000


def event_line(event: Event) -> str:
    line = (f"{clock_text(event.timestamp)} {event.seq:>6} {event.event_type:<21} "
            f"{event_summary(event)}")
    return line if len(line) <= 240 else line[:239] + "…"


class EventsScreen(ViewScreen):
    TITLE = "Events"
    VIEW = "events"
    WATCH = frozenset({"events"})
    FILTER_HINT = "type prefix or words: task. approval.decided agent_1"
    POLL_INTERVAL = 30.0
    STALE_AFTER = 65.0  # new events append without a reload; the poll confirms every 30 s
    HELP = ("The live event stream, newest at the bottom. TAIL means new events scroll into "
            "view; scroll up (k, g, page up) to read back without losing anything, t or G "
            "returns to the tail. p pauses the display. / filters by event type prefix or "
            "words. enter opens what the bottom line is about: its task, run, approval or "
            "agent (the status line names it).")

    BINDINGS = [
        Binding("t", "tail", "tail", id="events.tail"),
        Binding("k,up", "scroll_up", "up", show=False, id="events.up"),
        Binding("j,down", "scroll_down", "down", show=False, id="events.down"),
        Binding("g,home", "scroll_top", "top", show=False, id="events.top"),
        Binding("G,end", "tail", "bottom", show=False, id="events.bottom"),
        Binding("pageup,ctrl+u", "page(-1)", "page up", show=False, id="events.page_up"),
        Binding("pagedown,ctrl+d", "page(1)", "page down", show=False, id="events.page_down"),
        Binding("p", "pause", "pause", id="view.pause"),
        Binding("enter", "open_event", "open", id="events.open"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.tail = True
        self.last_seq = 0
        self.shown = 0
        self.unseen = 0
        self._filter_applied = ""
        self.shown_events: list[Event] = []  # one per line of the log, same order

    def compose_body(self) -> ComposeResult:
        yield Log(max_lines=MAX_LINES, id="events-log", auto_scroll=True, highlight=False,
                  classes="tail")

    @property
    def log_widget(self) -> Log:
        return self.query_one("#events-log", Log)

    def focus_main(self) -> None:
        self.log_widget.focus()

    def _wanted(self, event: Event) -> bool:
        text = self.filter_text.lower()
        if not text:
            return True
        for word in text.split():
            if event.event_type.startswith(word) or word in event.event_type:
                continue
            if word in event_summary(event).lower() or word in str(event.seq):
                continue
            return False
        return True

    async def reload(self) -> None:
        """First load, and a full rebuild when the filter changes."""
        if self.loaded and self.filter_text == self._filter_applied:
            self._append_new()
            return
        self._filter_applied = self.filter_text
        buffered = list(self.sb_app.recent_events)
        if len(buffered) < 1000:
            history = await self.backend.recent_events(1000)
            first = buffered[0].seq if buffered else None
            events = [e for e in history if first is None or e.seq < first] + buffered
        else:
            events = buffered
        wanted = [e for e in events if self._wanted(e)][-MAX_LINES:]
        log = self.log_widget
        log.clear()
        log.write_lines(event_line(e) for e in wanted)
        self.shown_events = wanted
        self.shown = len(wanted)
        self.last_seq = events[-1].seq if events else 0
        self.unseen = 0
        if self.tail:
            log.scroll_end(animate=False)
        self.refresh_status()

    def _append_new(self) -> None:
        self.loaded_at = self.now
        new = [e for e in self.sb_app.recent_events if e.seq > self.last_seq]
        if not new:
            return
        self.last_seq = new[-1].seq
        wanted = [e for e in new if self._wanted(e)]
        if not wanted:
            return
        log = self.log_widget
        log.auto_scroll = self.tail
        log.write_lines(event_line(e) for e in wanted)
        self.shown_events = (self.shown_events + wanted)[-MAX_LINES:]
        self.shown = min(self.shown + len(wanted), MAX_LINES)
        if not self.tail:
            self.unseen += len(wanted)
        self.refresh_status()

    def on_live_update(self, message: LiveUpdate) -> None:
        if self.paused:
            self._missed += 1
            self.refresh_status()
            return
        if self.loaded and self.filter_text == self._filter_applied:
            self._append_new()  # cheap, synchronous: no reload round trip
        else:
            self.request_reload()

    def refresh_status(self) -> None:
        if self.tail:
            mode = Text(" TAIL ", style="bold reverse")
        else:
            more = f", {self.unseen} new below" if self.unseen else ""
            mode = Text(f" SCROLLED{more} - t returns to the tail ", style=tint("bold reverse yellow"))
        target = self.target_event()
        opens = f" · enter opens #{target.seq} {target.event_type}" if target else ""
        self.set_status(Text.assemble(mode, f" {self.shown:,} events · last seq "
                                            f"{self.last_seq}{opens}"))

    def target_event(self) -> Event | None:
        """The event on the bottom line in view (the newest while tailing)."""
        if not self.shown_events:
            return None
        if self.tail:  # the newest, even before the log has scrolled to it
            return self.shown_events[-1]
        log = self.log_widget
        height = log.scrollable_content_region.height or log.size.height
        index = int(log.scroll_y) + max(height, 1) - 1
        return self.shown_events[max(0, min(index, len(self.shown_events) - 1))]

    def action_open_event(self) -> None:
        """Open what the event is about: its task, run, approval or agent."""
        event = self.target_event()
        if event is None:
            return
        payload = event.payload or {}
        approval_id = payload.get("approval_id")
        app = self.sb_app
        if event.event_type.startswith("approval.") and approval_id:
            app.open_record("approval", str(approval_id), here=True)
        elif event.task_id:
            app.open_record("task", event.task_id, here=True)
        elif event.run_id:
            app.open_record("run", event.run_id, here=True)
        elif event.agent_id or payload.get("agent_id"):
            app.open_record("agent", str(event.agent_id or payload.get("agent_id")), here=True)
        else:
            self.notify(f"event #{event.seq} ({event.event_type}) names no task, run, "
                        "approval or agent", severity="warning", timeout=3)

    # -- scrolling --------------------------------------------------------------------------
    def _leave_tail(self) -> None:
        if self.tail:
            self.tail = False
            self.log_widget.auto_scroll = False
            self.refresh_status()

    def action_scroll_up(self) -> None:
        self._leave_tail()
        self.log_widget.scroll_relative(y=-1, animate=False)
        self.refresh_status()

    def action_scroll_down(self) -> None:
        log = self.log_widget
        log.scroll_relative(y=1, animate=False)
        self.refresh_status()

    def action_scroll_top(self) -> None:
        self._leave_tail()
        self.log_widget.scroll_home(animate=False)
        self.refresh_status()

    def action_page(self, direction: int) -> None:
        log = self.log_widget
        if direction < 0:
            self._leave_tail()
        log.scroll_relative(y=direction * max(log.size.height - 1, 1), animate=False)
        self.refresh_status()

    def action_tail(self) -> None:
        self.tail = True
        self.unseen = 0
        log = self.log_widget
        log.auto_scroll = True
        log.scroll_end(animate=False)
        self.refresh_status()

    def action_pause(self) -> None:
        super().action_pause()
        if not self.paused:
            self._append_new()
