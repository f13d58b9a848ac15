"""The Python client for the Switchboard API: async (``AsyncClient``) and blocking (``Client``).

Typed results (``Task``, ``Agent``, ``Approval``, ``Event``, ``Run``...: the wire
contract's own records, ``server.contract``), typed errors
(``NotFound``, ``Conflict``, ``RateLimited``...), retries with backoff, JWT minting from a
secret, and streams (``tasks.watch``, ``events.stream``, ``runs.stream``) that reconnect and
resume from the last event seq. The agent-worker SDK built on it is ``server.sdk.worker``.
"""

from switchboard.server.contract import (
    Agent,
    Approval,
    Decision,
    Event,
    Health,
    OrchestrationDetail,
    OrchestrationSummary,
    Published,
    Run,
    RunResult,
    Stats,
    Task,
)
from switchboard.server.sdk.client.client import AsyncClient
from switchboard.server.sdk.client.credentials import SecretJwt, StaticToken
from switchboard.server.sdk.client.errors import (
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
from switchboard.server.sdk.client.http import RetryPolicy
from switchboard.server.sdk.client.models import Page, RunEvent
from switchboard.server.sdk.client.sync import Client

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
    "OrchestrationDetail",
    "OrchestrationSummary",
    "Page",
    "Published",
    "RateLimit",
    "RateLimited",
    "RetryPolicy",
    "Run",
    "RunEvent",
    "RunResult",
    "SecretJwt",
    "ServerError",
    "StaticToken",
    "Stats",
    "SwitchboardError",
    "Task",
    "TransportError",
    "Unauthorized",
]
