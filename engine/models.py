"""Domain records of the engine, as msgspec Structs.

Why msgspec: these records are created and encoded on every state change (events, stored
rows, SSE frames), and msgspec Structs are several times cheaper than pydantic models there.
The server converts them to API shapes at its edge (``as_dict``), the console reads them
directly. Timestamps are epoch seconds inside the engine and ISO-8601 ``Z`` strings outside.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from switchboard.engine.clock import iso

PRIORITIES = ("P0", "P1", "P2", "P3")
PRIORITY_ALIASES = {"critical": "P0", "high": "P1", "medium": "P2", "low": "P3"}
PRIORITY_NAMES = {v: k for k, v in PRIORITY_ALIASES.items()}

class TaskStatus(StrEnum):
    """Where a task is. Members are ``str``: stored and sent as their values, and equal to
    them (``TaskStatus.PENDING == "pending"``), so rows, JSON and old callers are unchanged."""

    PENDING = "pending"
    AWAITING_APPROVAL = "awaiting_approval"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class RunStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TASK_STATUSES: tuple[TaskStatus, ...] = tuple(TaskStatus)
TERMINAL_TASK_STATUSES: frozenset[TaskStatus] = frozenset({
    TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.REJECTED, TaskStatus.CANCELLED})

_S = TaskStatus
# Every allowed status change. Anything else is refused with the current status named.
TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    _S.PENDING: frozenset({_S.ASSIGNED, _S.AWAITING_APPROVAL, _S.CANCELLED}),
    _S.AWAITING_APPROVAL: frozenset({_S.PENDING, _S.ASSIGNED, _S.REJECTED, _S.CANCELLED}),
    _S.ASSIGNED: frozenset({_S.IN_PROGRESS, _S.CANCELLED, _S.FAILED}),
    _S.IN_PROGRESS: frozenset({_S.COMPLETED, _S.FAILED, _S.ASSIGNED, _S.CANCELLED}),
    _S.COMPLETED: frozenset(),
    _S.FAILED: frozenset({_S.ASSIGNED}),  # operator retry
    _S.REJECTED: frozenset(),
    _S.CANCELLED: frozenset({_S.ASSIGNED}),  # operator retry
}

APPROVAL_STATUSES: tuple[ApprovalStatus, ...] = tuple(ApprovalStatus)
AGENT_STATUSES = ("initializing", "active", "inactive", "error")
HEALTH_STATES = ("healthy", "degraded", "unhealthy", "offline", "unknown")


def normalize_priority(value: str) -> str:
    """``P1``/``p1``/``high`` -> ``P1``. Raises ValueError naming the accepted values."""
    text = value.strip()
    upper = text.upper()
    if upper in PRIORITIES:
        return upper
    alias = PRIORITY_ALIASES.get(text.lower())
    if alias is None:
        raise ValueError(
            f"unknown priority {value!r}; use P0, P1, P2, P3 or critical, high, medium, low"
        )
    return alias


class TaskLog(msgspec.Struct, frozen=True):
    timestamp: float
    level: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"timestamp": iso(self.timestamp), "level": self.level, "message": self.message}


class Task(msgspec.Struct, kw_only=True):
    id: str
    type: str
    priority: str
    status: TaskStatus
    assigned_agent: str
    payload: dict[str, Any] = {}
    source: str | None = None
    sla_target: float | None = None
    metadata: dict[str, Any] = {}
    agent_id: str | None = None
    claimed_by: str | None = None
    progress: int = 0
    result: Any = None
    error: str | None = None
    attempts: int = 0
    max_attempts: int = 3
    idempotency_key: str | None = None
    schedule: dict[str, Any] | None = None
    approval_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    lease_id: str | None = None
    lease_expires_at: float | None = None
    available_at: float = 0.0
    sla_breached: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0
    started_at: float | None = None
    completed_at: float | None = None
    created_by: str | None = None
    """The principal that created the task (separation of duties: it may not approve it)."""
    claimed_principal: str | None = None
    """The principal that claimed the task or moved it to in_progress: its holder."""
    logs: list[TaskLog] = []

    @property
    def task_id(self) -> str:
        return self.id

    @property
    def trace_id(self) -> str | None:
        value = self.metadata.get("trace_id")
        return str(value) if value is not None else None

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.completed_at
        return None if end is None else round(end - self.started_at, 3)

    def estimated_completion(self, now: float) -> float | None:
        """Linear estimate from progress so far; None until there is progress to go on."""
        if self.status != "in_progress" or self.started_at is None or self.progress <= 0:
            return None
        elapsed = max(now - self.started_at, 0.0)
        return self.started_at + elapsed * 100.0 / self.progress

    def sla_deadline(self) -> float | None:
        return None if self.sla_target is None else self.created_at + self.sla_target

    def as_dict(self, now: float | None = None, *, with_logs: bool = True) -> dict[str, Any]:
        """The API shape: seed 003 fields plus seed 001's (``id`` and ``task_id`` both)."""
        data: dict[str, Any] = {
            "id": self.id,
            "task_id": self.id,
            "type": self.type,
            "status": self.status,
            "priority": self.priority,
            "assigned_agent": self.assigned_agent,
            "agent_id": self.agent_id or self.claimed_by,
            "claimed_by": self.claimed_by,
            "payload": self.payload,
            "source": self.source,
            "sla_target": self.sla_target,
            "metadata": self.metadata,
            "progress": self.progress,
            "result": self.result,
            "error": self.error,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "idempotency_key": self.idempotency_key,
            "schedule": self.schedule,
            "approval_id": self.approval_id,
            "run_id": self.run_id,
            "step_id": self.step_id,
            "sla_breached": self.sla_breached,
            "lease_expires_at": iso(self.lease_expires_at),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
            "created_by": self.created_by,
            "duration": self.duration,
            "estimated_completion": iso(self.estimated_completion(now)) if now else None,
        }
        if with_logs:
            data["logs"] = [log.as_dict() for log in self.logs]
        return data


