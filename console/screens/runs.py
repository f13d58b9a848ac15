"""Runs: orchestration runs, live; a run's detail (step timeline, shared state, live stream).

Everything here goes through ``Backend.runs``/``run``; on an engine without orchestrations
the screens say "orchestrations not available" instead of failing.
"""

from __future__ import annotations

from collections.abc import Awaitable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, Log, Static

from switchboard.console.backend import BackendError, NotAvailable
from switchboard.console.formatting import (
    STATUS_STYLES,
    cell,
    clock_text,
    datetime_text,
    duration,
    epoch,
    event_summary,
    money,
    one_line,
    pretty_json,
    short_id,
    since,
    status,
    tc,
    tint,
)
from switchboard.console.messages import LiveUpdate
from switchboard.console.screens.base import ViewScreen, matches_words, parse_filter
from switchboard.console.widgets.live_table import Col, LiveTable
from switchboard.server.contract import HumanInputRequired, Run

RUN_COLUMNS = [
    Col("id", "RUN", 8),
    Col("orch", "ORCHESTRATION", 16, flex=True),
    Col("status", "STATUS", 9),
    Col("step", "STEP", 14, flex=True),
    Col("cost", "COST", 7, right=True),
    Col("turns", "TURNS", 5, min_screen=100, right=True),
    Col("age", "AGE", 4, right=True),
]
STEP_COLUMNS = [
    Col("step", "STEP", 16, flex=True),
    Col("type", "TYPE", 6),
    Col("status", "STATUS", 9),
    Col("turns", "TURNS", 5, right=True),
    Col("cost", "COST", 7, right=True),
    Col("dur", "TIME", 6, right=True),
]
RUN_ORDER = {"paused": 0, "running": 1, "failed": 2, "completed": 3, "cancelled": 4}
SORTS = ("status", "newest", "cost")


def current_step(run: Run) -> str:
    """The step's name as the run's detail shows it (its id when it has no name)."""
    names = {step.step_id: step.step_name for step in run.step_history if step.step_name}
    if run.current_step_id:
        return names.get(run.current_step_id) or run.current_step_id
    if run.step_history:
        last = run.step_history[-1]
        return last.step_name or last.step_id
    return "-"


def gate_of(run: Run) -> HumanInputRequired | None:
    """What a paused run waits for (None when it waits for nothing)."""
    gate = run.human_input_required
    return gate if isinstance(gate, HumanInputRequired) else None


def run_word(run: Run) -> str:
    """A run's status as every screen says it: a run paused at a human gate is "waiting"."""
    return "waiting" if run.status == "paused" and gate_of(run) else str(run.status)


def run_status_text(run: Run) -> Text:
    word = run_word(run)
    return cell(word, STATUS_STYLES.get(run.status, "") if word == run.status
                else "bold $warning")


def run_row(run: Run, now: float) -> tuple[str, list[tuple[str, str]]]:
    word = run_word(run)
    return run.run_id, [
        tc(short_id(run.run_id)),
        tc(run.orchestration_name or run.orchestration_id),
        tc(word, STATUS_STYLES.get(run.status, "") if word == run.status else "bold yellow"),
        tc(current_step(run)),
        tc(money(run.cost_usd)),
        tc(str(run.turns)),
        tc(since(run.created_at, now)),
    ]


