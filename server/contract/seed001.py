"""Seed 001's task vocabulary on the wire (the ``/v1`` dialect).

Why records of their own: seed 001 knows four task statuses and four priority words, and
its clients loop on them (``while task.status in ['pending', 'running']``). Our task has
eight statuses and P0-P3; the ``/v1`` routes answer with these records instead, so a
seed 001 client never sees a word outside its enum. The one mapping lives here
(``SEED001_STATUS``, ``priority_word``), used by the routes, the WebSocket messages and
the ``agent_orchestration`` SDK alike.

Our status -> seed 001's (``status_detail`` keeps ours, so nothing is lost):

========================================  ==========
pending (scheduled), awaiting_approval,   pending
assigned (queued for a worker)
in_progress                               running
completed                                 completed
failed, rejected, cancelled               failed
========================================  ==========

Priorities: P0 = critical, P1 = high, P2 = medium, P3 = low (``priority_code`` keeps ours).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from msgspec import UNSET, UnsetType

from switchboard.server.contract.common import Pagination, Record
from switchboard.server.contract.enums import Priority, PriorityName, TaskStatus
from switchboard.server.contract.tasks import Task


class Seed001Status(StrEnum):
    """Seed 001's Task Schema ``status`` enum."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


SEED001_STATUS: Final[dict[TaskStatus, Seed001Status]] = {
    TaskStatus.PENDING: Seed001Status.PENDING,
    TaskStatus.AWAITING_APPROVAL: Seed001Status.PENDING,
    TaskStatus.ASSIGNED: Seed001Status.PENDING,
    TaskStatus.IN_PROGRESS: Seed001Status.RUNNING,
    TaskStatus.COMPLETED: Seed001Status.COMPLETED,
    TaskStatus.FAILED: Seed001Status.FAILED,
    TaskStatus.REJECTED: Seed001Status.FAILED,
    TaskStatus.CANCELLED: Seed001Status.FAILED,
}

STATUSES_OF: Final[dict[Seed001Status, tuple[TaskStatus, ...]]] = {
    word: tuple(ours for ours, theirs in SEED001_STATUS.items() if theirs is word)
    for word in Seed001Status
}
"""Seed 001's word -> every status of ours it covers (for ``?status=`` filters)."""

PRIORITY_WORDS: Final[dict[Priority, PriorityName]] = {
    Priority.P0: PriorityName.CRITICAL,
    Priority.P1: PriorityName.HIGH,
    Priority.P2: PriorityName.MEDIUM,
    Priority.P3: PriorityName.LOW,
}


def seed001_status(status: str) -> Seed001Status:
    """Our status (enum or text) -> seed 001's word."""
    return SEED001_STATUS[TaskStatus(status)]


def priority_word(priority: str) -> PriorityName:
    """``P2`` -> ``medium`` (a word already given passes through)."""
    if priority in PriorityName.__members__.values():
        return PriorityName(priority)
    return PRIORITY_WORDS[Priority(priority)]


class Seed001Task(Task, kw_only=True):
    """A task in seed 001's words: ``status`` one of pending/running/completed/failed,
    ``priority`` one of low/medium/high/critical. ``status_detail`` and ``priority_code``
    are our own values, for clients that want the finer state."""

    status: Seed001Status  # type: ignore[assignment]
    priority: PriorityName  # type: ignore[assignment]
    status_detail: TaskStatus | UnsetType = UNSET
    priority_code: Priority | UnsetType = UNSET


class Seed001TaskEnvelope(Record, kw_only=True):
    """Seed 001 reads ``data``; ``task`` carries the same object (as on ``/api/v1``)."""

    success: bool = True
    task_id: str
    message: str | UnsetType = UNSET
    task: Seed001Task
    data: Seed001Task


class Seed001TaskPage(Record, kw_only=True):
    data: list[Seed001Task]
    pagination: Pagination


def seed001_task(task: Task) -> Seed001Task:
    """Our wire task -> seed 001's (every other field as it is)."""
    fields = {name: getattr(task, name) for name in task.__struct_fields__}
    fields["status"] = seed001_status(task.status)
    fields["priority"] = priority_word(task.priority)
    fields["status_detail"] = TaskStatus(task.status)
    fields["priority_code"] = Priority(task.priority)
    return Seed001Task(**fields)