class Agent(msgspec.Struct, kw_only=True):
    id: str
    name: str
    type: str
    status: str = "initializing"
    max_concurrent_tasks: int = 10
    timeout: float = 300.0
    retry_attempts: int = 3
    environment: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    last_heartbeat: float | None = None
    first_heartbeat: float | None = None
    health: str = "unknown"
    running: int = 0
    tasks_completed: int = 0
    tasks_failed: int = 0
    response_ms_total: float = 0.0
    memory_usage: float | None = None
    cpu_usage: float | None = None
    owner: str | None = None
    """The principal that registered this agent id; only it (or an admin) acts as it."""

    @property
    def success_rate(self) -> float:
        done = self.tasks_completed + self.tasks_failed
        return round(100.0 * self.tasks_completed / done, 2) if done else 0.0

    @property
    def avg_response_time(self) -> float:
        return round(self.response_ms_total / self.tasks_completed, 1) if self.tasks_completed else 0.0

    def uptime(self, now: float) -> float:
        if self.first_heartbeat is None or self.health == "offline":
            return 0.0
        return round(max(now - self.first_heartbeat, 0.0), 1)

    def as_dict(self, now: float) -> dict[str, Any]:
        """Seed 001's agent detail shape."""
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "status": self.status,
            "environment": self.environment,
            "owner": self.owner,
            "configuration": {
                "max_concurrent_tasks": self.max_concurrent_tasks,
                "timeout": self.timeout,
                "retry_attempts": self.retry_attempts,
            },
            "health": {
                "status": self.health,
                "last_check": iso(self.last_heartbeat),
                "uptime": self.uptime(now),
            },
            "load": {"running": self.running, "max": self.max_concurrent_tasks},
            "metrics": {
                "tasks_completed": self.tasks_completed,
                "tasks_failed": self.tasks_failed,
                "success_rate": self.success_rate,
                "avg_response_time": self.avg_response_time,
                "memory_usage": self.memory_usage,
                "cpu_usage": self.cpu_usage,
            },
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


