"""The closed vocabularies of the wire: statuses, priorities, levels, gate field types.

Why ``StrEnum``: a member *is* its string (``TaskStatus.COMPLETED == "completed"``), so a
server that builds a record from the engine's plain strings encodes the same JSON, and a
client that decodes gets a typed value it can still compare with a literal. The engine keeps
its own tuples (``engine.models``); a test asserts the two agree.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    PENDING = "pending"
    AWAITING_APPROVAL = "awaiting_approval"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


TERMINAL_TASK_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED,
                                    TaskStatus.REJECTED, TaskStatus.CANCELLED})


class Priority(StrEnum):
    """P0 is the most urgent. P0/P1 tasks wait for an approval before they run."""

    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"


class PriorityName(StrEnum):
    """Seed 001's words for the priorities (``critical`` = P0 ... ``low`` = P3)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class AgentStatus(StrEnum):
    INITIALIZING = "initializing"
    ACTIVE = "active"
    INACTIVE = "inactive"
    ERROR = "error"


class HealthState(StrEnum):
    """An agent's health, from the age of its last heartbeat."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class ServiceStatus(StrEnum):
    """The server's own health (``GET /health``): degraded means reads work, writes do not."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class ApprovalKind(StrEnum):
    """``task``: a P0/P1 task waiting to run; ``gate``: an orchestration's human step."""

    TASK = "task"
    GATE = "gate"


class TimeoutAction(StrEnum):
    """What happens when an approval expires: reject, approve, or answer with the gate's
    default answer (``respond``)."""

    REJECT = "reject"
    APPROVE = "approve"
    RESPOND = "respond"


class RunStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_RUN_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})


class StepStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    PAUSED = "paused"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class StepType(StrEnum):
    AGENT = "agent"
    TASK = "task"
    TOOL = "tool"
    HUMAN = "human"


class FieldType(StrEnum):
    """The widgets of a human gate's form."""

    TEXT = "text"
    TEXTAREA = "textarea"
    SELECT = "select"
    MULTISELECT = "multiselect"
    NUMBER = "number"
    BOOLEAN = "boolean"
