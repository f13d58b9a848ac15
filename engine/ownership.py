"""Object-level authorization: which principal may act as an agent id, or on a task.

Why a module of its own: the route table decides *which role* may call a route; these rules
decide *on which object*. They are pure checks on rows the caller's write op has already
read (the agent row a claim reads anyway, the task row a completion reads anyway), so they
add no round trip to the hot path; the only writes they make (binding an unowned agent id,
an audit row for an admin override) go into that same op, so a check and the change it
guards commit together or not at all.

The rules (issue 9; DESIGN "Authorization has two layers"):

- **Agent ids** belong to the principal that registered them (``agents.owner``, the
  principal's name: JWT ``sub``, API key name, OAuth client id). An id created by an admin
  without an owner (seed 001's pre-created id) is bound to the first *agent* principal that
  registers, heartbeats or claims with it. Anyone else acting as that id gets 403; an admin
  may, and each time it acts as an id another principal owns it writes ``agent.override``.
- **Tasks in progress** belong to their holder: whoever presents the current ``lease_id``,
  or the principal that claimed the task or moved it to ``in_progress``
  (``tasks.claimed_principal``; seed 003's PATCH flow sends no lease). Worker-side changes
  (progress, logs, complete, fail, release, lease, PATCH status) from anyone else get 403;
  an admin may, writing ``task.override``. A stale lease stays a 409 (the SDK's "lease
  lost" signal), whoever sends it.
- **Tasks nobody holds** (pending, awaiting_approval, assigned) may be cancelled by their
  creator or an admin; failed directly (without a claim) only by an admin; logged to by
  their creator, their last holder or an admin.

The engine acting on its own (``Actor.kind == "system"``: maintenance, in-process tools,
benchmarks) is an admin that writes no override rows: it overrides nobody's decision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from switchboard.engine import audit
from switchboard.engine.actors import Actor
from switchboard.engine.errors import Conflict, Forbidden
from switchboard.engine.models import Task
from switchboard.engine.store.base import Tx


def is_system(actor: Actor) -> bool:
    return actor.kind == "system"


def act_as_agent(tx: Tx, actor: Actor, agent_id: str, owner: str | None, action: str, *,
                 bind: Callable[[Tx, str, str], None],
                 audit_override: bool = True) -> str | None:
    """Check that ``actor`` may ``action`` as ``agent_id`` (owned by ``owner``); bind an
    unowned id to an agent principal. Returns the owner after the call.

    Must run inside the write op that read ``owner``: the store's single writer makes the
    read, the check and the bind one atomic step, so two principals racing for an unowned
    id cannot both win. ``audit_override=False`` leaves an admin's override row to the
    caller (a claim records it only when it actually leases a task, not per empty poll).
    ``bind(tx, agent_id, principal)`` is the agent service's own statement for the binding
    (this module holds rules, not SQL).
    """
    if owner is None:
        if actor.role == "agent":
            bind(tx, agent_id, actor.name)
            return actor.name
        if not actor.is_admin:
            raise Forbidden(f"{action} as an agent requires role agent; you have {actor.role}")
        return None
    if owner == actor.name:
        return owner
    if actor.is_admin:
        if audit_override:
            record_agent_override(tx, actor, agent_id, owner, action)
        return owner
    raise Forbidden(f"agent {agent_id} belongs to another principal; only the principal that "
                    f"registered it (or an admin) may {action} as it")


def overrides_agent(actor: Actor, owner: str | None) -> bool:
    """True if ``actor`` acting as an agent ``owner`` owns is an admin override."""
    return owner is not None and owner != actor.name and actor.is_admin


def record_agent_override(tx: Tx, actor: Actor, agent_id: str, owner: str | None, action: str,
                          **extra: Any) -> None:
    if not is_system(actor) and overrides_agent(actor, owner):
        audit.record(tx, actor, "agent.override", "agent", agent_id,
                     before={"owner": owner}, after={"action": action, **extra})


def check_lease(task: Task, lease_id: str) -> None:
    """A lease must be the task's current one: else 409, the worker's "lease lost" signal."""
    if task.status != "in_progress" or task.lease_id != lease_id:
        holder = task.claimed_by if task.status == "in_progress" else None
        raise Conflict(
            f"lease {lease_id} on task {task.id} is no longer valid (task is {task.status}"
            + (f", now held by {holder})" if holder else ")")
        )


TASK_ACTIONS: Final = {
    "progress": "report progress on", "log": "log to", "complete": "complete",
    "fail": "fail", "release": "release", "lease": "extend the lease of",
    "status": "change the status of", "cancel": "cancel",
}
"""Worker-side actions on a task (the audit row's ``after.action``) and how details say them."""


def is_holder(task: Task, actor: Actor) -> bool:
    return task.claimed_principal is not None and task.claimed_principal == actor.name


def check_holder(tx: Tx, task: Task, actor: Actor, lease_id: str | None, action: str) -> None:
    """Refuse a worker-side change to an in-progress task from anyone but its holder.

    With ``lease_id`` the lease decides (409 when stale). Without it the caller must be the
    principal that claimed the task, or an admin (audited as ``task.override``). Tasks not
    in progress have no holder: the caller's own transition checks decide about those.
    """
    if lease_id is not None:
        check_lease(task, lease_id)
        return
    if task.status != "in_progress" or is_holder(task, actor):
        return
    if actor.is_admin:
        record_override(tx, task, actor, action)
        return
    raise Forbidden(
        f"task {task.id} is in_progress, held by another principal; only its holder (with "
        f"its lease_id, or as the principal that claimed it) or an admin may "
        f"{TASK_ACTIONS.get(action, action)} it")


def record_override(tx: Tx, task: Task, actor: Actor, action: str, **extra: Any) -> None:
    if not is_system(actor):
        audit.record(tx, actor, "task.override", "task", task.id,
                     before={"status": task.status, "holder": task.claimed_principal},
                     after={"action": action, **extra})


def check_unheld_fail(task: Task, actor: Actor) -> None:
    """Failing a task nobody holds skips the worker entirely: an admin decision."""
    if task.status != "in_progress" and not actor.is_admin:
        raise Forbidden(
            f"task {task.id} is {task.status} and held by no one: claim it first (only an "
            "admin may fail a task nobody holds)")


def check_log(task: Task, actor: Actor) -> None:
    """Log lines on a task nobody holds: its creator, its last holder, or an admin."""
    if task.status == "in_progress" or actor.is_admin or is_holder(task, actor):
        return
    if task.created_by is not None and task.created_by == actor.name:
        return
    raise Forbidden(
        f"task {task.id} is {task.status} and not held by you: only its creator, its last "
        "holder or an admin may log to it (a worker must claim it first)")


def check_cancel(task: Task, actor: Actor, lease_id: str | None) -> None:
    """Who may cancel: the holder or an admin once in progress; the creator or an admin
    before that (pending, awaiting_approval, assigned). Final tasks are left to the
    transition check (409)."""
    if actor.is_admin:
        return
    if task.status == "in_progress":
        if lease_id is not None:
            check_lease(task, lease_id)
            return
        if is_holder(task, actor):
            return
        raise Forbidden(
            f"task {task.id} is in_progress, held by another principal; only its holder or "
            "an admin may cancel it")
    if task.status in ("pending", "awaiting_approval", "assigned") and (
            task.created_by is None or task.created_by != actor.name):
        raise Forbidden(
            f"task {task.id} was created by another principal; only its creator or an admin "
            f"may cancel it while it is {task.status}")
