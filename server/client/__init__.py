"""The Python client for the Switchboard API: async (``AsyncClient``) and blocking (``Client``).

Typed results (``Task``, ``Agent``, ``Approval``, ``Event``, ``Run``...), typed errors
(``NotFound``, ``Conflict``, ``RateLimited``...), retries with backoff, JWT minting from a
secret, and streams (``tasks.watch``, ``events.stream``, ``runs.stream``) that reconnect and
resume from the last event seq. The agent-worker SDK built on it is ``server.worker``.
"""

from switchboard.server.client.client import AsyncClient
from switchboard.server.client.credentials import SecretJwt, StaticToken
from switchboard.server.client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimit,
    RateLimited,
    ServerError,
    SwitchboardError,
    TransportError,
    Unauthorized,
)
from switchboard.server.client.http import RetryPolicy
from switchboard.server.client.models import (
    Agent,
    Approval,
    Decision,
    Event,
    Health,
    Orchestration,
    Page,
    Published,
    Run,
    RunEvent,
    Stats,
    Task,
)
from switchboard.server.client.sync import Client

__all__ = [
    "Agent",
    "ApiError",
    "Approval",
    "AsyncClient",
    "BadRequest",
    "Client",
    "Conflict",
    "Decision",
    "Event",
    "Forbidden",
    "Health",
    "InvalidRequest",
    "NotFound",
    "Orchestration",
    "Page",
    "Published",
    "RateLimit",
    "RateLimited",
    "RetryPolicy",
    "Run",
    "RunEvent",
    "SecretJwt",
    "ServerError",
    "StaticToken",
    "Stats",
    "SwitchboardError",
    "Task",
    "TransportError",
    "Unauthorized",
]
