"""The approvals inbox: P0/P1 task gates and orchestration human gates, critical and oldest
first. ``a`` approves (a P0 asks first, default Cancel), ``x`` rejects with a reason,
``f``/enter opens the form. ``h`` shows recent decisions: who decided, when, the outcome
in words and why (the rejection reason, or the gate's answer as ``key: value`` pairs)."""

from __future__ import annotations

import json
from typing import Any, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from switchboard.console.approval_words import (
    assignees_text,
    matches,
    parse_filter,
    subject_of,
    summary_of,
    votes_text,
)
from switchboard.console.backend import BackendError
from switchboard.console.bulk import Outcome, tally
from switchboard.console.formatting import (
    age,
    cell,
    datetime_text,
    decision_word,
    epoch,
    one_line,
    priority,
    short_id,
    since,
    tint,
)
from switchboard.console.messages import ApprovalDecided
from switchboard.console.screens.base import ViewScreen
from switchboard.console.widgets.live_table import Col, LiveTable
from switchboard.server.contract import Approval

MARK = "✓"  # a marked row, in its own column: a shape, not a colour
APPROVAL_COLUMNS = [
    Col("mark", "", 1),
    Col("id", "ID", 8),
    Col("prio", "P", 2),
    Col("kind", "KIND", 4),
    Col("subject", "SUBJECT", 12),
    Col("reason", "WHAT", 14, flex=True),
    Col("votes", "VOTES", 6),
    Col("who", "ASSIGNED", 14, min_screen=110),
    Col("age", "AGE", 4, right=True),
    Col("due", "DUE", 8, right=True),
    Col("expires", "EXPIRES", 7, min_screen=100, right=True),
]
HISTORY_COLUMNS = [
    Col("id", "ID", 8),
    Col("prio", "P", 2),
    Col("kind", "KIND", 4),
    Col("status", "DECISION", 9),
    Col("by", "BY", 10),
    Col("reason", "WHY (REASON / ANSWER)", 20, flex=True),
    Col("at", "DECIDED AT (UTC)", 19, min_screen=110),
    Col("when", "AGO", 4, right=True),
]

OUTCOME_STYLES = {"approved": "$success", "answered": "$success", "rejected": "$error",
                  "expired": "dim", "cancelled": "dim"}


def outcome_of(a: Approval) -> str:
    """The decision in words (``formatting.decision_word``)."""
    return decision_word(a.status, a.kind)


def due_text(a: Approval, now: float) -> tuple[str, str]:
    """The approval's SLA in words (``in 4m``, ``LATE 2m``, ``-`` without one) and a style;
    lateness is a word, not a colour."""
    due = epoch(a.due_at)
    if due is None:
        return "-", "dim"
    if a.overdue or due <= now:
        return f"LATE {age(now - due)}", "bold reverse $error"
    return f"in {age(due - now)}", ""


def inbox_order(items: list[Approval]) -> list[Approval]:
    """Most critical first; within a priority the soonest due (overdue first), then the
    oldest; approvals without an SLA after those with one."""
    def key(a: Approval) -> tuple[object, ...]:
        due = epoch(a.due_at)
        return (a.priority, due is None, due or 0.0, epoch(a.created_at) or 0.0, a.approval_id)

    return sorted(items, key=key)


def value_text(value: Any) -> str:
    """One answer value for people: yes/no, lists comma-joined, nested objects as JSON."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    return str(value)


def answer_pairs(response: Any) -> list[tuple[str, str]]:
    """A gate answer as ``(key, value)`` pairs in the form's order; a bare value as one."""
    if isinstance(response, dict):
        return [(str(k), value_text(v)) for k, v in response.items()]
    if response is None or response == "" or response == []:
        return []
    return [("answer", value_text(response))]


def why_of(a: Approval) -> str:
    """Why it was decided this way, in one line: the rejection reason, the answer given
    (``key: value; key: value``), or what the engine did (timeout, cancellation)."""
    answer = "; ".join(f"{k}: {v}" for k, v in answer_pairs(a.response))
    if a.rejection_reason:
        return f"{a.rejection_reason} ({answer})" if answer else a.rejection_reason
    if a.status == "expired":
        return f"timed out; default answer {answer}" if answer else "timed out; approved by default"
    if a.status == "cancelled":
        return f"its {'run' if a.kind == 'gate' else 'task'} was cancelled"
    return answer


