"""Health, queue statistics, metrics series, tokens and the audit log on the wire."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET, UnsetType

from switchboard.server.contract.common import Record, Time
from switchboard.server.contract.enums import ServiceStatus


class DatabaseService(Record, kw_only=True):
    """``response_time`` in ms (one round trip to the store) while the store answers;
    ``error`` says why it is not healthy (a degraded store has both); ``kind`` is
    ``sqlite`` or ``postgres`` (replicas share a ``postgres`` store)."""

    status: ServiceStatus
    kind: str | UnsetType = UNSET
    response_time: float | UnsetType = UNSET
    error: str | UnsetType = UNSET


class QueueService(Record, kw_only=True):
    status: ServiceStatus
    pending_messages: int = 0


class Services(Record, kw_only=True):
    database: DatabaseService
    message_queue: QueueService


class QueueStats(Record, kw_only=True):
    pending_tasks: int = 0
    processing_tasks: int = 0
    total_tasks: int = 0


class SystemMetrics(Record, kw_only=True):
    active_agents: int = 0
    running_tasks: int = 0
    completed_tasks_today: int = 0
    pending_approvals: int = 0
    system_load: float = 0.0
    memory_usage: float = 0.0
    disk_usage: float = 0.0


class Health(Record, kw_only=True):
    """``healthy``; ``degraded`` (reads work, writes are refused: see ``reason``);
    ``unhealthy`` (the store does not answer; sent with status 503)."""

    status: ServiceStatus
    reason: str | UnsetType = UNSET
    timestamp: Time
    services: Services
    queue_stats: QueueStats
    metrics: SystemMetrics


class PriorityLoad(Record, kw_only=True):
    waiting: int = 0
    processing: int = 0


class Queue(Record, kw_only=True):
    """Seed 003's ``queue`` block plus counts by status and by priority."""

    pending_tasks: int = 0
    processing_tasks: int = 0
    total_tasks: int = 0
    by_status: dict[str, int] = {}
    by_priority: dict[str, PriorityLoad] = {}
    pending_approvals: int = 0


class DecisionLatency(Record, kw_only=True):
    """Time from request to decision of approvals decided in the last 24 hours."""

    count: int = 0
    p50_seconds: float | None = None
    p95_seconds: float | None = None


class ApprovalFigures(Record, kw_only=True):
    """Pending approvals by priority, how many are past their SLA, decision latency."""

    pending_by_priority: dict[str, int] = {}
    overdue: int = 0
    decision_latency: dict[str, DecisionLatency] = {}


class Stats(Record, kw_only=True):
    queue: Queue
    timestamp: Time
    approvals: ApprovalFigures | UnsetType = UNSET


class MetricPoint(Record, kw_only=True):
    """One bucket: ``value`` is None when nothing finished in it; ``created`` on
    throughput points."""

    timestamp: Time
    value: float | None = None
    created: int | UnsetType = UNSET


class MetricSeries(Record, kw_only=True):
    period: str
    bucket_seconds: int
    metrics: dict[str, list[MetricPoint]]


class MetricsEnvelope(Record, kw_only=True):
    """Seed 001's ``GET /metrics``: task_completion_rate, response_time, error_rate and
    throughput series (or the one asked for)."""

    data: MetricSeries


class Revocation(Record, kw_only=True):
    """``POST /auth/revoke``: what is now refused, and until when it is kept."""

    success: bool = True
    kind: str  # "jti" (one token) or "subject" (every token of a principal issued so far)
    value: str
    until: Time


class Token(Record, kw_only=True):
    """A minted access token. ``token`` repeats ``access_token`` (seed 003's name) on
    ``POST /auth/token``. Never printed whole."""

    access_token: str
    token: str | UnsetType = UNSET
    token_type: str = "bearer"
    expires_in: int = 0

    def __repr__(self) -> str:
        return f"Token(token_type={self.token_type!r}, expires_in={self.expires_in}, ***)"


class AuditEntry(Record, kw_only=True):
    """One audit row as stored; ``hash = sha256(prev_hash || canonical row)``."""

    seq: int
    at: Time
    timestamp: float
    principal: str
    role: str
    auth_method: str
    action: str
    object_type: str
    object_id: str | None = None
    before: Any = None
    after: Any = None
    reason: str | None = None
    request_id: str | None = None
    prev_hash: str
    hash: str


class AuditPage(Record, kw_only=True):
    """Rows after ``after``, oldest first; an empty page means you have everything."""

    data: list[AuditEntry]
    next_after: int


class AuditHead(Record, kw_only=True):
    seq: int
    hash: str


class AuditVerification(Record, kw_only=True):
    """``ok: false`` is a finding, not an error; ``head`` is the last row that verified."""

    ok: bool
    rows: int
    broken_seq: int | None = None
    problem: str | None = None
    head: AuditHead


class OpenApiDocument(Record, kw_only=True):
    """This server's OpenAPI 3.1 document (the schema of ``GET /openapi.json``)."""

    openapi: str
    info: dict[str, Any]
    servers: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    paths: dict[str, Any]
    components: dict[str, Any]
