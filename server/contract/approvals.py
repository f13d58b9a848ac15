"""Approvals on the wire: one inbox for P0/P1 task approvals and orchestration human gates.

A gate carries its form as typed ``GateField``s (seed 000's ``human_input_required.fields``);
the rules an answer must satisfy are in ``contract.gates``.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET, UnsetType, field

from switchboard.server.contract.common import Record, Time
from switchboard.server.contract.enums import (
    ApprovalKind,
    ApprovalStatus,
    FieldType,
    Priority,
    TimeoutAction,
)


class GateField(Record, kw_only=True):
    """One field of a human gate's form.

    ``options`` is seed 000's comma form (``"approve,reject"``) and ``choices`` the same list
    unambiguously; both are sent for select and multiselect fields only. ``required``,
    ``min``, ``max``, ``default``, ``placeholder`` and ``help`` are sent only when set.
    """

    name: str
    type: FieldType = FieldType.TEXT
    label: str = ""
    required: bool | UnsetType = UNSET
    options: str | list[str] | UnsetType = UNSET
    choice_list: list[str] | UnsetType = field(default=UNSET, name="choices")
    min: float | UnsetType = UNSET
    max: float | UnsetType = UNSET
    default: Any | UnsetType = UNSET
    placeholder: str | UnsetType = UNSET
    help: str | UnsetType = UNSET

    @property
    def choices(self) -> list[str]:
        """The options as a list, whichever way they were sent."""
        if not isinstance(self.choice_list, UnsetType):
            return [str(choice) for choice in self.choice_list]
        if isinstance(self.options, str):
            return [part.strip() for part in self.options.split(",") if part.strip()]
        if isinstance(self.options, list):
            return [str(option) for option in self.options]
        return []

    @property
    def is_required(self) -> bool:
        return self.required is True

    @property
    def lower(self) -> float | None:
        return None if isinstance(self.min, UnsetType) else self.min

    @property
    def upper(self) -> float | None:
        return None if isinstance(self.max, UnsetType) else self.max

    @property
    def default_value(self) -> Any:
        return None if isinstance(self.default, UnsetType) else self.default

    @property
    def title(self) -> str:
        return self.label or self.name


class HumanInputRequired(Record, kw_only=True):
    """What a run paused at a gate waits for (seed 000): the prompt, the form, the agent's
    context, and the approval that answers it."""

    run_id: str | UnsetType = UNSET
    step_id: str | None = None
    prompt: str = ""
    fields: list[GateField] = []
    agent_context: str | None = None
    timeout_seconds: float | UnsetType = UNSET
    approval_id: str | UnsetType = UNSET


class ActionLink(Record, kw_only=True):
    """A single-use link deciding one approval as ``principal`` (``POST .../links``)."""

    success: bool = True
    approval_id: str
    principal: str
    url: str
    expires_at: Time


class ApprovalVote(Record, kw_only=True):
    """One principal's vote on a quorum approval (``decision``: approve or reject)."""

    by: str
    role: str
    decision: str
    at: Time | None = None
    response: Any = None
    break_glass: bool = False


class Approval(Record, kw_only=True):
    """An approval. ``reason`` is the rejection reason once rejected (seed 003), the
    request's reason otherwise (``request_reason`` always). ``approved_by``/``approved_at``
    are set for approved ones; ``decided_by``/``decided_at`` for any decision.
    ``break_glass``: decided by an admin the gate did not list."""

    approval_id: str
    kind: ApprovalKind
    task_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    priority: Priority
    reason: str | None = None
    request_reason: str | None = None
    prompt: str | None = None
    fields: list[GateField] = []
    agent_context: str | None = None
    status: ApprovalStatus
    created_at: Time | None = None
    expires_at: Time | None = None
    timeout_action: TimeoutAction = TimeoutAction.REJECT
    allowed_roles: list[str] = []
    approved_by: str | None = None
    approved_at: Time | None = None
    decided_by: str | None = None
    decided_at: Time | None = None
    response: Any = None
    rejection_reason: str | None = None
    requested_by: str | None = None
    break_glass: bool = False
    # routing (issue 14): who decides, how many must agree, when it falls due
    assignees: list[str] = []
    delegates: list[str] = []
    quorum: int = 1
    approvals_count: int = 0
    rejections_count: int = 0
    progress: str = "0 of 1"  # "1 of 2": approvals so far of the quorum
    votes: list[ApprovalVote] = []
    sla_seconds: float | None = None
    due_at: Time | None = None
    overdue: bool = False
    on_timeout: str = "escalate"
    escalations: int = 0


class ApprovalList(Record, kw_only=True):
    """``GET /approvals/pending``: most critical first, then oldest first."""

    success: bool = True
    count: int
    approvals: list[Approval]


class ApprovalHistory(Record, kw_only=True):
    """``GET /approvals/history``: decided approvals, most recent first."""

    success: bool = True
    count: int
    history: list[Approval]


class ApprovalEnvelope(Record, kw_only=True):
    success: bool = True
    approval: Approval


class Decision(Record, kw_only=True):
    """The answer to approve/reject (seed 003: ``"Approved by agent-user"``).

    ``progress`` ("1 of 2") is sent only for a quorum approval: with ``status`` still
    ``pending`` it says the vote counted but did not decide it."""

    success: bool = True
    approval_id: str
    status: ApprovalStatus
    message: str = ""
    progress: str | UnsetType = UNSET
