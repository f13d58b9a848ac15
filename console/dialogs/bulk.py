"""The bulk decision dialog: the pre-flight table, the typed count, then a result per item.

Why typing the count: the dialog decides many approvals at once, so its confirmation must
be something a stray ``enter``, ``y`` or the next list key cannot give (k9s asks for the
object's name on destructive actions; here the number is what the operator must have
read). Rejecting asks for one reason for all, recorded on each. While it runs, each row's
RESULT fills in; afterwards ``enter`` or ``esc`` closes and the inbox reloads.
See ``console.bulk`` for the plan and its rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from switchboard.console.backend import DecisionResult
from switchboard.console.bulk import HEADERS, Outcome, Plan, execute, plan_rows, summary_line
from switchboard.console.formatting import short_id, tint

if TYPE_CHECKING:
    from switchboard.console.app import SwitchboardApp


class BulkDecisionDialog(ModalScreen[list[Outcome] | None]):
    """Dismissed with the outcomes (None when cancelled before anything was decided)."""

    DEFAULT_CSS = """
    BulkDecisionDialog > .dialog { width: 110; }
    BulkDecisionDialog #bulk-table { height: auto; max-height: 14; }
    BulkDecisionDialog Input { margin: 0 0 0 0; }
    """

    BINDINGS = [Binding("escape", "close", "close", id="dialog.cancel"),
                Binding("enter", "close", "close", show=False, id="dialog.close")]

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan
        self.outcomes: dict[str, Outcome] = {}
        self.running = False
        self.done = False

    @property
    def sb_app(self) -> SwitchboardApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        plan = self.plan
        with Vertical(classes="dialog"):
            yield Label(f"{plan.verb.capitalize()} {plan.count} of {len(plan.items)} marked "
                        "approvals?", classes="dialog-title", markup=False)
            with VerticalScroll(id="bulk-table"):
                yield Static(self._table(), id="bulk-table-text")
            yield Static(summary_line(plan), id="bulk-summary", markup=False)
            if plan.action == "reject":
                yield Label("Reason, recorded on each (shown to whoever asked) *", markup=False)
                yield Input(id="bulk-reason", placeholder="why", compact=True)
            yield Label(f"Type {plan.count} to {plan.verb} {plan.count}", id="bulk-count-label",
                        markup=False)
            yield Input(id="bulk-count", placeholder=str(plan.count), restrict=r"[0-9]*",
                        compact=True)
            yield Static("", id="bulk-error", classes="field-error", markup=False)
            yield Static(f"enter {plan.verb}s once the count is typed, esc cancels",
                         id="bulk-hint", classes="dialog-hint", markup=False)

    def on_mount(self) -> None:
        blink = getattr(self.app, "cursor_blink", True)
        for field in self.query(Input):
            field.cursor_blink = blink
        first = "#bulk-reason" if self.plan.action == "reject" else "#bulk-count"
        self.query_one(first, Input).focus()

    def _table(self) -> Table:
        table = Table(box=None, pad_edge=False, expand=True, show_edge=False)
        quorum = any(item.approval.quorum > 1 for item in self.plan.items)
        skip = () if quorum else (HEADERS.index("VOTES"),)  # no quorum: no VOTES column
        for index, header in enumerate((*HEADERS, "RESULT")):
            if index in skip:
                continue
            table.add_column(header, no_wrap=True, overflow="ellipsis",
                             ratio=1 if header == "WHAT" else None,
                             min_width=8 if header == "WHAT" else None)
        for item, row in zip(self.plan.items, plan_rows(self.plan), strict=True):
            outcome = self.outcomes.get(item.approval_id)
            result = Text("")
            if outcome is not None:
                style = "" if outcome.decided else "bold"
                result = Text(outcome.words, style=tint(style) if style else "")
            cells = [short_id(row[0]), *row[1:]]
            if item.skip:
                cells[-1] = "skip"
                if outcome is None:
                    result = Text(item.skip.removeprefix("skip: "), style="dim")
            table.add_row(*(c for i, c in enumerate(cells) if i not in skip), result)
        return table

    def _error(self, text: str) -> None:
        self.query_one("#bulk-error", Static).update(text)

    @on(Input.Submitted, "#bulk-reason")
    def _reason_entered(self) -> None:
        self.query_one("#bulk-count", Input).focus()

    @on(Input.Submitted, "#bulk-count")
    def _count_entered(self, event: Input.Submitted) -> None:
        if self.done:
            self.action_close()
            return
        if self.running:
            return
        if self.plan.count == 0:
            self._error("nothing to decide: every marked approval is skipped")
            return
        if event.value.strip() != str(self.plan.count):
            self._error(f"type {self.plan.count} (the number of approvals to {self.plan.verb})")
            return
        reason = None
        if self.plan.action == "reject":
            reason = self.query_one("#bulk-reason", Input).value.strip()
            if not reason:
                self._error("a reason is required to reject")
                self.query_one("#bulk-reason", Input).focus()
                return
        self._error("")
        self.running = True
        self.query_one("#bulk-hint", Static).update(f"{self.plan.verb[:-1]}ing…")
        self.run_worker(self._run(reason), group="bulk", exclusive=True, exit_on_error=False)

    async def _run(self, reason: str | None) -> None:
        backend = self.sb_app.backend

        async def decide(approval_id: str) -> DecisionResult:
            if self.plan.action == "approve":
                return await backend.approve(approval_id)
            return await backend.reject(approval_id, reason=reason)

        def shown(outcome: Outcome) -> None:
            self.outcomes[outcome.approval_id] = outcome
            self.query_one("#bulk-table-text", Static).update(self._table())

        try:
            outcomes = await execute(self.plan, decide, shown)
        finally:
            self.running = False
        self.done = True
        from switchboard.console.bulk import tally

        self.query_one("#bulk-summary", Static).update(tally(outcomes))
        self.query_one("#bulk-hint", Static).update("done: enter or esc closes")
        self.query_one("#bulk-count", Input).disabled = True
        self.query_one("#bulk-count-label", Label).update("")
        self.set_focus(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "close" and self.running:
            return False
        return True

    def action_close(self) -> None:
        if self.running:
            return  # each decision is already on its way; the results say how each went
        self.dismiss(list(self.outcomes.values()) if self.outcomes else None)