class RunsScreen(ViewScreen):
    TITLE = "Runs"
    VIEW = "runs"
    WATCH = frozenset({"runs"})
    MIN_RELOAD_INTERVAL = 0.75
    FILTER_HINT = "words, status:paused orch:ID"
    HELP = ("Orchestration runs: waiting (paused at a human gate) first, then running, failed, "
            "finished; newest first within each (s cycles the order: status, newest, cost). "
            "enter opens a run's steps, state and live stream. C cancels, R retries a failed "
            "run, f answers a waiting run's gate.")

    BINDINGS = [
        Binding("C", "cancel_item", "cancel", id="runs.cancel"),
        Binding("R", "retry_item", "retry", id="runs.retry"),
        Binding("f", "resume_run", "answer", id="runs.resume"),
        Binding("s", "sort", "sort", id="runs.sort"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: dict[str, Run] = {}
        self.sort = SORTS[0]
        self._bound_status: str | None = None

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.notify(f"runs sorted by {self.sort}", timeout=2)
        self.request_reload(immediate=True)

    def compose_body(self) -> ComposeResult:
        yield LiveTable(RUN_COLUMNS, cap=1000, id="runs-table")
        yield Static("", id="runs-unavailable", classes="unavailable", markup=False)

    @property
    def table(self) -> LiveTable:
        return self.query_one("#runs-table", LiveTable)

    def focus_main(self) -> None:
        self.table.focus()

    def selected_id(self) -> str | None:
        return self.table.current_key

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("cancel_item", "retry_item", "resume_run"):
            if not self.backend.capabilities.runs:
                return False
            key = self.selected_id()
            record = self.runs.get(key) if key else None
            # offer only what the server accepts (R on a cancelled run asked, then was
            # refused): disabled, not hidden, so the footer does not jump with the cursor
            if record is not None:
                if action == "retry_item" and record.status != "failed":
                    return None
                if action == "resume_run" and record.status != "paused":
                    return None
                if action == "cancel_item" and record.status not in ("running", "paused"):
                    return None
        return super().check_action(action, parameters)

    async def reload(self) -> None:
        fields, words = parse_filter(self.filter_text)
        try:
            runs = await self.backend.runs(status=fields.get("status"),
                                           orchestration_id=fields.get("orch"), limit=1000)
        except NotAvailable as exc:
            self.query_one("#runs-unavailable", Static).update(
                f"{exc.detail}: this engine has no orchestration runner loaded.")
            self.table.display = False
            self.set_status(Text(exc.detail))
            return
        self.table.display = True
        self.query_one("#runs-unavailable", Static).display = False
        runs = [r for r in runs if matches_words(words, r.run_id, r.orchestration_id,
                                                 r.orchestration_name, r.status,
                                                 current_step(r))]
        def newest(r: Run) -> float:
            return -(epoch(r.created_at) or 0.0)

        if self.sort == "newest":
            runs.sort(key=newest)
        elif self.sort == "cost":
            runs.sort(key=lambda r: (-r.cost_usd, newest(r)))
        else:
            runs.sort(key=lambda r: (RUN_ORDER.get(r.status, 9), newest(r)))
        self.runs = {r.run_id: r for r in runs}
        now = self.now
        self.table.sync([run_row(r, now) for r in runs])
        self._follow_selection()
        counts: dict[str, int] = {}
        for r in runs:
            counts[r.status] = counts.get(r.status, 0) + 1
        summary = ", ".join(f"{counts[s]} {s}" for s in RUN_ORDER if counts.get(s))
        self.set_status(Text(f"{len(runs)} runs · {summary or 'none yet'} · by {self.sort} (s)"
                             " · enter opens"))

    @on(LiveTable.RowSelected, "#runs-table")
    def _selected(self, event: LiveTable.RowSelected) -> None:
        if event.row_key:
            self.app.push_screen(RunDetailScreen(event.row_key))

    @on(LiveTable.RowHighlighted, "#runs-table")
    def _highlighted(self) -> None:
        self._follow_selection()

    def _follow_selection(self) -> None:
        """R/C/f follow the selected run's status; the footer is redrawn only when that
        status changes (a redraw per reload cost a footer recompose each time)."""
        key = self.selected_id()
        record = self.runs.get(key) if key else None
        state = record.status if record is not None else None
        if state != self._bound_status:
            self._bound_status = state
            self.refresh_bindings()

    def action_cancel_item(self) -> None:
        key = self.selected_id()
        if key and not self.refuse_if_read_only("cancel"):
            cancel_run(self, key)

    def action_retry_item(self) -> None:
        key = self.selected_id()
        if key and not self.refuse_if_read_only("retry"):
            retry_run(self, key)

    def action_resume_run(self) -> None:
        key = self.selected_id()
        if key and not self.refuse_if_read_only("resuming"):
            resume_run(self, key)


def cancel_run(screen: ViewScreen, run_id: str) -> None:
    from switchboard.console.dialogs.confirm import ConfirmDialog

    async def run() -> None:
        ok = await screen.app.push_screen_wait(ConfirmDialog(
            "Cancel run?", f"Run {run_id} stops after its current step; a waiting gate is "
            "withdrawn.", confirm="Cancel run", cancel="Keep"))
        if ok:
            await _run_action(screen, "cancelled", screen.backend.cancel_run(run_id))

    screen.run_worker(run(), group="action", exit_on_error=False)


def retry_run(screen: ViewScreen, run_id: str) -> None:
    from switchboard.console.dialogs.confirm import ConfirmDialog

    async def run() -> None:
        ok = await screen.app.push_screen_wait(ConfirmDialog(
            "Retry run?", f"Run {run_id} restarts from its failed step.", confirm="Retry",
            danger=False))
        if ok:
            await _run_action(screen, "retrying", screen.backend.retry_run(run_id))

    screen.run_worker(run(), group="action", exit_on_error=False)


def resume_run(screen: ViewScreen, run_id: str) -> None:
    from switchboard.console.dialogs.gate_form import GateFormScreen, approval_from_run

    async def run() -> None:
        try:
            record = await screen.backend.run(run_id)
            if record.status != "paused":
                screen.notify(f"run is {record.status}; only a paused run waits for an answer",
                              severity="warning")
                return
            approval = None
            if record.approval_id:
                approval = await screen.backend.approval(record.approval_id)
            if approval is None or approval.status != "pending":
                approval = approval_from_run(record)
        except BackendError as exc:
            if not screen.sb_app.note_backend_error(exc):
                screen.notify(exc.detail, severity="error")
            return
        await screen.app.push_screen_wait(GateFormScreen(approval, run_id=run_id))
        screen.request_reload(immediate=True)

    screen.run_worker(run(), group="action", exit_on_error=False)


async def _run_action(screen: ViewScreen, what: str, call: Awaitable[None]) -> None:
    try:
        await call
    except BackendError as exc:
        if not screen.sb_app.note_backend_error(exc):
            screen.notify(exc.detail, title="Refused", severity="error")
        return
    screen.notify(what, timeout=3)
    screen.request_reload(immediate=True)


class RunDetailScreen(ViewScreen):
    TITLE = "Run"
    WATCH = frozenset({"runs"})
    FILTERABLE = False
    HELP = ("One run: its step timeline (status, turns, cost, time), shared state, and the live "
            "stream of agent turns, tool calls and results (l: full screen, searchable). f "
            "answers a waiting gate, C cancels, R retries a failed run.")

    BINDINGS = [
        Binding("f", "resume_run", "answer", id="run.resume"),
        Binding("C", "cancel_item", "cancel", id="run.cancel"),
        Binding("R", "retry_item", "retry", id="run.retry"),
        Binding("l", "open_log", "log", id="run.log"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.record: Run | None = None
        self._stream_seq = 0

    def compose_body(self) -> ComposeResult:
        yield Static("", id="run-info", markup=False)
        yield LiveTable(STEP_COLUMNS, cap=500, id="run-steps")
        with Horizontal(id="run-bottom"):
            with VerticalScroll(id="run-state", classes="pane"):
                yield Label("Shared state", classes="pane-title")
                yield Static("", id="run-state-text", markup=False)
            with Vertical(id="run-stream", classes="pane"):
                yield Label("Live stream", classes="pane-title")
                yield Log(max_lines=2000, id="run-log", auto_scroll=True)

    def selected_id(self) -> str | None:
        return self.run_id

    def focus_main(self) -> None:
        self.query_one("#run-steps", LiveTable).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("cancel_item", "retry_item", "resume_run"):
            if not self.backend.capabilities.runs:
                return False
            record = self.record
            if record is not None:
                if action == "resume_run" and record.status != "paused":
                    return None
                if action == "retry_item" and record.status != "failed":
                    return None
                if action == "cancel_item" and record.status not in ("running", "paused"):
                    return None
        return super().check_action(action, parameters)

    def on_live_update(self, message: LiveUpdate) -> None:
        events = [e for e in self.new_events(message.upto_seq) if e.run_id == self.run_id]
        if events:
            self._stream(events)
            super().on_live_update(message)

    def _stream(self, events: list) -> None:
        new = [e for e in events if e.seq > self._stream_seq]
        if not new:
            return
        self._stream_seq = new[-1].seq
        self.query_one("#run-log", Log).write_lines(
            f"{clock_text(e.timestamp)} {e.event_type.removeprefix('run.'):<16} "
            f"{event_summary(e, subject=False)}" for e in new)

    async def reload(self) -> None:
        try:
            run = await self.backend.run(self.run_id)
        except NotAvailable as exc:
            self.set_status(Text(exc.detail))
            return
        first = self.record is None
        self.record = run
        now = self.now
        info = Text()
        info.append(f"{run.orchestration_name or run.orchestration_id}", style="bold")
        info.append(f"  {run.run_id}\n", style="dim")
        info.append("status ")
        info.append_text(run_status_text(run))
        created, finished = epoch(run.created_at) or 0.0, epoch(run.finished_at)
        info.append(f" · cost {money(run.cost_usd)} · turns {run.turns} · started "
                    f"{since(run.created_at, now)} ago")
        if finished:
            info.append(f" · took {duration(finished - created)}")
        gate = gate_of(run)
        if run.status == "paused" and gate:
            prompt = gate.prompt or "input required"
            info.append(f"\nWAITING FOR INPUT: {one_line(prompt, 160)} - press f to answer",
                        style=tint("bold yellow"))
        if run.error:
            info.append(f"\nerror: {one_line(run.error, 200)}", style=tint("bold red"))
        if run.message:
            info.append(f"\nmessage: {one_line(run.message, 160)}", style="dim")
        self.query_one("#run-info", Static).update(info)
        rows = []
        for index, step in enumerate(run.step_history):
            took = None
            started = epoch(step.started_at)
            if started is not None:
                took = (epoch(step.finished_at) or now) - started
            rows.append((f"{index}:{step.step_id}", [
                cell(step.step_name or step.step_id), cell(step.type), status(step.status),
                cell(str(step.turns)), cell(money(step.cost_usd)), cell(duration(took)),
            ]))
        current = run.current_step_id
        last = run.step_history[-1] if run.step_history else None
        if current and run.status in ("running", "paused") and (
                last is None or last.step_id != current or last.status != run.status):
            word = "waiting" if run.status == "paused" else "running"
            rows.append((f"{len(rows)}:{current}:now", [
                cell(current), cell("-"), cell(word, "bold yellow" if word == "waiting"
                                                 else "bold cyan"),
                cell("-"), cell("-"), cell(duration(now - (epoch(run.updated_at) or now))),
            ]))
        self.query_one("#run-steps", LiveTable).sync(rows)
        self.query_one("#run-state-text", Static).update(pretty_json(run.shared_state))
        if first:
            history = await self.backend.recent_events(300, run_id=self.run_id)
            self._stream(history)
        self.refresh_bindings()
        self.set_status(Text.assemble(f"run {short_id(run.run_id)} · ", run_status_text(run),
                                      f" · {len(run.step_history)} step"
                                      f"{'' if len(run.step_history) == 1 else 's'} done"))

    def action_cancel_item(self) -> None:
        if not self.refuse_if_read_only("cancel"):
            cancel_run(self, self.run_id)

    def action_retry_item(self) -> None:
        if not self.refuse_if_read_only("retry"):
            retry_run(self, self.run_id)

    def action_resume_run(self) -> None:
        if not self.refuse_if_read_only("resuming"):
            resume_run(self, self.run_id)

    def action_open_log(self) -> None:
        from switchboard.console.screens.logview import run_log_screen

        self.app.push_screen(run_log_screen(self, self.run_id))


__all__ = ["RunDetailScreen", "RunsScreen", "datetime_text"]
