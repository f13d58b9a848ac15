"""Approvals: the one human inbox for P0/P1 task gates and orchestration human steps.

Deciding is a single write op: the approval's status, the gated object's next state and the
``approval.decided`` event commit together, so an approval is decided exactly once even when
two consoles and the API race (the loser gets a Conflict naming who won).
Orchestration gates plug in through ``GateHandler`` so that checking the answer against the
form and moving the run forward happen in that same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from switchboard.engine.actors import SYSTEM, Actor
from switchboard.engine.clock import Clock, iso
from switchboard.engine.config import Config
from switchboard.engine.errors import Conflict, EngineError, Forbidden, NotFound, ValidationFailed
from switchboard.engine.ids import new_id
from switchboard.engine.models import Approval, normalize_priority
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

ROLE_RANK = {"user": 0, "agent": 1, "admin": 2}


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

    def _check_allowed(self, approval: Approval, actor: Actor) -> None:
        if approval.allowed_users and actor.name not in approval.allowed_users:
            raise Forbidden(
                f"approval {approval.approval_id} may only be decided by"
                f" {', '.join(approval.allowed_users)}"
            )
        if approval.allowed_roles and not any(
            ROLE_RANK.get(actor.role, -1) >= ROLE_RANK.get(role, 99)
            for role in approval.allowed_roles
        ):
            raise Forbidden(
                f"approval {approval.approval_id} needs role {' or '.join(approval.allowed_roles)};"
                f" you have {actor.role}"
            )

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
            if status != "expired":
                self._check_allowed(approval, actor)
            stored_response = response
            if approval.kind == "gate":
                if self._gate_handler is None:
                    raise Conflict("orchestration gates are not available in this engine")
                stored_response = self._gate_handler.on_decision(tx, approval, approved,
                                                                 response, actor)
            elif approval.task_id:
                task = load_task(tx, approval.task_id)
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
            tx.execute(
                "UPDATE approvals SET status=?, decided_by=?, decided_at=?, response=?,"
                " rejection_reason=? WHERE approval_id=?",
                (final, actor.name, tx.now,
                 None if stored_response is None else encode(stored_response),
                 approval.rejection_reason, approval_id),
            )
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
