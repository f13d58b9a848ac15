"""Tasks: the queue by status and priority (P0 first), and a task's detail."""

from __future__ import annotations

import time
from collections.abc import Awaitable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, Log, Static

from switchboard.console.backend import BackendError, TaskView
from switchboard.console.formatting import (
    PRIORITY_STYLES,
    STATUS_STYLES,
    TASK_STATUS_WORDS,
    clock_text,
    datetime_text,
    duration,
    epoch,
    one_line,
    pretty_json,
    priority,
    progress_bar,
    short_id,
    since,
    sla_left,
    sla_parts,
    task_status,
    tc,
    tint,
)
from switchboard.console.messages import LiveUpdate
from switchboard.console.screens.base import ViewScreen, parse_filter
from switchboard.console.widgets.live_table import Col, LiveTable
from switchboard.server.contract import TERMINAL_TASK_STATUSES, Task

TASK_COLUMNS = [
    Col("id", "ID", 8),
    Col("prio", "P", 2),
    Col("type", "TYPE", 11, flex=True),
    Col("status", "STATUS", 9),
    Col("agent", "AGENT", 10, flex=True),
    Col("progress", "PROGRESS", 10),
    Col("age", "AGE", 4, right=True),
    Col("sla", "SLA", 5, right=True),
    Col("attempts", "TRY", 3, min_screen=100, right=True),
]

TASK_SORTS = ("urgency", "newest", "oldest", "type")
STATUS_ALIASES = {"running": "in_progress", "awaiting": "awaiting_approval", "done": "completed",
                  "queued": "assigned", "waiting": "awaiting_approval"}


def task_row(task: Task, now: float, names: dict[str, str] | None = None
             ) -> tuple[str, list[tuple[str, str]]]:
    """One task's cells; ``names`` maps agent ids to the names the Agents view shows (the
    same agent was ``demo-dev-1`` here and ``dev-1`` there)."""
    final = task.status in TERMINAL_TASK_STATUSES
    agent = task.claimed_by or task.agent_id or task.assigned_agent
    if agent and names and agent in names:
        agent = names[agent]
    prog = progress_bar(task.progress) if task.status in ("in_progress", "completed") else ""
    return task.id, [
        tc(short_id(task.id)),
        tc(task.priority, PRIORITY_STYLES.get(task.priority, "")),
        tc(task.type),
        tc(TASK_STATUS_WORDS.get(task.status, task.status), STATUS_STYLES.get(task.status, "")),
        tc(short_id(agent, 14) if agent and agent.startswith("agent_") else agent),
        tc(prog),
        tc(since(task.created_at, now)),
        tc(*sla_parts(task.created_at, task.sla_target, now, final=final)),
        tc(f"{task.attempts}/{task.max_attempts}"),
    ]


