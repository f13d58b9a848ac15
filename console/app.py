"""The Switchboard console: a Textual app over one ``Backend``.

Build it with ``build_app(backend, ...)`` (or the ``SwitchboardApp`` constructor) and run it
with ``await app.run_async()`` on the engine's event loop (``switchboard up``) or on its own
(``switchboard attach``). The app owns: one background worker that consumes the backend's
event stream, coalesces it and tells the visible views what changed; the header state
(connection, approvals waiting); the services given to it (the demo fleet, a test's seeding
step), started after the backend and stopped before it.

Top-level views are Textual MODES (one screen stack each); details and dialogs are pushed on
the current mode's stack. Every binding has an ``id``: ``ConsoleConfig.keymap`` maps ids to
keys (``{"approval.approve": "A"}``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Protocol

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from switchboard.console.backend import Backend, BackendError, ConnectionState
from switchboard.console.commands import SwitchboardCommands
from switchboard.console.formatting import set_monochrome
from switchboard.console.gcpolicy import IdleCollector
from switchboard.console.messages import ApprovalDecided, LiveUpdate
from switchboard.console.screens import MODE_SCREENS
from switchboard.engine.clock import Clock, SystemClock
from switchboard.engine.config import ConsoleConfig
from switchboard.server.contract import Event

log = logging.getLogger("switchboard.console")

VIEWS: tuple[str, ...] = (
    "overview", "runs", "tasks", "agents", "approvals", "events", "orchestrations")
VIEW_TITLES = {
    "overview": "Overview", "runs": "Runs", "tasks": "Tasks", "agents": "Agents",
    "approvals": "Approvals", "events": "Events", "orchestrations": "Orchestrations",
}
VIEW_ALIASES = {
    "overview": "overview", "ov": "overview", "home": "overview", "o": "overview",
    "runs": "runs", "run": "runs", "r": "runs",
    "tasks": "tasks", "task": "tasks", "t": "tasks", "queue": "tasks", "queues": "tasks",
    "agents": "agents", "agent": "agents", "ag": "agents",
    "approvals": "approvals", "approval": "approvals", "ap": "approvals", "inbox": "approvals",
    "events": "events", "event": "events", "ev": "events", "e": "events",
    "orchestrations": "orchestrations", "orchestration": "orchestrations",
    "orch": "orchestrations", "or": "orchestrations",
}
NEW_FLASH_SECONDS = 8.0
TOAST_MIN_SIZE = (100, 30)  # below this, new approvals show in the header, not as toasts
COMMAND_WORDS = (
    "runs", "tasks", "agents", "approvals", "events", "orchestrations", "overview",
    "run ", "task ", "agent ", "help", "q",
)


class Service(Protocol):
    """Something the app starts after the backend and stops before it (e.g. the demo)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def _kinds(events: Iterable[Event]) -> set[str]:
    kinds = {"events"}
    for event in events:
        prefix = event.event_type.split(".", 1)[0]
        if prefix == "task" or prefix == "sla":
            kinds.add("tasks")
            if event.event_type in ("task.started", "task.completed", "task.failed",
                                    "task.requeued", "task.cancelled"):
                kinds.add("agents")
        elif prefix == "approval":
            kinds.update(("approvals", "tasks", "runs"))
        elif prefix == "agent":
            kinds.add("agents")
        elif prefix == "run":
            kinds.add("runs")
        elif prefix == "orchestration":
            kinds.add("orchestrations")
    return kinds


