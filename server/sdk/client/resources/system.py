"""Health, queue statistics, metrics (seeds 001/003), Prometheus text, OpenAPI, tokens."""

from __future__ import annotations

from typing import Any

import msgspec

from switchboard.server.contract import Health, MetricsEnvelope, Stats, Token
from switchboard.server.contract.system import MetricSeries, OpenApiDocument
from switchboard.server.sdk.client.errors import ServerError
from switchboard.server.sdk.client.http import Transport


class SystemResource:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    async def health(self) -> Health:
        """System health; an unhealthy server (503) is a result here, not an exception."""
        try:
            return await self._t.request_as(Health, "GET", "/health")
        except ServerError as exc:
            if exc.status == 503 and isinstance(exc.body, dict) and "status" in exc.body:
                return msgspec.convert(exc.body, Health, strict=False)
            raise

    async def stats(self) -> Stats:
        return await self._t.request_as(Stats, "GET", "/stats")

    async def metrics(self, period: str = "24h", metric: str | None = None) -> MetricSeries:
        """Seed 001's time series: ``period``, ``bucket_seconds`` and ``metrics`` (name ->
        points of ``timestamp`` and ``value``)."""
        return (await self._t.request_as(MetricsEnvelope, "GET", "/metrics",
                                         params={"period": period, "metric": metric})).data

    async def prometheus(self) -> str:
        """The root ``/metrics`` Prometheus exposition text."""
        root = self._t.base_url.rsplit("/api/", 1)[0]
        response = await self._t.session.get(root + "/metrics")
        async with response:
            return await response.text()

    async def openapi(self) -> dict[str, Any]:
        """The server's OpenAPI 3.1 document (checked against ``OpenApiDocument``)."""
        body: dict[str, Any] = (await self._t.request("GET", "/openapi.json")).json()
        msgspec.convert(body, OpenApiDocument)
        return body


class AuthResource:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    async def mint_token(self, user_id: str, role: str = "user",
                         ttl_seconds: int | None = None) -> Token:
        """``POST /auth/token`` (admin only): a JWT for another user or agent."""
        body: dict[str, Any] = {"user_id": user_id, "role": role}
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        return await self._t.request_as(Token, "POST", "/auth/token", json=body)

    async def client_credentials(self, client_id: str, client_secret: str) -> Token:
        """``POST /oauth/token`` with the client-credentials grant (seed 001)."""
        return await self._t.request_as(Token, "POST", "/oauth/token", json={
            "grant_type": "client_credentials", "client_id": client_id,
            "client_secret": client_secret})