class TasksScreen(ViewScreen):
    TITLE = "Tasks"
    VIEW = "tasks"
    WATCH = frozenset({"tasks"})
    MIN_RELOAD_INTERVAL = 0.75
    FILTER_HINT = "words, status:failed p:P0 type:bugfix agent:ID"
    HELP = ("Every unfinished task, most urgent first (P0 first, then oldest), followed by the "
            "most recent finished ones; capped at 500 rows. Filter with / using words or "
            "status:, p:, type:, agent: (e.g. 'status:failed p:P1'). enter opens a task; C "
            "cancels, R retries a failed or cancelled task, P changes its priority, l opens its "
            "full log (why it failed); s cycles the order (urgency, newest, oldest, type) of "
            "the rows read.")

    BINDINGS = [
        Binding("C", "cancel_item", "cancel", id="tasks.cancel"),
        Binding("R", "retry_item", "retry", id="tasks.retry"),
        Binding("P", "change_priority", "priority", id="tasks.priority"),
        Binding("l", "open_log", "log", id="tasks.log"),
        Binding("s", "sort", "sort", id="tasks.sort"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort = TASK_SORTS[0]
        self._names: dict[str, str] = {}
        self._names_at = -1e9

    def compose_body(self) -> ComposeResult:
        yield LiveTable(TASK_COLUMNS, cap=500, id="tasks-table")

    @property
    def table(self) -> LiveTable:
        return self.query_one("#tasks-table", LiveTable)

    def focus_main(self) -> None:
        self.table.focus()

    def _view(self) -> tuple[TaskView, list[str]]:
        fields, words = parse_filter(self.filter_text)
        status = fields.get("status") or fields.get("s")
        if status:
            status = STATUS_ALIASES.get(status.lower(), status.lower())
        prio = fields.get("p") or fields.get("priority")
        return TaskView(status=status, priority=prio.upper() if prio else None,
                        type=fields.get("type"), agent_id=fields.get("agent"),
                        run_id=fields.get("run"), limit=500, text=" ".join(words)), words

    async def reload(self) -> None:
        view, words = self._view()
        try:
            page = await self.backend.tasks(view)
        except BackendError as exc:
            if exc.status in (400, 422):
                self.show_problem(f"filter: {exc.detail}")
                return
            raise
        now = self.now
        tasks = page.tasks  # words were matched by the backend, over the whole store
        if self.sort == "newest":
            tasks = sorted(tasks, key=lambda t: (-(epoch(t.created_at) or 0.0), t.id))
        elif self.sort == "oldest":
            tasks = sorted(tasks, key=lambda t: (epoch(t.created_at) or 0.0, t.id))
        elif self.sort == "type":
            tasks = sorted(tasks, key=lambda t: (t.type, t.priority, epoch(t.created_at) or 0.0,
                                                 t.id))
        names = await self.agent_names(tasks)
        self.table.sync([task_row(t, now, names) for t in tasks])
        self._shown, self._total = len(tasks), page.total
        self.refresh_status()

    def refresh_status(self) -> None:
        shown = getattr(self, "_shown", 0)
        total = getattr(self, "_total", 0)
        if self.filter_text:
            text = f"{shown:,} shown of {total:,} tasks · by {self.sort} (s) · enter opens"
        else:
            cap = f" (first {shown:,} shown)" if total > shown else ""
            order = "unfinished first" if self.sort == "urgency" else f"by {self.sort}"
            text = f"{total:,} tasks{cap} · {order} (s) · enter opens"
        self.set_status(Text(text))

    def selected_id(self) -> str | None:
        return self.table.current_key

    @on(LiveTable.RowSelected, "#tasks-table")
    def _selected(self, event: LiveTable.RowSelected) -> None:
        if event.row_key:
            self.app.push_screen(TaskDetailScreen(event.row_key))

    def action_open(self) -> None:
        key = self.selected_id()
        if key:
            self.app.push_screen(TaskDetailScreen(key))

    # actions shared with the detail screen
    def action_cancel_item(self) -> None:
        key = self.selected_id()
        if key and not self.refuse_if_read_only("cancel"):
            cancel_task(self, key)

    def action_retry_item(self) -> None:
        key = self.selected_id()
        if key and not self.refuse_if_read_only("retry"):
            retry_task(self, key)

    def action_change_priority(self) -> None:
        key = self.selected_id()
        if key and not self.refuse_if_read_only("changing priority"):
            change_priority(self, key)

    async def agent_names(self, tasks: list[Task]) -> dict[str, str]:
        """Agent id -> name, read again only when a task names an agent not seen yet."""
        ids = {t.claimed_by or t.agent_id for t in tasks} - {None}
        now = time.monotonic()
        if not ids <= self._names.keys() and now - self._names_at >= 10.0:
            # at most every 10 s: a task may name an agent that was never registered
            self._names_at = now
            self._names = {a.id: a.name for a in await self.backend.agents()}
        return self._names

    def action_open_log(self) -> None:
        from switchboard.console.screens.logview import task_log_screen

        key = self.selected_id()
        if key:
            self.app.push_screen(task_log_screen(self, key))

    def action_sort(self) -> None:
        self.sort = TASK_SORTS[(TASK_SORTS.index(self.sort) + 1) % len(TASK_SORTS)]
        self.notify(f"tasks sorted by {self.sort}", timeout=2)
        self.request_reload(immediate=True)


def cancel_task(screen: ViewScreen, task_id: str) -> None:
    from switchboard.console.dialogs.confirm import ConfirmDialog

    def done(ok: bool | None) -> None:
        if ok:
            screen.run_worker(_act(screen, task_id, "cancelled", screen.backend.cancel_task(
                task_id, f"cancelled by {screen.backend.actor_name} from the console")),
                group="action", exit_on_error=False)

    screen.app.push_screen(ConfirmDialog(
        "Cancel task?", f"Task {task_id} will be cancelled; a worker holding it loses its lease.",
        confirm="Cancel task", cancel="Keep"), done)


def retry_task(screen: ViewScreen, task_id: str) -> None:
    from switchboard.console.dialogs.confirm import ConfirmDialog

    def done(ok: bool | None) -> None:
        if ok:
            screen.run_worker(_act(screen, task_id, "requeued",
                                   screen.backend.retry_task(task_id)),
                              group="action", exit_on_error=False)

    screen.app.push_screen(ConfirmDialog(
        "Retry task?", f"Task {task_id} goes back to the queue with its attempts reset.",
        confirm="Retry", danger=False), done)


def change_priority(screen: ViewScreen, task_id: str) -> None:
    from switchboard.console.dialogs.priority import PriorityDialog

    async def run() -> None:
        try:
            task = await screen.backend.task(task_id)
        except BackendError as exc:
            if not screen.sb_app.note_backend_error(exc):
                screen.notify(exc.detail, severity="error")
            return
        if task.status in TERMINAL_TASK_STATUSES:
            screen.notify(f"task is {task.status}; its priority is final", severity="warning")
            return
        value = await screen.app.push_screen_wait(PriorityDialog(task.priority, short_id(task.id)))
        if value and value != task.priority:
            await _act(screen, task_id, f"now {value}",
                       screen.backend.set_task_priority(task_id, value))

    screen.run_worker(run(), group="action", exit_on_error=False)


async def _act(screen: ViewScreen, task_id: str, what: str, call: Awaitable[None]) -> None:
    try:
        await call
    except BackendError as exc:
        if not screen.sb_app.note_backend_error(exc):
            screen.notify(exc.detail, title="Refused", severity="error")
        return
    screen.notify(f"{short_id(task_id)} {what}", timeout=3)
    screen.request_reload(immediate=True)


class TaskDetailScreen(ViewScreen):
    TITLE = "Task"
    WATCH = frozenset({"tasks"})
    FILTERABLE = False
    HELP = ("One task: its fields, payload, result or error, and its log (newest last). "
            "C cancels, R retries, P changes priority, l opens the full log (scroll, search, "
            "follow); q or esc goes back.")

    BINDINGS = [
        Binding("C", "cancel_item", "cancel", id="task.cancel"),
        Binding("R", "retry_item", "retry", id="task.retry"),
        Binding("P", "change_priority", "priority", id="task.priority"),
        Binding("l", "open_log", "log", id="task.log"),
    ]

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id
        self._log_count = 0
        self.record: Task | None = None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        task = self.record
        if task is not None:
            final = task.status in TERMINAL_TASK_STATUSES
            if action in ("cancel_item", "change_priority") and final:
                return None
            if action == "retry_item" and task.status not in ("failed", "cancelled"):
                return None
        return super().check_action(action, parameters)

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="task-top"):
            yield Static("", id="task-info", markup=False)
            with VerticalScroll(id="task-payload", classes="pane"):
                yield Label("Payload / result", classes="pane-title")
                yield Static("", id="task-payload-text", markup=False)
        with Vertical(id="task-logs", classes="pane"):
            yield Label("Log", classes="pane-title")
            yield Log(max_lines=2000, id="task-log", auto_scroll=True)

    def selected_id(self) -> str | None:
        return self.task_id

    def focus_main(self) -> None:
        self.query_one("#task-log", Log).focus()

    def on_live_update(self, message: LiveUpdate) -> None:
        if any(e.task_id == self.task_id for e in self.new_events(message.upto_seq)):
            super().on_live_update(message)

    async def reload(self) -> None:
        task = await self.backend.task(self.task_id)
        self.record = task
        self.refresh_bindings()
        now = self.now
        info = Text()

        def row(label: str, value: str | Text) -> None:
            info.append(f"{label:<10}", style="bold")
            info.append(value if isinstance(value, Text) else Text(value))
            info.append("\n")

        row("id", task.id)
        row("type", task.type)
        row("priority", priority(task.priority))
        row("status", task_status(task.status))
        row("agent", f"{task.assigned_agent}" + (f" · {task.claimed_by}" if task.claimed_by else ""))
        row("progress", progress_bar(task.progress, 10))
        row("attempts", f"{task.attempts} of {task.max_attempts}")
        row("created", f"{datetime_text(task.created_at, zone=False)} "
                       f"({since(task.created_at, now)} ago)")
        row("started", datetime_text(task.started_at, zone=False))
        row("finished", datetime_text(task.completed_at, zone=False) +
            (f" after {duration(task.duration)}" if task.duration is not None else ""))
        if task.sla_target:
            row("SLA", Text.assemble(sla_left(task.created_at, task.sla_target, now,
                                              final=task.status in TERMINAL_TASK_STATUSES),
                                     " left" if not task.sla_breached else " (breached)"))
        if task.source:
            row("source", task.source)
        if task.run_id:
            row("run", f"{task.run_id} step {task.step_id}")
        if task.error:
            row("error", Text(one_line(task.error, 300), style=tint("bold red")))
        self.query_one("#task-info", Static).update(info)
        body = f"payload:\n{pretty_json(task.payload)}"
        if task.result is not None:
            body += f"\n\nresult:\n{pretty_json(task.result)}"
        if task.metadata:
            body += f"\n\nmetadata:\n{pretty_json(task.metadata)}"
        self.query_one("#task-payload-text", Static).update(body)
        log = self.query_one("#task-log", Log)
        lines = task.log_lines
        if len(lines) < self._log_count:
            log.clear()
            self._log_count = 0
        new = lines[self._log_count:]
        if new:
            log.write_lines(f"{clock_text(e.timestamp)} {e.level:<7} {e.message}" for e in new)
            self._log_count = len(lines)
        self.set_status(Text.assemble(f"task {short_id(task.id)} · ", task_status(task.status),
                                      f" · {task.type} · {task.priority}"))

    def action_cancel_item(self) -> None:
        if not self.refuse_if_read_only("cancel"):
            cancel_task(self, self.task_id)

    def action_retry_item(self) -> None:
        if not self.refuse_if_read_only("retry"):
            retry_task(self, self.task_id)

    def action_change_priority(self) -> None:
        if not self.refuse_if_read_only("changing priority"):
            change_priority(self, self.task_id)

    def action_open_log(self) -> None:
        from switchboard.console.screens.logview import task_log_screen

        self.app.push_screen(task_log_screen(self, self.task_id))
