"""Who an approval goes to, how many must agree, and when it falls due (issue 14).

Pure functions over an ``Approval`` and ``[approvals]`` config, kept apart from the service
so the rules can be read (and tested) without a store:

- **Assignees** are ``user:<principal>`` or ``role:<role>``. An approval with assignees is
  decided by them alone (admins may still break glass, audited); one without falls back to
  the gate's ``allowed_roles``/``allowed_users`` rules (``engine.approvals.admit``).
- **Delegates** are whom an assignee may hand the approval to (``reassign``): the initial
  assignees, ``[approvals] delegates`` and a gate's own ``delegates``, plus whoever an
  escalation step adds.
- **SLA**: ``due_at = created_at + sla``; reminders at fractions of the SLA before it, then
  the breach, then the escalation steps at ``due_at + step.after``. ``next_sweep`` is the
  next of those moments, stored on the row so the maintenance sweep is one indexed query and
  a restart carries on where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchboard.engine.actors import Actor
from switchboard.engine.config import ApprovalsConfig
from switchboard.engine.models import PRIORITIES, Approval


def principal_matches(assignees: list[str], actor: Actor) -> bool:
    """True when ``actor`` is one of ``assignees`` by name or by role."""
    return f"user:{actor.name}" in assignees or f"role:{actor.role}" in assignees


def raised(priority: str) -> str:
    """One level more urgent, never above P0."""
    index = PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES) - 1
    return PRIORITIES[max(0, index - 1)]


@dataclass(frozen=True, slots=True)
class Routing:
    """The routing an approval is opened with."""

    assignees: list[str]
    delegates: list[str]
    quorum: int
    reject_quorum: int
    sla_seconds: float | None
    on_timeout: str


def routing_for(config: ApprovalsConfig, *, task_type: str | None, priority: str,
                assignees: list[str] | None = None, delegates: list[str] | None = None,
                quorum: int | None = None, sla_seconds: float | None = None,
                on_timeout: str | None = None) -> Routing:
    """Merge a gate's own settings (the keyword arguments) over ``[approvals]``."""
    chosen = list(assignees if assignees else config.for_task(config.assign, task_type,
                                                             priority) or [])
    allowed = _unique([*chosen, *config.delegates, *(delegates or [])])
    needed = quorum if quorum is not None else config.for_task(config.quorum, task_type,
                                                               priority) or 1
    sla = sla_seconds if sla_seconds is not None else config.for_task(config.sla, task_type,
                                                                      priority)
    return Routing(assignees=chosen, delegates=allowed, quorum=int(needed),
                   reject_quorum=min(config.rejections_to_reject, max(1, int(needed))),
                   sla_seconds=sla, on_timeout=on_timeout or config.on_timeout)


def apply_routing(approval: Approval, routing: Routing, config: ApprovalsConfig) -> None:
    """Fill an unsaved approval's routing columns and its first sweep time."""
    approval.assignees = routing.assignees
    approval.delegates = routing.delegates
    approval.quorum = routing.quorum
    approval.reject_quorum = routing.reject_quorum
    approval.sla_seconds = routing.sla_seconds
    approval.on_timeout = routing.on_timeout
    approval.due_at = (approval.created_at + routing.sla_seconds
                       if routing.sla_seconds is not None else None)
    approval.next_sweep_at = next_sweep(approval, config)


def next_sweep(approval: Approval, config: ApprovalsConfig) -> float | None:
    """When the SLA sweep must look at ``approval`` next (None: never again)."""
    if approval.sla_seconds is None or approval.due_at is None:
        return None
    if not approval.overdue:
        moments = [approval.due_at]
        if approval.reminders_sent < len(config.reminders):
            fraction = config.reminders[approval.reminders_sent]
            moments.append(approval.created_at + fraction * approval.sla_seconds)
        return min(moments)
    if approval.on_timeout == "escalate" and approval.escalations < len(config.escalation):
        return approval.due_at + config.escalation[approval.escalations].after
    return None


def reminders_due(approval: Approval, config: ApprovalsConfig, now: float) -> int:
    """How many more reminder fractions have passed by ``now`` (before the breach)."""
    if approval.sla_seconds is None or approval.overdue:
        return 0
    passed = sum(1 for fraction in config.reminders
                 if approval.created_at + fraction * approval.sla_seconds <= now)
    return max(0, passed - approval.reminders_sent)


def vote_record(actor: Actor, decision: str, at: float, response: Any,
                break_glass: bool) -> dict[str, Any]:
    vote: dict[str, Any] = {"by": actor.name, "role": actor.role, "decision": decision,
                            "at": at}
    if response is not None:
        vote["response"] = response
    if break_glass:
        vote["break_glass"] = True
    return vote


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))
