"""Bulk approval decisions with a preview (issue 13): the plan, its table, and running it.

Why a plan first: a bulk approval is the one console action that changes many things with
one key, so the operator sees exactly what will happen before anything does: one row per
approval (id, priority, kind, what, who asked) and what will be done to it. Gates with form
fields are never bulk-approved (their answer is the form; approving them blank would
invent one): the plan says so and skips them. The operator confirms by typing the number of
approvals that will be decided, which a stray ``enter`` or ``y`` cannot do.

Then each approval is decided on its own (one request each, in the table's order), and
each gets its own result: ``approved``, ``approved 1 of 2, still pending`` (a quorum vote that
did not decide it), or ``refused: <the server's reason>`` (self-approval, not an assignee,
already decided...). One refusal never stops the rest.

Used by the Approvals screen (``console.dialogs.bulk``) and by ``switchboard approvals
approve|reject`` (``console.approvals_cmd``); headless (no Textual).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from switchboard.console.approval_words import (
    requested_by,
    subject_of,
    summary_of,
    votes_text,
)
from switchboard.console.backend import BackendError, DecisionResult
from switchboard.console.formatting import one_line
from switchboard.server.contract import Approval

Action = Literal["approve", "reject"]
HEADERS = ("ID", "P", "KIND", "VOTES", "WHAT", "REQUESTED BY", "WILL")
WHAT = HEADERS.index("WHAT")
FORM_SKIP = "skip: a gate with a form (answer it with f)"


@dataclass(frozen=True)
class PlanItem:
    """One approval in a bulk plan; ``skip`` says why it will not be decided."""

    approval: Approval
    skip: str = ""

    @property
    def approval_id(self) -> str:
        return self.approval.approval_id


@dataclass(frozen=True)
class Plan:
    action: Action
    items: list[PlanItem]

    @property
    def to_decide(self) -> list[PlanItem]:
        return [item for item in self.items if not item.skip]

    @property
    def count(self) -> int:
        """What the operator types to confirm: how many approvals will be decided."""
        return len(self.to_decide)

    @property
    def verb(self) -> str:
        return "approve" if self.action == "approve" else "reject"


@dataclass(frozen=True)
class Outcome:
    """The result for one approval: ``decided`` (our decision or vote was recorded),
    ``words`` for people."""

    approval_id: str
    decided: bool
    words: str


def make_plan(approvals: Sequence[Approval], action: Action) -> Plan:
    """The plan for ``approvals`` (in the order given): a gate with form fields is skipped
    when approving (rejecting needs no answer)."""
    items = [PlanItem(a, FORM_SKIP if action == "approve" and a.kind == "gate" and a.fields
                      else "") for a in approvals]
    return Plan(action, items)


def what_of(a: Approval) -> str:
    """The WHAT column: the subject and what it is about."""
    return f"{subject_of(a)}: {one_line(summary_of(a), 200)}"


def plan_rows(plan: Plan) -> list[tuple[str, ...]]:
    """One row of text per approval, under ``HEADERS`` (VOTES: "1 of 2" for a quorum)."""
    return [(item.approval_id, item.approval.priority, item.approval.kind,
             votes_text(item.approval), what_of(item.approval), requested_by(item.approval),
             item.skip or plan.verb)
            for item in plan.items]


def render_table(plan: Plan, width: int = 120) -> str:
    """The plan as a plain-text table (the shell command), WHAT cut to fit ``width``."""
    rows = plan_rows(plan)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(HEADERS)]
    fixed = sum(w for i, w in enumerate(widths) if i != WHAT) + 2 * (len(HEADERS) - 1)
    widths[WHAT] = max(12, min(widths[WHAT], width - fixed))

    def line(cells: Sequence[str]) -> str:
        parts = [cell if len(cell) <= widths[i] else cell[:widths[i] - 1] + "…"
                 for i, cell in enumerate(cells)]
        return "  ".join(p.ljust(widths[i]) for i, p in enumerate(parts)).rstrip()

    return "\n".join([line(HEADERS), *(line(r) for r in rows)])


def summary_line(plan: Plan) -> str:
    """``5 to approve, 1 skipped (a gate with a form)``."""
    skipped = len(plan.items) - plan.count
    text = f"{plan.count} to {plan.verb}"
    return text + (f", {skipped} skipped" if skipped else "")


Decide = Callable[[str], Awaitable[DecisionResult]]


async def execute(plan: Plan, decide: Decide,
                  on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Decide each approval of the plan in order, one at a time; a refusal is that item's
    outcome (with the server's reason), never the end of the run."""
    outcomes: list[Outcome] = []
    for item in plan.items:
        if item.skip:
            outcome = Outcome(item.approval_id, False, item.skip.replace("skip:", "skipped:"))
        else:
            try:
                result = await decide(item.approval_id)
            except BackendError as exc:
                outcome = Outcome(item.approval_id, False, f"refused: {exc.detail}")
            else:
                outcome = Outcome(item.approval_id, True, result.words(plan.action))
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def tally(outcomes: Sequence[Outcome]) -> str:
    """``4 decided, 1 refused``: the count of each."""
    decided = sum(1 for o in outcomes if o.decided)
    refused = sum(1 for o in outcomes if o.words.startswith("refused"))
    skipped = len(outcomes) - decided - refused
    parts = [f"{decided} decided"]
    if refused:
        parts.append(f"{refused} refused")
    if skipped:
        parts.append(f"{skipped} skipped")
    return ", ".join(parts)
