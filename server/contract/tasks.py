"""Tasks on the wire: the record (seed 003's fields plus seed 001's) and every envelope a
task route answers with.

Field order is the JSON key order the seeds' clients have always received; fields typed
``... | UnsetType`` appear only where that route sends them (``logs`` on single-task reads,
``lease_id`` only in a claim answer, which only the claiming agent sees).
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET, UnsetType

from switchboard.server.contract.common import Pagination, Record, Time
from switchboard.server.contract.enums import (
    TERMINAL_TASK_STATUSES,
    LogLevel,
    Priority,
    PriorityName,
    TaskStatus,
)


class TaskLog(Record, kw_only=True):
    timestamp: Time | None = None
    level: LogLevel = LogLevel.INFO
    message: str = ""


class Task(Record, kw_only=True):
    """A task as the API shows it. ``id`` and ``task_id`` are the same (both seeds).

    ``assigned_agent`` is the agent *type* the task was routed to; ``agent_id`` the agent
    that holds (or was asked to take) it. ``done`` is True once the status is final.
    """

    id: str
    task_id: str
    type: str
    status: TaskStatus
    priority: Priority
    assigned_agent: str | None = None
    agent_id: str | None = None
    claimed_by: str | None = None
    payload: dict[str, Any] = {}
    source: str | None = None
    sla_target: float | None = None
    metadata: dict[str, Any] = {}
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
    sla_breached: bool = False
    lease_expires_at: Time | None = None
    created_at: Time | None = None
    updated_at: Time | None = None
    started_at: Time | None = None
    completed_at: Time | None = None
    created_by: str | None = None
    duration: float | None = None
    estimated_completion: Time | None = None
    logs: list[TaskLog] | UnsetType = UNSET
    priority_name: PriorityName | None = None
    lease_id: str | UnsetType | None = UNSET

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_TASK_STATUSES

    @property
    def trace_id(self) -> str | None:
        value = self.metadata.get("trace_id")
        return None if value is None else str(value)

    @property
    def log_lines(self) -> list[TaskLog]:
        """``logs`` where it was sent, else an empty list (lists leave logs out)."""
        return [] if isinstance(self.logs, UnsetType) else self.logs


class TaskEnvelope(Record, kw_only=True):
    """Seed 003's single-task answer; ``task`` and ``data`` carry the same object (seed 003
    reads ``task``, seed 001 ``data``). ``message`` comes with a create."""

    success: bool = True
    task_id: str
    message: str | UnsetType = UNSET
    task: Task
    data: Task


class ClaimedTask(Record, kw_only=True):
    """A claim's answer: the task (with its ``lease_id``) and the lease at top level."""

    success: bool = True
    task_id: str
    lease_id: str | None
    task: Task
    data: Task


class TaskPage(Record, kw_only=True):
    """Seed 001's list: tasks without their logs, newest first."""

    data: list[Task]
    pagination: Pagination


class TaskStatusAck(Record, kw_only=True):
    """The short answer of a status change (complete, fail, cancel, release, retry, PATCH)."""

    success: bool = True
    task_id: str
    status: TaskStatus


class TaskProgressAck(Record, kw_only=True):
    success: bool = True
    task_id: str
    progress: int
    lease_expires_at: Time | None = None


class TaskLeaseAck(Record, kw_only=True):
    success: bool = True
    task_id: str
    lease_expires_at: Time | None = None


class TaskPriorityAck(Record, kw_only=True):
    success: bool = True
    task_id: str
    priority: Priority


class TaskLogAck(Record, kw_only=True):
    success: bool = True
    log: TaskLog
