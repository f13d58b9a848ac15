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
from switchboard.engine.approval_routing import (
    apply_routing,
    next_sweep,
    principal_matches,
    raised,
    reminders_due,
    routing_for,
    vote_record,
)
from switchboard.engine.clock import Clock, iso
from switchboard.engine.config import Config
from switchboard.engine.errors import Conflict, EngineError, Forbidden, NotFound, ValidationFailed
from switchboard.engine.ids import new_id
from switchboard.engine.models import (
    PRIORITIES,
    Approval,
    ApprovalStatus,
    Task,
    normalize_priority,
)
from switchboard.engine.ports import Peers
from switchboard.engine.rows import (
    approval_from_row,
    approval_insert_params,
    approval_routing_params,
    decode,
    encode,
)
from switchboard.engine.store.base import ReadConn, Store, Tx
from switchboard.engine.store.queries import Q

DEFAULT_DECIDERS: Final = ("agent", "admin")
"""Who may decide an approval that lists neither roles nor users."""


def admit(approval: Approval, actor: Actor) -> bool:
    """Check ``actor`` against the approval's who-may-decide lists (exact membership).

    Returns True when the actor is admitted only as an admin breaking glass, False when a
    list admits it; raises Forbidden naming who may decide otherwise.
    """
    if approval.assignees:
        if principal_matches(approval.assignees, actor):
            return False
        if actor.is_admin:
            return True
        raise Forbidden(f"approval {approval.approval_id} is assigned to"
                        f" {', '.join(approval.assignees)}; you are {actor.name} ({actor.role})")
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


def self_approval(tx: Tx, peers: Peers, approval: Approval, task: Task,
                  actor: Actor) -> str | None:
    """Why ``actor`` approving ``task`` would be approving its own request, or None."""
    if actor.kind == "system":
        return None
    if task.created_by and actor.name == task.created_by:
        return f"{actor.name} created task {task.id}"
    if approval.requested_by and actor.name == approval.requested_by:
        return f"{actor.name} requested this approval of task {task.id}"
    if task.run_id:  # a run's task step creates the task as the run: its starter asked
        starter = peers.runs.starter_of(tx, task.run_id)
        if starter and actor.name == starter:
            return f"{actor.name} started run {task.run_id}, which created task {task.id}"
    if actor.role == "agent" and task.created_by:
        owners = peers.agents.owners_of_type(tx, task.assigned_agent,
                                             (task.created_by, actor.name))
        if owners == 2:
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

    def check_answer(self, tx: Tx, approval: Approval, response: Any) -> Any:
        """Validate a quorum vote's answer without moving the run; the cleaned answer."""
        ...


def load_approval(conn: ReadConn, approval_id: str) -> Approval:
    row = conn.one(Q.approval_by_id, {"approval_id": approval_id})
    if row is None:
        raise NotFound(f"approval {approval_id!r} not found")
    return approval_from_row(row)


