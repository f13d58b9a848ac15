"""Typed results: the API's JSON shapes as msgspec Structs with attribute access.

Why Structs of the wire shape rather than the engine's records: the engine keeps epoch
floats and internal fields (``qseq``, lease bookkeeping), the API sends ISO-8601 strings
and derived fields (``duration``, ``estimated_completion``, seed 001's nested ``health`` and
``metrics``). Decoding straight into these Structs with msgspec is the cheapest path a busy
worker has, and unknown fields are ignored, so a newer server never breaks an older client.
Status vocabularies are the engine's own constants.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec

from switchboard.engine.models import TERMINAL_TASK_STATUSES

T = TypeVar("T")

TERMINAL_RUN_STATUSES = frozenset({"completed", "failed", "cancelled"})


class TaskLog(msgspec.Struct, frozen=True):
    timestamp: datetime | None = None
    level: str = "info"
    message: str = ""


class Task(msgspec.Struct, kw_only=True):
    """A task as the API shows it (seed 001 and seed 003 fields).

    ``lease_id`` is set only on a task you just claimed; ``done`` is True once the status
    is final (completed, failed, rejected, cancelled).
    """

    id: str
    type: str
    status: str
    priority: str = "P2"
    priority_name: str | None = None
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
    lease_id: str | None = None
    lease_expires_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration: float | None = None
    estimated_completion: datetime | None = None
    logs: list[TaskLog] = []

    @property
    def task_id(self) -> str:
        return self.id

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_TASK_STATUSES

    @property
    def trace_id(self) -> str | None:
        value = self.metadata.get("trace_id")
        return None if value is None else str(value)


class AgentConfiguration(msgspec.Struct):
    max_concurrent_tasks: int | None = None
    timeout: float | None = None
    retry_attempts: int | None = None


class AgentHealth(msgspec.Struct):
    status: str = "unknown"
    last_check: datetime | None = None
    uptime: float = 0.0


class AgentMetrics(msgspec.Struct):
    tasks_completed: int = 0
    tasks_failed: int = 0
    success_rate: float = 0.0
    avg_response_time: float = 0.0
    memory_usage: float | None = None
    cpu_usage: float | None = None


class Agent(msgspec.Struct, kw_only=True):
    """Seed 001's agent. ``heartbeat_interval``/``lease_seconds`` come with a registration."""

    id: str
    name: str
    type: str
    status: str = "initializing"
    environment: str | None = None
    configuration: AgentConfiguration = msgspec.field(default_factory=AgentConfiguration)
    health: AgentHealth = msgspec.field(default_factory=AgentHealth)
    load: dict[str, Any] = {}
    metrics: AgentMetrics = msgspec.field(default_factory=AgentMetrics)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    heartbeat_interval: float | None = None
    lease_seconds: float | None = None


class Approval(msgspec.Struct, kw_only=True):
    """Seed 003's approval, plus the gate form of orchestration human steps."""

    approval_id: str
    status: str
    kind: str = "task"
    task_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    priority: str | None = None
    reason: str | None = None
    request_reason: str | None = None
    prompt: str | None = None
    fields: list[dict[str, Any]] = []
    agent_context: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    timeout_action: str | None = None
    allowed_roles: list[str] = []
    approved_by: str | None = None
    approved_at: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    response: Any = None
    rejection_reason: str | None = None
    requested_by: str | None = None
    break_glass: bool = False  # decided by an admin the gate did not list


class Decision(msgspec.Struct, kw_only=True):
    """The answer to approve/reject (seed 003: ``"Approved by agent-user"``)."""

    approval_id: str
    status: str
    message: str = ""
    success: bool = True


class Event(msgspec.Struct, kw_only=True):
    """One durable bus event; ``seq`` is the position to resume after."""

    seq: int
    event_type: str
    payload: dict[str, Any] = {}
    source_agent: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    agent_id: str | None = None
    trace_id: str | None = None
    priority: str | None = None
    timestamp: datetime | None = None


class Published(msgspec.Struct, kw_only=True):
    """Seed 003's publish answer, plus the event's ``seq``."""

    event_type: str
    message: str = ""
    seq: int | None = None
    success: bool = True


class StepRecord(msgspec.Struct, kw_only=True):
    step_id: str
    step_name: str | None = None
    type: str | None = None
    status: str | None = None
    turns: int = 0
    cost_usd: float = 0.0
    tokens: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = None
    output: Any = None
    error: str | None = None


class Run(msgspec.Struct, kw_only=True):
    """Seed 000's run: ``status`` completed/paused/failed (running, cancelled too).

    ``response`` is the final text (or the failure reason, as seed 000 shows it), and
    ``human_input_required`` the gate a paused run waits on (``prompt``, ``fields``...).
    """

    run_id: str
    status: str
    orchestration_id: str | None = None
    orchestration_name: str | None = None
    message: str | None = None
    response: Any = None
    shared_state: dict[str, Any] = {}
    step_history: list[StepRecord] = []
    human_input_required: dict[str, Any] | None = None
    current_step_id: str | None = None
    approval_id: str | None = None
    cost_usd: float = 0.0
    turns: int = 0
    error: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES

    @property
    def paused(self) -> bool:
        return self.status == "paused"


class RunEvent(msgspec.Struct, kw_only=True):
    """One event of a run's stream, named as seed 000 names them.

    ``event`` is step_start, step_complete, agent_turn, tool_execution, tool_result,
    human_input_required, orchestration_complete, orchestration_error or done (and the
    engine's own names for anything seed 000 does not list). ``seq`` is set when the event
    came from the durable bus (it is where a resumed stream continues).
    """

    event: str
    data: dict[str, Any] = {}
    seq: int | None = None
    run_id: str | None = None


class Orchestration(msgspec.Struct, kw_only=True):
    """An orchestration definition; ``steps`` is a count in lists and the steps in detail."""

    id: str
    name: str | None = None
    description: str | None = None
    steps: Any = None
    state_schema: Any = None
    limits: Any = None
    version: str | None = None


class Health(msgspec.Struct, kw_only=True):
    status: str
    timestamp: datetime | None = None
    services: dict[str, Any] = {}
    queue_stats: dict[str, int] = {}
    metrics: dict[str, Any] = {}


class Stats(msgspec.Struct, kw_only=True):
    """Seed 003's queue statistics: ``stats.queue["pending_tasks"]`` etc."""

    queue: dict[str, Any]
    timestamp: datetime | None = None


class Pagination(msgspec.Struct):
    page: int = 1
    limit: int = 20
    total: int = 0
    pages: int = 0


class Page(list[T], Generic[T]):
    """A page of results: a plain list (``len(agents)`` as seed 001 does) plus ``pagination``."""

    def __init__(self, items: list[T], pagination: Pagination | None = None) -> None:
        super().__init__(items)
        self.pagination = pagination or Pagination(total=len(items), limit=len(items))

    @property
    def total(self) -> int:
        return self.pagination.total


class Token(msgspec.Struct, kw_only=True):
    """A minted access token (``POST /auth/token`` or ``/oauth/token``). Never printed."""

    access_token: str = msgspec.field(name="access_token")
    token_type: str = "bearer"
    expires_in: int = 0

    def __repr__(self) -> str:
        return f"Token(token_type={self.token_type!r}, expires_in={self.expires_in}, ***)"
