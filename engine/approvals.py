"""Approvals: the one human inbox for P0/P1 task gates and orchestration human steps.

Deciding is a single write op: the approval's status, the gated object's next state and the
``approval.decided`` event commit together, so an approval is decided exactly once even when
two consoles and the API race (the loser gets a Conflict naming who won).
Orchestration gates plug in through ``GateHandler`` so that checking the answer against the
form and moving the run forward happen in that same transaction.

Who may decide (checked inside the deciding transaction, so the check and the decision see
the same row):

- **Gate lists are exact membership.** ``allowed_roles`` admits exactly the roles listed
  (``["admin", "user"]`` admits users and refuses agents: roles are not ranks here) and
  ``allowed_users`` exactly the principals named; with both, either admits. An approval that
  lists nobody admits ``DEFAULT_DECIDERS`` (agents and admins: seed 003 gives ``agent``
  "approve requests" and ``user`` read-only access).
- **Break-glass.** An admin the lists do not admit may still decide; the approval is marked
  ``break_glass`` and the audit row is ``approval.break_glass`` instead of the usual one.
- **Separation of duties** (task approvals only; a gate is a form for a person to fill in,
  often the one who started the run). Nobody approves their own request: not the task's
  creator, not whoever asked for this approval by retrying the task, and, when the creator
  owns agents of the task's routed type (it made the work for itself), no *agent* principal
  that also owns agents of that type (the other workers who would run it). For a task made
  by a run's task step, the run's starter counts as its creator. Admins are bound
  too; the engine itself (``kind == "system"``) is not a requester. Rejecting one's own
  request is allowed: it is a withdrawal and lets nothing run. ``[approvals]
  allow_self_approval = true`` lifts the rule; each such approval is audited as
  ``approval.self_approve``.

Every decision appends exactly one audit row in the same transaction: ``approval.approve``,
``approval.reject``, ``gate.answer`` (a gate approved with its answer),
``approval.self_approve``, ``approval.break_glass`` or ``approval.expire`` (actor
``timeout``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Protocol

from switchboard.engine import audit
from switchboard.engine.actors import SYSTEM, Actor
from switchboard.engine.clock import Clock, iso
from switchboard.engine.config import Config
from switchboard.engine.errors import Conflict, EngineError, Forbidden, NotFound, ValidationFailed
from switchboard.engine.ids import new_id
from switchboard.engine.models import Approval, Task, normalize_priority
from switchboard.engine.rows import (
    APPROVAL_COLUMNS,
    APPROVAL_INSERT,
    approval_from_row,
    approval_insert_params,
    decode,
    encode,
)
from switchboard.engine.store.base import ReadConn, Store, Tx
from switchboard.engine.tasks import TaskService, _check_transition, load_task

DEFAULT_DECIDERS: Final = ("agent", "admin")
"""Who may decide an approval that lists neither roles nor users."""


def admit(approval: Approval, actor: Actor) -> bool:
    """Check ``actor`` against the approval's who-may-decide lists (exact membership).

    Returns True when the actor is admitted only as an admin breaking glass, False when a
    list admits it; raises Forbidden naming who may decide otherwise.
    """
    users = approval.allowed_users
    roles = approval.allowed_roles or ([] if users else list(DEFAULT_DECIDERS))
    if actor.name in users or actor.role in roles:
        return False
    if actor.is_admin:
        return True
    who = []
    if roles:
        who.append(f"role {' or '.join(roles)}")
    if users:
        who.append(f"one of {', '.join(users)}")
    raise Forbidden(f"approval {approval.approval_id} requires {', or '.join(who)};"
                    f" you are {actor.name} ({actor.role})")


def self_approval(tx: Tx, approval: Approval, task: Task, actor: Actor) -> str | None:
    """Why ``actor`` approving ``task`` would be approving its own request, or None."""
    if actor.kind == "system":
        return None
    if task.created_by and actor.name == task.created_by:
        return f"{actor.name} created task {task.id}"
    if approval.requested_by and actor.name == approval.requested_by:
        return f"{actor.name} requested this approval of task {task.id}"
    if task.run_id:  # a run's task step creates the task as the run: its starter asked
        row = tx.fetchone("SELECT doc FROM runs WHERE run_id = ?", (task.run_id,))
        starter = (decode(row[0]) or {}).get("created_by") if row is not None else None
        if starter and actor.name == starter:
            return f"{actor.name} started run {task.run_id}, which created task {task.id}"
    if actor.role == "agent" and task.created_by:
        row = tx.fetchone(
            "SELECT COUNT(DISTINCT owner) FROM agents WHERE type = ? AND deleted = 0"
            " AND owner IN (?, ?)", (task.assigned_agent, task.created_by, actor.name))
        if row is not None and int(row[0]) == 2:
            return (f"task {task.id} was created by {task.created_by} for its own"
                    f" {task.assigned_agent} agents, and {actor.name} runs"
                    f" {task.assigned_agent} agents too")
    return None


def _audit_action(approval: Approval, final: str, *, break_glass: bool,
                  self_approved: bool) -> str:
    if final == "expired":
        return "approval.expire"
    if self_approved:
        return "approval.self_approve"
    if break_glass:
        return "approval.break_glass"
    if final == "approved":
        return "gate.answer" if approval.kind == "gate" else "approval.approve"
    return "approval.reject"


class GateHandler(Protocol):
    """Called inside the deciding transaction for approvals of kind ``gate``."""

    def on_decision(self, tx: Tx, approval: Approval, approved: bool, response: Any,
                    actor: Actor) -> Any:
        """Validate ``response`` (raise ValidationFailed naming the field) and move the run.

        Returns the cleaned response that is stored on the approval.
        """
        ...


def load_approval(conn: Tx | ReadConn, approval_id: str) -> Approval:
    row = conn.fetchone(f"SELECT {APPROVAL_COLUMNS} FROM approvals WHERE approval_id = ?",
                        (approval_id,))
    if row is None:
        raise NotFound(f"approval {approval_id!r} not found")
    return approval_from_row(row)


def insert_gate(
    tx: Tx, *, run_id: str, step_id: str, prompt: str, fields: list[dict[str, Any]],
    agent_context: str | None, priority: str = "P2", timeout_seconds: float | None = None,
    timeout_response: Any = None, allowed_roles: list[str] | None = None,
    allowed_users: list[str] | None = None, reason: str | None = None,
) -> Approval:
    """Create an orchestration gate inside the caller's transaction (its checkpoint)."""
    approval = Approval(
        approval_id=new_id("approval"), kind="gate", priority=normalize_priority(priority),
        run_id=run_id, step_id=step_id, prompt=prompt, reason=reason or prompt, fields=fields,
        agent_context=agent_context, allowed_roles=allowed_roles or [],
        allowed_users=allowed_users or [],
        timeout_action="respond" if timeout_seconds else "reject",
        timeout_response=timeout_response, created_at=tx.now,
        expires_at=(tx.now + timeout_seconds) if timeout_seconds else None,
    )
    tx.execute(APPROVAL_INSERT, approval_insert_params(approval))
    tx.emit("approval.requested", approval.as_dict(), run_id=run_id,
            priority=approval.priority)
    return approval