class Approval(msgspec.Struct, kw_only=True):
    approval_id: str
    kind: str  # "task" (P0/P1 gate) or "gate" (orchestration human step)
    priority: str
    status: ApprovalStatus = ApprovalStatus.PENDING
    task_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    reason: str | None = None
    prompt: str | None = None
    fields: list[dict[str, Any]] = []
    agent_context: str | None = None
    allowed_roles: list[str] = []
    allowed_users: list[str] = []
    timeout_action: str = "reject"
    timeout_response: Any = None
    created_at: float = 0.0
    expires_at: float | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    response: Any = None
    rejection_reason: str | None = None
    requested_by: str | None = None  # who asked: a task's creator, or whoever retried it
    break_glass: bool = False  # decided by an admin the gate did not list
    # -- routing (issue 14) --
    assignees: list[str] = []  # "user:<name>" / "role:<role>"; empty = the lists above
    delegates: list[str] = []  # whom an assignee may also hand it to
    quorum: int = 1  # approvals from distinct principals that decide it
    reject_quorum: int = 1  # rejections from distinct principals that reject it
    votes: list[dict[str, Any]] = []  # {"by", "role", "decision", "at", "response"?}
    sla_seconds: float | None = None
    due_at: float | None = None
    on_timeout: str = "escalate"  # at the SLA breach: escalate, default, reject
    reminders_sent: int = 0
    escalations: int = 0  # escalation steps taken
    overdue: bool = False
    next_sweep_at: float | None = None  # when the SLA sweep looks at it next

    @property
    def approvals_count(self) -> int:
        return sum(1 for vote in self.votes if vote.get("decision") == "approve")

    @property
    def rejections_count(self) -> int:
        return sum(1 for vote in self.votes if vote.get("decision") == "reject")

    @property
    def progress(self) -> str:
        """"1 of 2": approvals so far of the quorum (the same words everywhere)."""
        return f"{self.approvals_count} of {self.quorum}"

    def as_dict(self) -> dict[str, Any]:
        """Seed 003's approval shape, plus the gate form for orchestration steps."""
        approved = self.status == "approved"
        return {
            "approval_id": self.approval_id,
            "kind": self.kind,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "step_id": self.step_id,
            "priority": self.priority,
            "reason": self.reason if self.status != "rejected" else self.rejection_reason,
            "request_reason": self.reason,
            "prompt": self.prompt,
            "fields": self.fields,
            "agent_context": self.agent_context,
            "status": self.status,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "timeout_action": self.timeout_action,
            "allowed_roles": self.allowed_roles,
            "approved_by": self.decided_by if approved else None,
            "approved_at": iso(self.decided_at) if approved else None,
            "decided_by": self.decided_by,
            "decided_at": iso(self.decided_at),
            "response": self.response,
            "rejection_reason": self.rejection_reason,
            "requested_by": self.requested_by,
            "break_glass": self.break_glass,
            "assignees": self.assignees,
            "delegates": self.delegates,
            "quorum": self.quorum,
            "approvals_count": self.approvals_count,
            "rejections_count": self.rejections_count,
            "progress": self.progress,
            "votes": [{**vote, "at": iso(vote.get("at"))} for vote in self.votes],
            "sla_seconds": self.sla_seconds,
            "due_at": iso(self.due_at),
            "overdue": self.overdue,
            "on_timeout": self.on_timeout,
            "escalations": self.escalations,
        }


class Event(msgspec.Struct, kw_only=True, omit_defaults=False):
    seq: int
    event_type: str
    timestamp: float
    source_agent: str | None = None
    payload: dict[str, Any] = {}
    task_id: str | None = None
    run_id: str | None = None
    agent_id: str | None = None
    trace_id: str | None = None
    priority: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "event_type": self.event_type,
            "source_agent": self.source_agent,
            "payload": self.payload,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "agent_id": self.agent_id,
            "trace_id": self.trace_id,
            "priority": self.priority,
            "timestamp": iso(self.timestamp),
        }


RUN_STATUSES: tuple[RunStatus, ...] = tuple(RunStatus)


class StepRecord(msgspec.Struct, kw_only=True):
    """One executed step of a run (seed 000's ``step_history`` entries)."""

    step_id: str
    step_name: str
    type: str
    status: str  # running, completed, failed, paused, skipped, cancelled
    turns: int = 0
    cost_usd: float = 0.0
    tokens: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    output: Any = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "step_id": self.step_id, "step_name": self.step_name, "type": self.type,
            "status": self.status, "turns": self.turns, "cost_usd": round(self.cost_usd, 6),
            "tokens": self.tokens, "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration": None if self.started_at is None or self.finished_at is None
            else round(self.finished_at - self.started_at, 3),
            "output": self.output, "error": self.error,
        }


class Run(msgspec.Struct, kw_only=True):
    """A durable orchestration run, checkpointed after every step.

    Run events (all carry ``run_id``): run.started, run.step_started, run.step_completed,
    run.agent_turn, run.tool_execution, run.tool_result, run.paused (human input required),
    run.resumed, run.completed, run.failed, run.cancelled.
    """

    run_id: str
    orchestration_id: str
    orchestration_name: str
    status: RunStatus
    message: str | None = None
    shared_state: dict[str, Any] = {}
    step_history: list[StepRecord] = []
    current_step_id: str | None = None
    human_input_required: dict[str, Any] | None = None
    approval_id: str | None = None
    response: str | None = None
    error: str | None = None
    cost_usd: float = 0.0
    turns: int = 0
    definition_version: str | None = None
    visits: dict[str, int] = {}
    created_by: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    finished_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Seed 000's run shape plus bookkeeping fields."""
        data: dict[str, Any] = {
            "run_id": self.run_id, "orchestration_id": self.orchestration_id,
            "orchestration_name": self.orchestration_name, "status": self.status,
            "message": self.message, "shared_state": self.shared_state,
            "step_history": [s.as_dict() for s in self.step_history],
            "current_step_id": self.current_step_id, "cost_usd": round(self.cost_usd, 6),
            "turns": self.turns, "error": self.error, "created_by": self.created_by,
            "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
            "finished_at": iso(self.finished_at), "approval_id": self.approval_id,
        }
        if self.response is not None:
            data["response"] = self.response
        if self.human_input_required is not None:
            data["human_input_required"] = self.human_input_required
        return data
