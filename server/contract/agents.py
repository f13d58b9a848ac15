"""Agents on the wire (seed 001's detail shape): configuration, health, load, metrics."""

from __future__ import annotations

from msgspec import UNSET, UnsetType, field

from switchboard.server.contract.common import Pagination, Record, Time
from switchboard.server.contract.enums import AgentStatus, HealthState


class AgentConfiguration(Record, kw_only=True):
    max_concurrent_tasks: int = 10
    timeout: float = 300.0
    retry_attempts: int = 3


class AgentHealth(Record, kw_only=True):
    """``status`` comes from the age of the last heartbeat; ``uptime`` in seconds."""

    status: HealthState = HealthState.UNKNOWN
    last_check: Time | None = None
    uptime: float = 0.0


class AgentLoad(Record, kw_only=True):
    running: int = 0
    max: int = 0


class AgentMetrics(Record, kw_only=True):
    tasks_completed: int = 0
    tasks_failed: int = 0
    success_rate: float = 0.0
    avg_response_time: float = 0.0
    memory_usage: float | None = None
    cpu_usage: float | None = None


class Agent(Record, kw_only=True):
    """An agent. ``owner`` is the principal that may act as it; ``heartbeat_interval``
    (seconds) comes with a registration and a heartbeat, ``lease_seconds`` with a
    registration."""

    id: str
    name: str
    type: str
    status: AgentStatus = AgentStatus.INITIALIZING
    environment: str | None = None
    owner: str | None = None
    configuration: AgentConfiguration = field(default_factory=AgentConfiguration)
    health: AgentHealth = field(default_factory=AgentHealth)
    load: AgentLoad = field(default_factory=AgentLoad)
    metrics: AgentMetrics = field(default_factory=AgentMetrics)
    created_at: Time | None = None
    updated_at: Time | None = None
    heartbeat_interval: float | UnsetType = UNSET
    lease_seconds: float | UnsetType = UNSET


class AgentEnvelope(Record, kw_only=True):
    data: Agent


class AgentPage(Record, kw_only=True):
    data: list[Agent]
    pagination: Pagination


class AgentDeleted(Record, kw_only=True):
    message: str
    deleted_at: Time | None = None