class ApprovalService:
    """Read and decide approvals. Construct through ``engine.Engine``."""

    def __init__(self, store: Store, config: Config, clock: Clock, tasks: TaskService) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.tasks = tasks
        self._gate_handler: GateHandler | None = None
        self._after_gate: list[Callable[[Approval], None]] = []

    def set_gate_handler(self, handler: GateHandler) -> None:
        self._gate_handler = handler

    async def get(self, approval_id: str) -> Approval:
        return await self.store.read(lambda c: load_approval(c, approval_id), inline=True)

    async def pending(self) -> list[Approval]:
        """Every pending approval, most critical first, then oldest first."""
        def read(conn: ReadConn) -> list[Approval]:
            rows = conn.fetchall(
                f"SELECT {APPROVAL_COLUMNS} FROM approvals WHERE status = 'pending'"
                " ORDER BY priority, created_at, approval_id"
            )
            return [approval_from_row(r) for r in rows]
        return await self.store.read(read)

    async def history(self, limit: int = 100) -> list[Approval]:
        """Decided approvals, most recent decision first."""
        if not 1 <= limit <= 1000:
            raise ValidationFailed("limit", "must be between 1 and 1000")

        def read(conn: ReadConn) -> list[Approval]:
            rows = conn.fetchall(
                f"SELECT {APPROVAL_COLUMNS} FROM approvals WHERE status != 'pending'"
                " ORDER BY decided_at DESC LIMIT ?", (limit,)
            )
            return [approval_from_row(r) for r in rows]
        return await self.store.read(read)

    async def for_run(self, run_id: str) -> list[Approval]:
        def read(conn: ReadConn) -> list[Approval]:
            rows = conn.fetchall(
                f"SELECT {APPROVAL_COLUMNS} FROM approvals WHERE run_id = ? ORDER BY created_at",
                (run_id,),
            )
            return [approval_from_row(r) for r in rows]
        return await self.store.read(read)

    def decide_op(self, approval_id: str, approved: bool, actor: Actor, *,
                  reason: str | None = None, response: Any = None,
                  status: str | None = None) -> Callable[[Tx], Approval]:
        """The write op that decides an approval (exposed so callers can compose it)."""
        def op(tx: Tx) -> Approval:
            approval = load_approval(tx, approval_id)
            if approval.status != "pending":
                who = f" by {approval.decided_by}" if approval.decided_by else ""
                when = f" at {iso(approval.decided_at)}" if approval.decided_at else ""
                raise Conflict(f"approval {approval_id} is already {approval.status}{who}{when}")
            expiring = status == "expired"
            break_glass = False if expiring else admit(approval, actor)
            task = (load_task(tx, approval.task_id)
                    if approval.kind != "gate" and approval.task_id else None)
            self_approved = False
            if approved and task is not None and not expiring:
                why = self_approval(tx, approval, task, actor)
                if why is not None:
                    if not self.config.approvals.allow_self_approval:
                        raise Forbidden(f"self-approval is not allowed: {why}")
                    self_approved = True
            stored_response = response
            if approval.kind == "gate":
                if self._gate_handler is None:
                    raise Conflict("orchestration gates are not available in this engine")
                stored_response = self._gate_handler.on_decision(tx, approval, approved,
                                                                 response, actor)
            elif task is not None:
                if approved:
                    target = "pending" if task.available_at > tx.now + 0.001 else "assigned"
                    _check_transition(task, target)
                    tx.execute("UPDATE tasks SET status=?, updated_at=? WHERE id=?",
                               (target, tx.now, task.id))
                    task.status = target
                    if target == "assigned":
                        tx.emit("task.assigned", {"task_id": task.id, "type": task.type,
                                                  "status": target, "priority": task.priority,
                                                  "assigned_agent": task.assigned_agent,
                                                  "approved_by": actor.name},
                                task_id=task.id, run_id=task.run_id, priority=task.priority,
                                trace_id=task.trace_id)
                        self.tasks._wake_after(tx, task.assigned_agent)
                else:
                    _check_transition(task, "rejected")
                    self.tasks._finish(tx, task, "rejected",
                                       error=f"rejected by {actor.name}: {reason or 'no reason'}",
                                       actor=actor.name)
            final = status or ("approved" if approved else "rejected")
            approval.status = final
            approval.decided_by = actor.name
            approval.decided_at = tx.now
            approval.response = stored_response
            approval.rejection_reason = None if approved else reason
            approval.break_glass = break_glass
            tx.execute(
                "UPDATE approvals SET status=?, decided_by=?, decided_at=?, response=?,"
                " rejection_reason=?, break_glass=? WHERE approval_id=?",
                (final, actor.name, tx.now,
                 None if stored_response is None else encode(stored_response),
                 approval.rejection_reason, int(break_glass), approval_id),
            )
            after: dict[str, Any] = {"status": final, "kind": approval.kind}
            for key, value in (("task_id", approval.task_id), ("run_id", approval.run_id),
                               ("step_id", approval.step_id), ("response", stored_response)):
                if value is not None:
                    after[key] = value
            if break_glass:
                after["break_glass"] = True
                after["allowed_roles"] = approval.allowed_roles
                after["allowed_users"] = approval.allowed_users
            if status == "expired":
                after["decision"] = "approve" if approved else "reject"
            audit.record(tx, actor, _audit_action(approval, final, break_glass=break_glass,
                                                  self_approved=self_approved),
                         "approval", approval_id, before={"status": "pending"}, after=after,
                         reason=reason)
            tx.emit("approval.decided", approval.as_dict(), task_id=approval.task_id,
                    run_id=approval.run_id, priority=approval.priority,
                    source_agent=actor.name)
            return approval

        return op

    async def approve(self, approval_id: str, actor: Actor = SYSTEM, *,
                      response: Any = None) -> Approval:
        return await self.store.write(self.decide_op(approval_id, True, actor,
                                                     response=response))

    async def reject(self, approval_id: str, actor: Actor = SYSTEM, *,
                     reason: str | None = None, response: Any = None) -> Approval:
        if reason is not None and len(reason) > 2000:
            raise ValidationFailed("reason", "must be at most 2000 characters")
        return await self.store.write(self.decide_op(approval_id, False, actor, reason=reason,
                                                     response=response))

    def expiry_op(self, tx: Tx) -> int:
        """Expire overdue approvals, applying each one's timeout action. Part of maintenance."""
        rows = tx.fetchall(
            "SELECT approval_id, timeout_action, timeout_response, kind FROM approvals"
            " WHERE status='pending' AND expires_at IS NOT NULL AND expires_at <= ? LIMIT 500",
            (tx.now,),
        )
        timeout = Actor("timeout", "admin")
        for approval_id, action, timeout_response, kind in rows:
            approved = action in ("approve", "respond")
            response = None
            if kind == "gate" and action == "respond" and timeout_response is not None:
                response = decode(timeout_response)
            tx.execute("SAVEPOINT expire")
            try:
                self.decide_op(approval_id, approved, timeout, reason="approval timed out",
                               response=response, status="expired")(tx)
                tx.execute("RELEASE expire")
            except EngineError as exc:
                # e.g. a gate's default answer no longer fits its form: reject instead
                tx.execute("ROLLBACK TO expire")
                tx.execute("RELEASE expire")
                self.decide_op(approval_id, False, timeout,
                               reason=f"approval timed out; default answer refused: {exc.detail}",
                               status="expired")(tx)
        return len(rows)