class ApprovalsScreen(ViewScreen):
    TITLE = "Approvals"
    VIEW = "approvals"
    WATCH = frozenset({"approvals"})
    MIN_RELOAD_INTERVAL = 0.2
    FILTER_HINT = "words, p:P0 kind:gate type:faq_update"
    HELP = ("Everything waiting for a human: P0/P1 task approvals and orchestration gates, most "
            "critical first, then the soonest due (DUE: the SLA, LATE when overdue), then "
            "oldest. a approves (a P0 asks for confirmation; enter alone "
            "keeps Cancel), x rejects and asks for a reason, f or enter opens the form with the "
            "agent's context. h switches to recent decisions. A decision made elsewhere "
            "removes the row at once. m switches between every approval and mine (those I may "
            "decide as an assignee or listed decider); the status line says which. space "
            "marks a row, * marks every row shown (the filter's matches; again clears), esc "
            "clears the marks; with marks, a and x decide all of them after a table of what "
            "will happen and the count typed, then show a result per approval. Gates with a "
            "form are skipped (answer each with f). VOTES shows a quorum's progress (1 of 2); "
            "a vote short of it is reported as still pending.")

    BINDINGS = [
        Binding("a", "approve", "approve", id="approval.approve"),
        Binding("x", "reject", "reject", id="approval.reject"),
        Binding("f", "open_form", "form", id="approval.form"),
        Binding("h", "toggle_history", "history", id="approval.history"),
        Binding("space", "toggle_mark", "mark", id="approval.mark"),
        Binding("asterisk", "mark_all", "mark all", key_display="*", id="approval.mark_all"),
        Binding("m", "show_mine", "mine", id="approval.mine"),
        Binding("m", "show_all", "all", id="approval.mine"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.history = False
        self.approvals: dict[str, Approval] = {}
        self._busy: set[str] = set()
        self.mine = False  # the "mine" view: approvals I may decide (issue 14)
        self.marks: set[str] = set()  # approval ids marked for a bulk decision

    def compose_body(self) -> ComposeResult:
        yield LiveTable(APPROVAL_COLUMNS, cap=1000, id="approvals-table")
        with VerticalScroll(id="approval-preview", classes="pane"):
            yield Label("Selected", classes="pane-title")
            yield Static("", id="approval-preview-text", markup=False)

    @property
    def table(self) -> LiveTable:
        return self.query_one("#approvals-table", LiveTable)

    def focus_main(self) -> None:
        self.table.focus()

    def selected_id(self) -> str | None:
        return self.table.current_key

    def selected(self) -> Approval | None:
        key = self.selected_id()
        return self.approvals.get(key) if key else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("approve", "reject", "open_form", "toggle_mark", "mark_all",
                      "show_mine", "show_all") and self.history:
            return False
        if action in ("toggle_mark", "mark_all") and self.sb_app.read_only:
            return False
        if action in ("show_mine", "show_all"):
            return (action == "show_all") == self.mine
        return super().check_action(action, parameters)

    async def reload(self) -> None:
        fields, words = parse_filter(self.filter_text)
        now = self.now
        if self.history:
            items = await self.backend.approval_history(200)
        else:
            items = await self.backend.pending_approvals(mine=self.mine)
        items = [a for a in items if matches(
            a, fields, words, *((outcome_of(a), why_of(a)) if self.history else ()))]
        if not self.history:
            items = inbox_order(items)
        self.approvals = {a.approval_id: a for a in items}
        self.marks &= set(self.approvals)  # only what is shown can be decided in bulk
        rows = []
        for a in items:
            if self.history:
                outcome = outcome_of(a)
                rows.append((a.approval_id, [
                    cell(short_id(a.approval_id)), priority(a.priority), cell(a.kind),
                    cell(outcome, OUTCOME_STYLES.get(outcome, "")), cell(a.decided_by or "-"),
                    cell(one_line(why_of(a), 300) or "-"),
                    cell(datetime_text(a.decided_at, zone=False)),
                    cell(since(a.decided_at, now)),
                ]))
            else:
                expires_at = epoch(a.expires_at)
                expires = age(expires_at - now) if expires_at is not None else "never"
                rows.append((a.approval_id, [
                    cell(MARK if a.approval_id in self.marks else ""),
                    cell(short_id(a.approval_id)), priority(a.priority), cell(a.kind),
                    cell(subject_of(a)), cell(one_line(summary_of(a), 300)),
                    cell(votes_text(a)), cell(assignees_text(a) if a.assignees else ""),
                    cell(since(a.created_at, now)), cell(*due_text(a, now)), cell(expires),
                ]))
        self.table.sync(rows)
        self._show_preview()
        self.refresh_status()

    def refresh_status(self) -> None:
        count = len(self.approvals)
        view = "MINE" if self.mine else "ALL"
        if self.history:
            text = Text(f"recent decisions ({count}) · h back to the inbox")
        elif self.marks:
            n = len(self.marks)
            text = Text.assemble((f"{view}: {count} waiting · {n} marked", "bold"),
                                 f" · a approve {n} · x reject {n} · esc clears marks")
        elif count:
            text = Text.assemble((f"{view}: {count} waiting", "bold"),
                                 " · a approve · x reject · space mark"
                                 + (" · m all" if self.mine else " · m mine"))
        elif self.mine:
            text = Text("MINE: nothing waits for you · m shows all")
        else:
            text = Text("ALL: inbox empty, nothing waits for anyone")
        self.set_status(text)

    def _show_preview(self) -> None:
        a = self.selected()
        preview = self.query_one("#approval-preview-text", Static)
        if a is None:
            preview.update(Text("nothing selected", style="dim"))
            return
        text = Text()
        text.append(f"{a.priority} {a.kind}", style="bold")
        text.append(f"  {a.approval_id}\n", style="dim")
        decided = a.status != "pending"
        if decided:  # the decision first: it is what the history is read for
            self._append_decision(text, a)
        if a.task_id:
            text.append(f"task {a.task_id}\n")
        if a.run_id:
            text.append(f"run {a.run_id} step {a.step_id}\n")
        if a.prompt:
            text.append(a.prompt + "\n")
        elif a.request_reason:
            text.append(a.request_reason + "\n")
        if a.quorum > 1:
            text.append(f"votes {a.progress}", style="bold")
            voters = ", ".join(f"{v.by} ({v.decision})" for v in a.votes)
            text.append((f": {voters}" if voters else "") + "\n")
        if a.assignees:
            text.append(f"assigned to {assignees_text(a)}\n")
        if a.fields and not decided:
            names = ", ".join(f"{f.title}{'*' if f.is_required else ''} ({f.type})"
                              for f in a.fields)
            text.append(f"form: {names}\n", style="italic")
        if a.agent_context:
            text.append("context: ", style="bold")
            text.append(one_line(a.agent_context, 600) + "\n")
        text.append(f"requested {datetime_text(a.created_at)}", style="dim")
        preview.update(text)

    @staticmethod
    def _append_decision(text: Text, a: Approval) -> None:
        """Who, when, the outcome and why; a gate's answer one ``key: value`` a line."""
        outcome = outcome_of(a)
        text.append(outcome, style=tint("bold " + OUTCOME_STYLES.get(outcome, "")))
        text.append(f" by {a.decided_by or '-'} at {datetime_text(a.decided_at)}\n")
        if a.rejection_reason:
            text.append("reason: ", style="bold")
            text.append(a.rejection_reason + "\n")
        pairs = answer_pairs(a.response)
        if pairs:
            text.append("answer:\n", style="bold")
            for key, value in pairs:
                text.append(f"  {key}: ", style="bold")
                text.append(one_line(value, 600) + "\n")
        elif not a.rejection_reason and a.status in ("expired", "cancelled"):
            text.append(f"{why_of(a)}\n", style="italic")

    @on(LiveTable.RowHighlighted, "#approvals-table")
    def _highlighted(self) -> None:
        self._show_preview()

    @on(LiveTable.RowSelected, "#approvals-table")
    def _selected(self) -> None:
        if not self.history:
            self.action_open_form()

    @on(ApprovalDecided)
    def _decided(self) -> None:
        self.request_reload(immediate=True)

    # -- actions ----------------------------------------------------------------------------
    def action_toggle_history(self) -> None:
        self.history = not self.history
        self.table.set_columns(HISTORY_COLUMNS if self.history else APPROVAL_COLUMNS)
        self.refresh_bindings()
        self.request_reload(immediate=True)

    def action_toggle_mark(self) -> None:
        """space: mark or unmark the row, then move down (marking a run of rows is one key
        a row)."""
        key = self.selected_id()
        if key is None:
            return
        self.marks.symmetric_difference_update({key})
        self._repaint_marks()
        self.table.action_cursor(1)

    def action_mark_all(self) -> None:
        """*: mark every row shown (the current filter's matches); if all are marked
        already, clear the marks."""
        shown = set(self.approvals)
        self.marks = set() if shown and shown <= self.marks else shown
        self._repaint_marks()

    def action_escape(self) -> None:
        if self.marks and not self.history:
            self.marks.clear()
            self._repaint_marks()
            return
        super().action_escape()

    def _repaint_marks(self) -> None:
        self.refresh_status()
        self.request_reload(immediate=True)

    def action_show_mine(self) -> None:
        self._set_mine(True)

    def action_show_all(self) -> None:
        self._set_mine(False)

    def _set_mine(self, mine: bool) -> None:
        self.mine = mine
        self.marks.clear()
        self.refresh_bindings()
        self.refresh_status()
        self.request_reload(immediate=True)

    def marked(self) -> list[Approval]:
        """The marked approvals, in the inbox's order."""
        return [a for key, a in self.approvals.items() if key in self.marks]

    def _bulk(self, action: Literal["approve", "reject"]) -> None:
        from switchboard.console.bulk import make_plan
        from switchboard.console.dialogs.bulk import BulkDecisionDialog

        plan = make_plan(self.marked(), action)

        def finished(outcomes: list[Outcome] | None) -> None:
            if outcomes:
                done = {o.approval_id for o in outcomes if o.decided}
                self.marks -= done
                decided = sum(1 for o in outcomes if o.decided)
                self.notify(f"{action} on {len(outcomes)}: {tally(outcomes)}",
                            timeout=4, severity="information" if decided == len(outcomes)
                            else "warning")
            self.request_reload(immediate=True)

        self.app.push_screen(BulkDecisionDialog(plan), finished)

    def action_approve(self) -> None:
        if self.refuse_if_read_only("approving"):
            return
        if self.marks:
            self._bulk("approve")
            return
        a = self.selected()
        if a is None:
            return
        if a.kind == "gate" and a.fields:
            self.action_open_form()  # a gate's answer is its form
            return
        self.run_worker(self._approve(a), group="decide", exit_on_error=False)

    async def _approve(self, a: Approval) -> None:
        from switchboard.console.dialogs.confirm import ConfirmDialog

        if a.approval_id in self._busy:
            return
        if a.priority == "P0":
            ok = await self.app.push_screen_wait(ConfirmDialog(
                "Approve a P0 (critical) item?",
                f"{one_line(a.request_reason or a.prompt, 300)}\n\n{a.kind} approval {a.approval_id}"
                + (f" for task {a.task_id}" if a.task_id else ""),
                confirm="Approve"))
            if not ok:
                self.notify("not approved", timeout=2)
                return
        self._busy.add(a.approval_id)
        try:
            result = await self.backend.approve(a.approval_id)
        except BackendError as exc:
            if not self.sb_app.note_backend_error(exc):
                self.notify(exc.detail, title="Not approved", severity="error")
        else:
            released = result.final and a.task_id
            self.notify(f"{result.words('approve')} {short_id(a.approval_id)}"
                        + (f": task {short_id(a.task_id)} released" if released else ""),
                        timeout=3)
        finally:
            self._busy.discard(a.approval_id)
            self.request_reload(immediate=True)

    def action_reject(self) -> None:
        if self.refuse_if_read_only("rejecting"):
            return
        if self.marks:
            self._bulk("reject")
            return
        a = self.selected()
        if a is None:
            return
        self.run_worker(self._reject(a), group="decide", exit_on_error=False)

    async def _reject(self, a: Approval) -> None:
        from switchboard.console.dialogs.prompt import PromptDialog

        reason = await self.app.push_screen_wait(PromptDialog(
            f"Reject {a.priority} {a.kind} approval?",
            "Reason (recorded and shown to whoever asked)",
            body=one_line(a.request_reason or a.prompt, 300), required=True,
            submit_hint="enter rejects, esc cancels"))
        if reason is None:
            return
        try:
            result = await self.backend.reject(a.approval_id, reason=reason)
        except BackendError as exc:
            if not self.sb_app.note_backend_error(exc):
                self.notify(exc.detail, title="Not rejected", severity="error")
        else:
            self.notify(f"{result.words('reject')} {short_id(a.approval_id)}", timeout=3)
        finally:
            self.request_reload(immediate=True)

    def action_open_form(self) -> None:
        if self.refuse_if_read_only("answering approvals"):
            return
        a = self.selected()
        if a is None:
            return
        from switchboard.console.dialogs.gate_form import GateFormScreen

        self.app.push_screen(GateFormScreen(a), lambda _: self.request_reload(immediate=True))
