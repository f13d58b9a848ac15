"""``AsyncClient``: every resource of the API behind one object.

    async with AsyncClient("http://127.0.0.1:8000", api_key=os.environ["SWITCHBOARD_TOKEN"]) as c:
        task = await c.tasks.create("bugfix", {"issue": "123"}, priority="P2")
        async for snapshot in c.tasks.watch(task.id):
            print(snapshot.status, snapshot.progress)

Authentication (one of): ``api_key=`` or ``token=`` (sent as a bearer credential), or
``jwt_secret=`` + ``subject=`` + ``role=`` to mint HS256 tokens locally like seed 003's
``OrchestratorClient``.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp

from switchboard.server.contract import Health, Stats
from switchboard.server.contract.system import MetricSeries
from switchboard.server.sdk.client.credentials import Credentials, resolve_credentials
from switchboard.server.sdk.client.http import RetryPolicy, Transport
from switchboard.server.sdk.client.resources.agents import AgentsResource
from switchboard.server.sdk.client.resources.approvals import ApprovalsResource
from switchboard.server.sdk.client.resources.events import EventsResource
from switchboard.server.sdk.client.resources.orchestrations import OrchestrationsResource, RunsResource
from switchboard.server.sdk.client.resources.system import AuthResource, SystemResource
from switchboard.server.sdk.client.resources.tasks import TasksResource
from switchboard.server.sdk.client.resources.views import ViewsResource
from switchboard.server.sdk.client.ws import WebSocketConnection

DEFAULT_URL = "http://127.0.0.1:8000"


class AsyncClient:
    """The asyncio client. Create it inside a running loop (or first use it there)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        token: str | None = None,
        jwt_secret: str | None = None,
        subject: str | None = None,
        role: str = "agent",
        credentials: Credentials | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        connection_limit: int = 100,
    ) -> None:
        creds = resolve_credentials(api_key=api_key, token=token, jwt_secret=jwt_secret,
                                    subject=subject, role=role, credentials=credentials)
        self.transport = Transport(base_url, creds, timeout=timeout,
                                   retry=retry or RetryPolicy(max_retries=max_retries),
                                   session=session, connection_limit=connection_limit)
        self.events = EventsResource(self.transport)
        self.agents = AgentsResource(self.transport)
        self.tasks = TasksResource(self.transport, self.events)
        self.approvals = ApprovalsResource(self.transport)
        self.runs = RunsResource(self.transport, self.events)
        self.orchestrations = OrchestrationsResource(self.transport, self.runs)
        self.system = SystemResource(self.transport)
        self.auth = AuthResource(self.transport)
        self.views = ViewsResource(self.transport)

    @classmethod
    def from_env(cls, **kwargs: Any) -> AsyncClient:
        """``SWITCHBOARD_URL`` and ``SWITCHBOARD_TOKEN`` (or ``ORCHESTRATOR_JWT_SECRET`` +
        ``SWITCHBOARD_SUBJECT``/``SWITCHBOARD_ROLE``), overridable by keyword."""
        kwargs.setdefault("base_url", os.environ.get("SWITCHBOARD_URL", DEFAULT_URL))
        if not any(kwargs.get(k) for k in ("api_key", "token", "jwt_secret", "credentials")):
            if os.environ.get("SWITCHBOARD_TOKEN"):
                kwargs["token"] = os.environ["SWITCHBOARD_TOKEN"]
            elif os.environ.get("ORCHESTRATOR_JWT_SECRET"):
                kwargs["jwt_secret"] = os.environ["ORCHESTRATOR_JWT_SECRET"]
                kwargs.setdefault("subject", os.environ.get("SWITCHBOARD_SUBJECT", "switchboard"))
                kwargs.setdefault("role", os.environ.get("SWITCHBOARD_ROLE", "agent"))
        return cls(**kwargs)

    def __repr__(self) -> str:
        return f"AsyncClient({self.transport.base_url!r})"

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    @property
    def last_rate_limit(self) -> Any:
        """The ``X-RateLimit-*`` figures of the latest response that carried them."""
        return self.transport.last_rate_limit

    async def health(self) -> Health:
        return await self.system.health()

    async def stats(self) -> Stats:
        return await self.system.stats()

    async def metrics(self, period: str = "24h", metric: str | None = None) -> MetricSeries:
        return await self.system.metrics(period, metric)

    async def websocket(self) -> WebSocketConnection:
        """A connected, authenticated WebSocket (close it when done)."""
        return await WebSocketConnection(self.transport).connect()

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