class ApprovalService:
    """Read and decide approvals. Construct through ``engine.Engine``."""

    def __init__(self, store: Store, config: Config, clock: Clock, peers: Peers) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.peers = peers
        self._gate_handler: GateHandler | None = None
        self._after_gate: list[Callable[[Approval], None]] = []

    def set_gate_handler(self, handler: GateHandler) -> None:
        self._gate_handler = handler

    async def get(self, approval_id: str) -> Approval:
        return await self.store.read(lambda c: load_approval(c, approval_id), inline=True)

    async def pending(self) -> list[Approval]:
        """Every pending approval, most critical first, then oldest first."""
        def read(conn: ReadConn) -> list[Approval]:
            return [approval_from_row(r) for r in conn.all(Q.approval_pending)]
        return await self.store.read(read)

    async def history(self, limit: int = 100) -> list[Approval]:
        """Decided approvals, most recent decision first."""
        if not 1 <= limit <= 1000:
            raise ValidationFailed("limit", "must be between 1 and 1000")

        def read(conn: ReadConn) -> list[Approval]:
            return [approval_from_row(r) for r in conn.all(Q.approval_history,
                                                           {"limit": limit})]
        return await self.store.read(read)

    async def for_run(self, run_id: str) -> list[Approval]:
        def read(conn: ReadConn) -> list[Approval]:
            return [approval_from_row(r) for r in conn.all(Q.approval_for_run,
                                                           {"run_id": run_id})]
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
            task = (self.peers.tasks.load(tx, approval.task_id)
                    if approval.kind != "gate" and approval.task_id else None)
            self_approved = False
            if approved and task is not None and not expiring:
                why = self_approval(tx, self.peers, approval, task, actor)
                if why is not None:
                    if not self.config.approvals.allow_self_approval:
                        raise Forbidden(f"self-approval is not allowed: {why}")
                    self_approved = True
            if not expiring and (approval.quorum > 1 or approval.reject_quorum > 1):
                if not self._vote(tx, approval, approved, actor, response, reason,
                                  break_glass):
                    return approval  # a vote short of the quorum: still pending
            stored_response = response
            if approval.kind == "gate":
                if self._gate_handler is None:
                    raise Conflict("orchestration gates are not available in this engine")
                stored_response = self._gate_handler.on_decision(tx, approval, approved,
                                                                 response, actor)
            elif task is not None:
                if approved:
                    self.peers.tasks.approved(tx, task, actor)
                else:
                    self.peers.tasks.rejected(tx, task, actor, reason)
            final = (ApprovalStatus(status) if status else
                     ApprovalStatus.APPROVED if approved else ApprovalStatus.REJECTED)
            approval.status = final
            approval.decided_by = actor.name
            approval.decided_at = tx.now
            approval.response = stored_response
            approval.rejection_reason = None if approved else reason
            approval.break_glass = break_glass
            tx.run(Q.approval_decide, {
                "approval_id": approval_id, "status": final, "decided_by": actor.name,
                "decided_at": tx.now,
                "response": None if stored_response is None else encode(stored_response),
                "rejection_reason": approval.rejection_reason, "break_glass": int(break_glass),
                "votes": encode(approval.votes)})
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
            if approval.quorum > 1 or approval.reject_quorum > 1:
                after["progress"] = approval.progress
                after["voters"] = [vote["by"] for vote in approval.votes]
            audit.record(tx, actor, _audit_action(approval, final, break_glass=break_glass,
                                                  self_approved=self_approved),
                         "approval", approval_id, before={"status": "pending"}, after=after,
                         reason=reason)
            tx.emit("approval.decided", approval.as_dict(), task_id=approval.task_id,
                    run_id=approval.run_id, priority=approval.priority,
                    source_agent=actor.name)
            return approval

        return op

    def _vote(self, tx: Tx, approval: Approval, approved: bool, actor: Actor, response: Any,
              reason: str | None, break_glass: bool) -> bool:
        """Record one principal's vote; True when it completes the quorum (the caller then
        decides the approval in this same transaction, so it proceeds exactly once)."""
        for vote in approval.votes:
            if vote["by"] == actor.name:
                raise Conflict(f"{actor.name} already voted to {vote['decision']} approval"
                               f" {approval.approval_id} at {iso(vote['at'])}"
                               f" ({approval.progress}); a quorum needs distinct people")
        decision = "approve" if approved else "reject"
        if approved and approval.kind == "gate":
            if self._gate_handler is None:
                raise Conflict("orchestration gates are not available in this engine")
            response = self._gate_handler.check_answer(tx, approval, response)
        approval.votes = [*approval.votes, vote_record(actor, decision, tx.now,
                                                       response, break_glass)]
        if (approval.approvals_count >= approval.quorum if approved
                else approval.rejections_count >= approval.reject_quorum):
            return True
        tx.run(Q.approval_update_routing, approval_routing_params(approval))
        audit.record(tx, actor, "approval.vote", "approval", approval.approval_id,
                     before={"status": "pending"},
                     after={"decision": decision, "progress": approval.progress,
                            "break_glass": break_glass}, reason=reason)
        tx.emit("approval.voted", approval.as_dict(), task_id=approval.task_id,
                run_id=approval.run_id, priority=approval.priority, source_agent=actor.name)
        return False

    def reassign_op(self, approval_id: str, actor: Actor, assignees: list[str],
                    reason: str | None = None) -> Callable[[Tx], Approval]:
        """Hand a pending approval to others within its delegates (audited)."""
        def op(tx: Tx) -> Approval:
            approval = load_approval(tx, approval_id)
            if approval.status != "pending":
                raise Conflict(f"approval {approval_id} is already {approval.status}")
            break_glass = admit(approval, actor)
            task = (self.peers.tasks.load(tx, approval.task_id)
                    if approval.kind != "gate" and approval.task_id else None)
            if task is not None and not self.config.approvals.allow_self_approval:
                why = self_approval(tx, self.peers, approval, task, actor)
                if why is not None:  # choosing one's own approver is approving by proxy
                    raise Forbidden(f"reassigning your own request is not allowed: {why}")
            outside = [name for name in assignees if name not in approval.delegates]
            if outside:
                allowed = ", ".join(approval.delegates) or "nobody (no delegates configured:"\
                    " set [approvals] delegates or the gate's delegates)"
                raise Forbidden(f"approval {approval_id} may be reassigned only to {allowed};"
                                f" not to {', '.join(outside)}")
            before = list(approval.assignees)
            approval.assignees = list(dict.fromkeys(assignees))
            tx.run(Q.approval_update_routing, approval_routing_params(approval))
            audit.record(tx, actor, "approval.reassign", "approval", approval_id,
                         before={"assignees": before},
                         after={"assignees": approval.assignees, "break_glass": break_glass},
                         reason=reason)
            tx.emit("approval.reassigned", approval.as_dict(), task_id=approval.task_id,
                    run_id=approval.run_id, priority=approval.priority,
                    source_agent=actor.name)
            return approval

        return op

    async def reassign(self, approval_id: str, actor: Actor, assignees: list[str],
                       reason: str | None = None) -> Approval:
        if not assignees:
            raise ValidationFailed("assignees", "name at least one assignee")
        if reason is not None and len(reason) > 2000:
            raise ValidationFailed("reason", "must be at most 2000 characters")
        return await self.store.write(self.reassign_op(approval_id, actor, assignees, reason))

    async def pending_for(self, actor: Actor) -> list[Approval]:
        """The pending approvals ``actor`` may decide as assignee or listed decider (not as an
        admin breaking glass): the console's and the API's "mine"."""
        mine = []
        for approval in await self.pending():
            try:
                if not admit(approval, actor):
                    mine.append(approval)
            except Forbidden:
                continue
        return mine

    def sla_op(self, tx: Tx) -> int:
        """Reminders, breaches and escalation steps that have come due. Part of maintenance;
        all state is in the rows (``next_sweep_at``), so a restart carries on."""
        cfg = self.config.approvals
        sla = Actor("sla", "admin")
        rows = [approval_from_row(row) for row in tx.all(Q.approval_sweep_due, {"now": tx.now})]
        for approval in rows:
            reminders = reminders_due(approval, cfg, tx.now)
            if reminders:  # one reminder for those passed together (e.g. after a restart)
                approval.reminders_sent += reminders
                tx.emit("approval.reminder", {**approval.as_dict(),
                                              "reminder": approval.reminders_sent},
                        task_id=approval.task_id, run_id=approval.run_id,
                        priority=approval.priority)
            if not approval.overdue and approval.due_at is not None \
                    and approval.due_at <= tx.now:
                approval.overdue = True
                audit.record(tx, sla, "approval.overdue", "approval", approval.approval_id,
                             before={"overdue": False},
                             after={"overdue": True, "due_at": iso(approval.due_at),
                                    "on_timeout": approval.on_timeout})
                tx.emit("approval.overdue", approval.as_dict(), task_id=approval.task_id,
                        run_id=approval.run_id, priority=approval.priority)
                if approval.on_timeout in ("default", "reject"):
                    tx.run(Q.approval_update_routing, approval_routing_params(approval))
                    self._decide_by_timeout(tx, approval.approval_id, approval.on_timeout, sla,
                                            "approval SLA breached")
                    continue
            if approval.overdue and approval.on_timeout == "escalate" and \
                    self._escalate(tx, approval, sla):
                continue  # an escalation step decided it
            approval.next_sweep_at = next_sweep(approval, cfg)
            tx.run(Q.approval_update_routing, approval_routing_params(approval))
        return len(rows)

    def _escalate(self, tx: Tx, approval: Approval, sla: Actor) -> bool:
        """Take the escalation steps whose time has come; True if one decided it."""
        steps = self.config.approvals.escalation
        assert approval.due_at is not None
        while approval.escalations < len(steps) and \
                approval.due_at + steps[approval.escalations].after <= tx.now:
            step = steps[approval.escalations]
            before = {"assignees": list(approval.assignees), "priority": approval.priority}
            approval.escalations += 1
            if step.assign:
                approval.assignees = list(dict.fromkeys([*approval.assignees, *step.assign]))
                approval.delegates = list(dict.fromkeys([*approval.delegates, *step.assign]))
            if step.raise_priority:
                approval.priority = raised(approval.priority)
            after: dict[str, Any] = {"step": approval.escalations,
                                     "assignees": approval.assignees,
                                     "priority": approval.priority}
            if step.decide:
                after["decide"] = step.decide
            audit.record(tx, sla, "approval.escalate", "approval", approval.approval_id,
                         before=before, after=after)
            tx.emit("approval.escalated", {**approval.as_dict(), "step": approval.escalations},
                    task_id=approval.task_id, run_id=approval.run_id,
                    priority=approval.priority)
            if step.decide:
                tx.run(Q.approval_update_routing, approval_routing_params(approval))
                self._decide_by_timeout(tx, approval.approval_id, step.decide, sla,
                                        f"escalation step {approval.escalations}")
                return True
        return False

    def _decide_by_timeout(self, tx: Tx, approval_id: str, action: str, actor: Actor,
                           reason: str) -> None:
        """Decide as the clock: ``reject``, or ``default`` (a gate's default answer; a task
        approval's ``[approvals] timeout_action``). A default answer the form refuses, or
        a gate without one, rejects instead."""
        approval = load_approval(tx, approval_id)
        approved = False
        response = None
        if action == "default":
            if approval.kind == "gate":
                approved = approval.timeout_response is not None
                response = approval.timeout_response
            else:
                approved = self.config.approvals.timeout_action == "approve"
        try:
            with tx.savepoint():
                self.decide_op(approval_id, approved, actor, reason=reason, response=response,
                               status="expired")(tx)
        except EngineError as exc:
            self.decide_op(approval_id, False, actor,
                           reason=f"{reason}; default answer refused: {exc.detail}",
                           status="expired")(tx)

    async def figures(self) -> dict[str, Any]:
        """Pending by priority, overdue count and decision latency p50/p95 per priority over
        the last 24 hours, for ``/stats`` and ``/metrics``."""
        since = self.clock.now() - 86_400.0

        def read(conn: ReadConn) -> dict[str, Any]:
            pending = {p: 0 for p in PRIORITIES}
            for priority, count in conn.all(Q.approval_pending_by_priority):
                pending[priority] = pending.get(priority, 0) + int(count)
            overdue = conn.one(Q.approval_overdue_count)
            samples: dict[str, list[float]] = {p: [] for p in PRIORITIES}
            for priority, seconds in conn.all(Q.approval_decided_since, {"since": since}):
                samples.setdefault(priority, []).append(float(seconds))
            latency = {p: {"count": len(v), "p50_seconds": _quantile(v, 0.5),
                           "p95_seconds": _quantile(v, 0.95)} for p, v in samples.items()}
            return {"pending_by_priority": pending,
                    "overdue": int(overdue[0]) if overdue else 0,
                    "decision_latency": latency}
        return await self.store.read(read)

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
        rows = tx.all(Q.approval_overdue, {"now": tx.now})
        timeout = Actor("timeout", "admin")
        for approval_id, action, timeout_response, kind in rows:
            approved = action in ("approve", "respond")
            response = None
            if kind == "gate" and action == "respond" and timeout_response is not None:
                response = decode(timeout_response)
            try:
                with tx.savepoint():
                    self.decide_op(approval_id, approved, timeout, reason="approval timed out",
                                   response=response, status="expired")(tx)
            except EngineError as exc:
                # e.g. a gate's default answer no longer fits its form: reject instead
                self.decide_op(approval_id, False, timeout,
                               reason=f"approval timed out; default answer refused: {exc.detail}",
                               status="expired")(tx)
        return len(rows)

    # -- in-transaction API (engine.ports.ApprovalPeer, and gates for engine.runs) ---------
    def open_for_task(self, tx: Tx, task: Task, *, requested_by: str | None,
                      reason: str) -> Approval:
        """The approval a P0/P1 task waits on; its id is the one the task row names."""
        assert task.approval_id is not None, "the task names its approval before it is opened"
        cfg = self.config.approvals
        approval = Approval(
            approval_id=task.approval_id, kind="task", priority=task.priority,
            task_id=task.id, run_id=task.run_id, step_id=task.step_id, reason=reason,
            agent_context=summarize_payload(task.payload), created_at=tx.now,
            expires_at=(tx.now + cfg.timeout_seconds) if cfg.timeout_seconds > 0 else None,
            timeout_action=cfg.timeout_action, requested_by=requested_by,
        )
        apply_routing(approval, routing_for(cfg, task_type=task.type, priority=task.priority),
                      cfg)
        tx.run(Q.approval_insert, approval_insert_params(approval))
        tx.emit("approval.requested", approval.as_dict(), task_id=task.id, run_id=task.run_id,
                trace_id=task.trace_id, priority=task.priority)
        return approval

    def cancel_for_task(self, tx: Tx, task: Task, actor: Actor, reason: str | None) -> bool:
        """Cancel the task's approval if still pending: one conditional update, then the
        ``approval.cancel`` audit row and ``approval.decided`` event only if it changed."""
        approval_id = task.approval_id
        if approval_id is None or not self._cancel_pending(tx, approval_id, actor, False):
            return False
        audit.record(tx, actor, "approval.cancel", "approval", approval_id,
                     before={"status": "pending"}, after={"status": "cancelled"}, reason=reason)
        tx.emit("approval.decided", {"approval_id": approval_id, "status": "cancelled",
                                     "decided_by": actor.name},
                task_id=task.id, priority=task.priority)
        return True

    def open_gate(
        self, tx: Tx, *, run_id: str, step_id: str, prompt: str, fields: list[dict[str, Any]],
        agent_context: str | None, priority: str = "P2", timeout_seconds: float | None = None,
        timeout_response: Any = None, allowed_roles: list[str] | None = None,
        allowed_users: list[str] | None = None, reason: str | None = None,
        assignees: list[str] | None = None, delegates: list[str] | None = None,
        quorum: int | None = None, sla_seconds: float | None = None,
        on_timeout: str | None = None,
    ) -> Approval:
        """Create an orchestration gate inside the caller's transaction (its checkpoint)."""
        approval = Approval(
            approval_id=new_id("approval"), kind="gate", priority=normalize_priority(priority),
            run_id=run_id, step_id=step_id, prompt=prompt, reason=reason or prompt,
            fields=fields, agent_context=agent_context, allowed_roles=allowed_roles or [],
            allowed_users=allowed_users or [],
            timeout_action="respond" if timeout_seconds else "reject",
            timeout_response=timeout_response, created_at=tx.now,
            expires_at=(tx.now + timeout_seconds) if timeout_seconds else None,
        )
        cfg = self.config.approvals
        apply_routing(approval, routing_for(
            cfg, task_type=None, priority=approval.priority, assignees=assignees,
            delegates=delegates, quorum=quorum, sla_seconds=sla_seconds,
            on_timeout=on_timeout), cfg)
        tx.run(Q.approval_insert, approval_insert_params(approval))
        tx.emit("approval.requested", approval.as_dict(), run_id=run_id,
                priority=approval.priority)
        return approval

    def cancel_gate(self, tx: Tx, approval_id: str, actor: Actor, *, run_id: str,
                    break_glass: bool) -> bool:
        """Cancel a run's open gate with the run (the run's own audit row covers it)."""
        if not self._cancel_pending(tx, approval_id, actor, break_glass):
            return False
        tx.emit("approval.decided", {"approval_id": approval_id, "status": "cancelled",
                                     "decided_by": actor.name, "break_glass": break_glass},
                run_id=run_id)
        return True

    def _cancel_pending(self, tx: Tx, approval_id: str, actor: Actor, break_glass: bool) -> bool:
        return tx.run(Q.approval_cancel_pending, {
            "approval_id": approval_id, "decided_by": actor.name, "decided_at": tx.now,
            "break_glass": int(break_glass)}) > 0


def summarize_payload(payload: dict[str, Any]) -> str | None:
    """A task's payload as the approval's agent context (capped, for the inbox)."""
    if not payload:
        return None
    text = encode(payload).decode()
    return text if len(text) <= 2000 else text[:1997] + "..."


def _quantile(values: list[float], q: float) -> float | None:
    """Nearest-rank quantile (None for no samples)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))], 3)
