"""A full-screen log for one task or run: scrollable, searchable (``/``), follow mode.

Why a screen of its own: in a task's detail at 80x24 the log pane had four lines and no way
to scroll, so "why did this fail" needed a wider terminal. ``l`` on a task or run opens this
view with every line; ``/`` keeps the lines containing every word typed; FOLLOW keeps the
newest line in view until the operator scrolls up (``k``, ``g``, page up), ``t``/``G``
follows again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Log

from switchboard.console.formatting import tint
from switchboard.console.messages import LiveUpdate
from switchboard.console.screens.base import ViewScreen

LineSource = Callable[[], Awaitable[list[str]]]


class LogScreen(ViewScreen):
    """Every line of one task's or run's log. See the module docstring."""

    TITLE = "Log"
    WATCH = frozenset({"tasks", "runs"})
    FILTER_HINT = "words every shown line must contain"
    HELP = ("Every line of this log, newest at the bottom. FOLLOW keeps the newest in view; "
            "k, g or page up scroll back (new lines keep arriving below), t or G follows "
            "again. / keeps only the lines containing every word typed; esc clears it, q "
            "goes back.")

    BINDINGS = [
        Binding("t", "follow", "follow", id="log.follow"),
        Binding("k,up", "scroll_up", "up", show=False, id="log.up"),
        Binding("j,down", "scroll_down", "down", show=False, id="log.down"),
        Binding("g,home", "scroll_top", "top", show=False, id="log.top"),
        Binding("G,end", "follow", "bottom", show=False, id="log.bottom"),
        Binding("pageup,ctrl+u", "page(-1)", "page up", show=False, id="log.page_up"),
        Binding("pagedown,ctrl+d", "page(1)", "page down", show=False, id="log.page_down"),
    ]

    def __init__(self, title: str, source: LineSource, *, subject: str) -> None:
        super().__init__()
        self.TITLE = title  # type: ignore[misc]  # the header says whose log this is
        self.source = source
        self.subject = subject  # the task or run id whose events concern this log
        self.follow = True
        self.lines: list[str] = []
        self._shown: list[str] | None = None

    def compose_body(self) -> ComposeResult:
        yield Log(max_lines=20_000, id="log-view", auto_scroll=True, highlight=False)

    @property
    def log_widget(self) -> Log:
        return self.query_one("#log-view", Log)

    def focus_main(self) -> None:
        self.log_widget.focus()

    def on_live_update(self, message: LiveUpdate) -> None:
        if any(self.subject in (e.task_id, e.run_id)
               for e in self.new_events(message.upto_seq)):
            super().on_live_update(message)

    async def reload(self) -> None:
        self.lines = await self.source()
        words = [w.lower() for w in self.filter_text.split()]
        shown = [line for line in self.lines if all(w in line.lower() for w in words)]
        log = self.log_widget
        if self._shown is not None and shown[:len(self._shown)] == self._shown:
            new = shown[len(self._shown):]  # only lines were added: keep the scroll place
            if new:
                log.auto_scroll = self.follow
                log.write_lines(new)
        else:
            log.clear()
            log.write_lines(shown)
            if self.follow:
                log.scroll_end(animate=False)
        self._shown = shown
        self.refresh_status()

    def refresh_status(self) -> None:
        shown = len(self._shown or [])
        if self.follow:
            mode = Text(" FOLLOW ", style="bold reverse")
        else:
            mode = Text(" SCROLLED - t follows ", style=tint("bold reverse yellow"))
        count = f"{shown:,} of {len(self.lines):,} lines" if self.filter_text \
            else f"{shown:,} lines"
        self.set_status(Text.assemble(mode, f" {count} · / searches"))

    # -- scrolling --------------------------------------------------------------------------
    def _unfollow(self) -> None:
        if self.follow:
            self.follow = False
            self.log_widget.auto_scroll = False
            self.refresh_status()

    def action_scroll_up(self) -> None:
        self._unfollow()
        self.log_widget.scroll_relative(y=-1, animate=False)

    def action_scroll_down(self) -> None:
        self.log_widget.scroll_relative(y=1, animate=False)

    def action_scroll_top(self) -> None:
        self._unfollow()
        self.log_widget.scroll_home(animate=False)

    def action_page(self, direction: int) -> None:
        log = self.log_widget
        if direction < 0:
            self._unfollow()
        log.scroll_relative(y=direction * max(log.size.height - 1, 1), animate=False)

    def action_follow(self) -> None:
        self.follow = True
        log = self.log_widget
        log.auto_scroll = True
        log.scroll_end(animate=False)
        self.refresh_status()


def task_log_screen(screen: ViewScreen, task_id: str) -> LogScreen:
    """The full log of one task: its log lines, then its error (the answer to "why")."""
    from switchboard.console.formatting import clock_text, short_id

    async def lines() -> list[str]:
        task = await screen.backend.task(task_id)
        out = [f"{clock_text(e.timestamp)} {e.level:<7} {e.message}" for e in task.logs]
        if task.error and not (task.logs and task.logs[-1].message == task.error):
            out.append(f"{'':8} {'error':<7} {task.error}")
        return out

    return LogScreen(f"Log · task {short_id(task_id)}", lines, subject=task_id)


def run_log_screen(screen: ViewScreen, run_id: str) -> LogScreen:
    """The full stream of one run: agent turns, tool calls, results, gates."""
    from switchboard.console.formatting import clock_text, event_summary, short_id

    async def lines() -> list[str]:
        events = await screen.backend.recent_events(5000, run_id=run_id)
        return [f"{clock_text(e.timestamp)} {e.event_type.removeprefix('run.'):<16} "
                f"{event_summary(e, subject=False)}" for e in events]

    return LogScreen(f"Log · run {short_id(run_id)}", lines, subject=run_id)