class SwitchboardApp(App[int]):
    """The operator console. See the module docstring."""

    TITLE = "Switchboard"
    CSS_PATH = "styles/app.tcss"
    DEFAULT_MODE = "overview"
    MODES: ClassVar[dict[str, Any]] = dict(MODE_SCREENS)  # type: ignore[assignment]
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (100, "-wide")]
    # under 20 lines, side panes give their room to the table (at 40x12 the approvals
    # preview took every line and the inbox showed no rows)
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (20, "-tall")]
    COMMANDS = App.COMMANDS | {SwitchboardCommands}
    NOTIFICATION_TIMEOUT = 4

    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        *[
            Binding(str(index), f"view('{name}')", VIEW_TITLES[name], show=False,
                    id=f"view.{name}")
            for index, name in enumerate(VIEWS, start=1)
        ],
        Binding("colon", "command", "command", key_display=":", id="app.command"),
        Binding("question_mark", "help", "help", key_display="?", id="app.help"),
        Binding("f1", "help", "help", show=False, id="app.help_f1"),
        Binding("ctrl+c", "request_quit", "quit", show=False, id="app.quit"),
        Binding("ctrl+q", "request_quit", "quit", show=False, priority=True, id="app.quit_q"),
        Binding("ctrl+l", "login", "log in", show=False, id="app.login"),
    ]

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock | None = None,
        config: ConsoleConfig | None = None,
        read_only: bool = False,
        server_address: str = "",
        services: Sequence[Service] = (),
        cursor_blink: bool = True,
        event_buffer: int = 5000,
        idle_gc: bool = True,
        notice: str | None = None,
    ) -> None:
        super().__init__()
        set_monochrome(self.no_color)
        self.backend = backend
        self.clock: Clock = clock or SystemClock()
        self.console_config = config or ConsoleConfig()
        self.read_only = bool(read_only or self.console_config.read_only)
        self.server_address = server_address or backend.address
        self.services = list(services)
        self.cursor_blink = cursor_blink
        self.ready = asyncio.Event()
        self.status_changed: Signal[None] = Signal(self, "status-changed")
        self.recent_events: deque[Event] = deque(maxlen=event_buffer)
        self._connection_state = ConnectionState.CONNECTING
        #: the server refused the credential (bad or expired): shown until a login works
        self.auth_failed = False
        self._login_open = False
        self._approvals_waiting = 0
        #: pending approvals per priority, as the header badge last read them
        self.approvals_by_priority: dict[str, int] = {}
        #: False until the inbox was read (and again after the credential was refused): the
        #: header then says "unknown", never "no approvals waiting"
        self.approvals_known = False
        self._resume_seq: int | None = None
        self._known_approvals: set[str] = set()
        #: new approvals flashed in the header badge ("+2 NEW") until ``new_approvals_until``
        self.new_approvals = 0
        self.new_approvals_until = 0.0
        self._announce_pending: list[Event] = []
        self._announce_gap = 5.0
        self._announced_at = 0.0
        self._announce_timer: Any = None
        self._quit_dialog_open = False
        self._services_started: list[Service] = []
        self.last_input_at = 0.0
        self.gc_policy = IdleCollector(lambda: self.last_input_at) if idle_gc else None
        self.notice = notice  # shown once at start (e.g. "restarted after an error")

    # -- state shown in the header -----------------------------------------------------------
    @property
    def connection_state(self) -> ConnectionState:
        """The stream's state, unless the server refused our credential: an SSE stream opened
        before a token expired keeps saying "connected" while every request fails."""
        if self.auth_failed:
            return ConnectionState.UNAUTHORIZED
        return self._connection_state

    @connection_state.setter
    def connection_state(self, value: ConnectionState) -> None:
        if value != self._connection_state:
            self._connection_state = value
            self.status_changed.publish(None)

    @property
    def approvals_waiting(self) -> int:
        return self._approvals_waiting

    @approvals_waiting.setter
    def approvals_waiting(self, value: int) -> None:
        if value != self._approvals_waiting:
            self._approvals_waiting = value
            self.status_changed.publish(None)

    @property
    def embedded(self) -> bool:
        return self.backend.capabilities.embedded

    # -- lifecycle ---------------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.gc_policy is not None:
            self.gc_policy.start()
            self.set_interval(1.0, self.gc_policy.tick, name="idle-gc")
        if self.console_config.keymap:
            self.set_keymap(dict(self.console_config.keymap))
        if self.notice:
            self.notify(self.notice, title="Console restarted", severity="error", timeout=20)
        self.run_worker(self._startup(), name="startup", group="startup", exit_on_error=False)

    async def _startup(self) -> None:
        await self.backend.start()
        for service in self.services:
            if service in self._services_started:
                continue
            await service.start()
            self._services_started.append(service)
        self._start_stream()

    # -- credential refused / re-login --------------------------------------------------------
    def note_backend_error(self, error: BaseException | None) -> bool:
        """Every place that catches a ``BackendError`` passes it here: a 401 means the server
        refused our credential (bad or expired), which the header shows in red with the way
        out (ctrl+l), instead of "connecting" forever or a green "connected". True if so."""
        if not (isinstance(error, BackendError) and error.status == 401):
            return False
        if not self.auth_failed:
            self.auth_failed = True
            self.approvals_known = False
            log.warning("the server refused the credential: %s", error.detail)
            self.status_changed.publish(None)
            self.notify(f"{error.detail}\nctrl+l to log in again (token, @file or $VAR)",
                        title="Unauthorized", severity="error", timeout=15)
        from switchboard.console.screens.base import ViewScreen

        for screen in self.screen_stack:
            if isinstance(screen, ViewScreen):
                screen.show_problem("UNAUTHORIZED: the server refused the token - ctrl+l to "
                                    "log in again")
        return True

    def check_login(self) -> bool:
        return callable(getattr(self.backend, "use_token", None))

    def action_login(self) -> None:
        """Ask for a new credential and reconnect with it, without restarting."""
        if not self.check_login() or self._login_open:
            return
        from switchboard.console.dialogs.prompt import PromptDialog

        self._login_open = True
        self.push_screen(PromptDialog(
            "Log in again", "Token (JWT or API key), @FILE, or $VAR (empty: $SWITCHBOARD_TOKEN)",
            body=f"{self.server_address} refused the current token." if self.auth_failed
            else f"Use another token for {self.server_address}.",
            required=False, password=True, submit_hint="enter logs in, esc cancels"),
            self._login_entered)

    def _login_entered(self, entry: str | None) -> None:
        self._login_open = False
        if entry is None:
            return
        self.run_worker(self._login(entry), name="login", group="login", exclusive=True,
                        exit_on_error=False)

    async def _login(self, entry: str) -> None:
        from switchboard.console.token_source import TokenSourceError, token_from_entry

        try:
            token = token_from_entry(entry)
        except TokenSourceError as exc:
            self.notify(str(exc), title="Not logged in", severity="error")
            return
        self.backend.use_token(token)  # type: ignore[attr-defined]
        try:
            await self.backend.start()
        except BackendError as exc:
            if exc.status in (401, 403):
                self.auth_failed = False  # so the refusal is announced again
                self.note_backend_error(BackendError(exc.detail, status=401))
                return
            raise
        self.auth_failed = False
        self.status_changed.publish(None)
        self.notify(f"logged in to {self.server_address}", timeout=3)
        await self._startup()
        self.refresh_badge()
        from switchboard.console.screens.base import ViewScreen

        for screen in self.screen_stack:
            if isinstance(screen, ViewScreen):
                screen.request_reload(immediate=True)

    def _start_stream(self) -> None:
        self.run_worker(self._consume_stream(), name="stream", group="stream", exclusive=True,
                        exit_on_error=False)

    async def _consume_stream(self) -> None:
        async for item in self.backend.stream(self._resume_seq):
            self._resume_seq = item.last_seq
            self.connection_state = item.state
            if not self.ready.is_set():
                self.ready.set()
                self.refresh_badge()
            if item.events:
                self._apply_events(item.events, item.last_seq)
        self.connection_state = ConnectionState.DISCONNECTED

    def _handle_exception(self, error: Exception) -> None:
        # Textual's hook for an unhandled error (it then exits, printing the traceback on
        # the terminal); the log file is where an operator looks afterwards
        log.error("the console failed: %s: %s", type(error).__name__, error, exc_info=error)
        super()._handle_exception(error)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.last_input_at = time.monotonic()
        await super().on_event(event)

    async def on_unmount(self) -> None:
        if self.gc_policy is not None:
            self.gc_policy.stop()
        for service in reversed(self._services_started):
            try:
                await service.stop()
            except Exception:
                log.exception("stopping %r failed", service)
        self._services_started.clear()
        try:
            await self.backend.close()
        except Exception:
            log.exception("closing the backend failed")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place background failures land: logged, shown, and never fatal."""
        worker = event.worker
        if event.state != WorkerState.ERROR:
            return
        error = worker.error
        if worker.group in ("startup", "login") and isinstance(error, BackendError) \
                and error.status == 403:
            error = BackendError(error.detail, status=401)  # start(): the token was refused
        if self.note_backend_error(error):
            return
        if isinstance(error, BackendError):
            self.notify(error.detail, title="Request failed", severity="error")
            return
        log.error("worker %s failed", worker.name, exc_info=error)
        if worker.group == "stream":
            self.connection_state = ConnectionState.DISCONNECTED
            self.notify(f"live updates stopped: {error}; reconnecting", severity="error")
            self.set_timer(2.0, self._start_stream)
        elif worker.group == "startup":
            self.notify(f"could not start: {error}", title="Startup failed", severity="error",
                        timeout=30)
        else:
            self.notify(f"{type(error).__name__}: {error}", title="Internal error",
                        severity="error")

    # -- live events -------------------------------------------------------------------------
    def _apply_events(self, events: list[Event], upto_seq: int) -> None:
        self.recent_events.extend(events)
        kinds = _kinds(events)
        new_approvals: list[Event] = []
        for event in events:
            if event.event_type == "approval.requested":
                new_approvals.append(event)
            elif event.event_type == "approval.decided":
                p = event.payload
                decided = ApprovalDecided(str(p.get("approval_id")), str(p.get("status")),
                                          p.get("decided_by"))
                for screen in self.screen_stack:
                    screen.post_message(decided)
        if new_approvals:
            self._announce(new_approvals)
        if "approvals" in kinds:
            self.refresh_badge()
        update = LiveUpdate(frozenset(kinds), upto_seq)
        from switchboard.console.screens.base import ViewScreen

        for screen in self.screen_stack:
            if isinstance(screen, ViewScreen):
                screen.post_message(update)

    def _announce(self, events: list[Event]) -> None:
        """Bell, header flash and toast for new approvals.

        The bell rings at once for the priorities configured (``[console] bell_priorities``,
        P0 by default; ``bell = true``: all). The header's badge says ``+n NEW`` for a few
        seconds. A toast follows only where there is room for it beside the work (at least
        100x30): at 80x24 toasts covered the filter hint, the help, the log and the form, so
        there the header says it instead. At most one toast per few seconds; the rest are
        gathered into the next one."""
        config = self.console_config
        ring = config.bell or any(self._priority_of(e) in config.bell_priorities
                                  for e in events)
        if ring:
            self.bell()
        self.new_approvals += len(events)
        self.new_approvals_until = time.monotonic() + NEW_FLASH_SECONDS
        self.status_changed.publish(None)
        self.set_timer(NEW_FLASH_SECONDS + 0.1, self._end_flash)
        if self.size.width < TOAST_MIN_SIZE[0] or self.size.height < TOAST_MIN_SIZE[1]:
            return
        self._announce_pending.extend(events)
        now = time.monotonic()
        wait = self._announce_gap - (now - self._announced_at)
        if wait > 0:
            if self._announce_timer is None:
                self._announce_timer = self.set_timer(wait, self._flush_announcements)
            return
        self._flush_announcements()

    def _flush_announcements(self) -> None:
        self._announce_timer = None
        events, self._announce_pending = self._announce_pending, []
        if not events:
            return
        self._announced_at = time.monotonic()
        if len(events) == 1:
            p = events[0].payload
            what = p.get("prompt") or p.get("reason") or "approval requested"
            prio = p.get("priority") or events[0].priority or ""
            text = what if str(what).startswith(prio) else f"{prio} {what}".strip()
            self.notify(text[:120] + "\npress 5 for the inbox",
                        title="New approval waiting", severity="warning", timeout=6)
        else:
            self.notify(f"{len(events)} new approvals waiting\npress 5 for the inbox",
                        title="New approvals", severity="warning", timeout=6)

    @staticmethod
    def _priority_of(event: Event) -> str:
        return str(event.payload.get("priority") or event.priority or "")

    def _end_flash(self) -> None:
        if self.new_approvals and time.monotonic() >= self.new_approvals_until:
            self.new_approvals = 0
            self.status_changed.publish(None)

    def refresh_badge(self) -> None:
        self.run_worker(self._refresh_badge(), group="badge", exclusive=True, exit_on_error=False)

    async def _refresh_badge(self) -> None:
        pending = await self.backend.pending_approvals()
        counts: dict[str, int] = {}
        for approval in pending:
            counts[approval.priority] = counts.get(approval.priority, 0) + 1
        changed = counts != self.approvals_by_priority or not self.approvals_known
        self.approvals_by_priority = counts
        self.approvals_known = True
        self.approvals_waiting = len(pending)
        if changed:
            self.status_changed.publish(None)

    def current_view_changed(self, screen: Any) -> None:
        """Hook for views becoming visible (the header follows on its own)."""

    # -- actions -----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "login":
            return self.check_login()
        if action == "view" and parameters:
            if parameters[0] == self.current_mode and len(self.screen_stack) <= 1:
                return False
        return True

    def action_view(self, name: str) -> None:
        if name not in VIEWS:
            return
        if name == self.current_mode:
            while len(self.screen_stack) > 1:
                self.pop_screen()
            return
        self.switch_mode(name)

    def action_command(self) -> None:
        from switchboard.console.dialogs.command import CommandPrompt

        self.push_screen(CommandPrompt(COMMAND_WORDS, cursor_blink=self.cursor_blink),
                         self._command_done)

    def _command_done(self, text: str | None) -> None:
        if text:
            self.run_command(text)

    def run_command(self, text: str) -> None:
        """Run one ``:`` command (``runs``, ``run ID``, ``q``...)."""
        words = text.strip().lstrip(":").split()
        if not words:
            return
        cmd, args = words[0].lower(), words[1:]
        if cmd in ("q", "quit", "exit", "q!", "quit!"):
            if cmd.endswith("!"):
                self.exit(0)
            else:
                self.action_request_quit()
            return
        if cmd in ("help", "h", "?"):
            self.action_help()
            return
        if args and cmd in ("run", "task", "agent", "approval"):
            self.open_record(cmd, args[0])
            return
        view = VIEW_ALIASES.get(cmd)
        if view is not None:
            self.action_view(view)
            if args and view in ("tasks", "runs", "agents", "approvals", "events",
                                 "orchestrations"):
                self.call_after_refresh(self._apply_filter, " ".join(args))
            return
        self.notify(f"unknown command {cmd!r}; try runs, tasks, agents, approvals, events, "
                    "orchestrations, run ID, task ID, q", severity="error")

    def _apply_filter(self, text: str) -> None:
        from switchboard.console.screens.base import FilterBar

        try:
            bar = self.screen.query_one(FilterBar)
        except Exception:
            return
        bar.show()
        bar.value = text

    def open_record(self, kind: str, ident: str, *, here: bool = False) -> None:
        """Open a record's screen: in its own view (``:task ID``), or ``here`` on top of the
        current stack (drilling in from an event: q comes back to it)."""
        self.run_worker(self._open_record(kind, ident, here), group="open", exclusive=True,
                        exit_on_error=False)

    async def _open_record(self, kind: str, ident: str, here: bool = False) -> None:
        from switchboard.console.resolve import resolve_id
        from switchboard.console.screens.agents import AgentDetailScreen
        from switchboard.console.screens.runs import RunDetailScreen
        from switchboard.console.screens.tasks import TaskDetailScreen

        try:
            full = await resolve_id(self.backend, kind, ident)
            approval = await self.backend.approval(full) if kind == "approval" else None
        except BackendError as exc:
            if not self.note_backend_error(exc):
                self.notify(exc.detail, severity="error")
            return
        screen: Any
        if kind == "run":
            screen = RunDetailScreen(full)
        elif kind == "task":
            screen = TaskDetailScreen(full)
        elif kind == "agent":
            screen = AgentDetailScreen(full)
        elif approval is not None:
            from switchboard.console.dialogs.gate_form import GateFormScreen

            screen = GateFormScreen(approval)
        else:
            return
        if not here:
            self.switch_mode(VIEW_ALIASES[kind])
        self.push_screen(screen)

    def action_help(self) -> None:
        from switchboard.console.dialogs.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(self.screen))

    def action_request_quit(self) -> None:
        """Ask before quitting; ``ctrl+q`` pressed while the question shows confirms it (the
        only key that does: see ``dialogs/quit.py``)."""
        from switchboard.console.dialogs.quit import QuitDialog

        if self._quit_dialog_open:
            if isinstance(self.screen, QuitDialog):
                self.screen.dismiss(True)
            return
        if self.embedded:
            body = ("This stops the engine and the API server: running work pauses and "
                    "workers lose their connection until Switchboard is started again.")
        else:
            body = f"Disconnect from {self.server_address}? The server keeps running."
        self._quit_dialog_open = True
        self.push_screen(QuitDialog("Quit Switchboard?", body), self._quit_answer)

    def get_system_commands(self, screen: Any) -> Iterable[SystemCommand]:
        """Textual's palette entries, with its Quit (which exits at once) asking first."""
        for command in super().get_system_commands(screen):
            if command.title == "Quit":
                yield SystemCommand("Quit Switchboard", "Asks first (ctrl+q confirms)",
                                    self.action_request_quit)
            else:
                yield command

    def _quit_answer(self, confirmed: bool | None) -> None:
        self._quit_dialog_open = False
        if confirmed:
            self.exit(0)

    def action_help_quit(self) -> None:  # ctrl+c inside inputs etc.
        self.action_request_quit()


def build_app(backend: Backend, *, clock: Clock | None = None, config: ConsoleConfig | None = None,
              read_only: bool = False, server_address: str = "",
              services: Sequence[Service] = (), cursor_blink: bool = True,
              idle_gc: bool = True, notice: str | None = None) -> SwitchboardApp:
    """The factory the CLI and the tests use."""
    return SwitchboardApp(backend, clock=clock, config=config, read_only=read_only,
                          server_address=server_address, services=services,
                          cursor_blink=cursor_blink, idle_gc=idle_gc, notice=notice)
