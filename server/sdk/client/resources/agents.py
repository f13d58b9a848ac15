"""Agents (seed 001): list, get, create, update, delete; worker registration and heartbeats."""

from __future__ import annotations

from typing import Any

from switchboard.server.contract import Agent, AgentDeleted, AgentEnvelope, AgentPage
from switchboard.server.sdk.client.http import Transport
from switchboard.server.sdk.client.models import Page


def _configuration(max_concurrent_tasks: int | None, timeout: float | None,
                   retry_attempts: int | None) -> dict[str, Any] | None:
    values = {"max_concurrent_tasks": max_concurrent_tasks, "timeout": timeout,
              "retry_attempts": retry_attempts}
    values = {k: v for k, v in values.items() if v is not None}
    return values or None


class AgentsResource:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    async def list(self, *, status: str | None = None, type: str | None = None,
                   health: str | None = None, page: int = 1, limit: int = 20) -> Page[Agent]:
        """A page of agents (seed 001: ``len(agents)`` works, ``.pagination`` has the total)."""
        body = await self._t.request_as(AgentPage, "GET", "/agents", params={
            "status": status, "type": type, "health": health, "page": page, "limit": limit})
        return Page(body.data, body.pagination)

    async def get(self, agent_id: str) -> Agent:
        return (await self._t.request_as(AgentEnvelope, "GET", f"/agents/{agent_id}")).data

    async def create(self, name: str, type: str, *, configuration: dict[str, Any] | None = None,
                     environment: str | None = None, id: str | None = None) -> Agent:
        """Create an agent (admin); ``id`` fixes the id a restarting worker will reuse."""
        body: dict[str, Any] = {"name": name, "type": type}
        if configuration:
            body["configuration"] = configuration
        if environment is not None:
            body["environment"] = environment
        if id is not None:
            body["id"] = id
        return (await self._t.request_as(AgentEnvelope, "POST", "/agents", json=body)).data

    async def update(self, agent_id: str, *, name: str | None = None,
                     configuration: dict[str, Any] | None = None,
                     environment: str | None = None, status: str | None = None) -> Agent:
        body = {k: v for k, v in (("name", name), ("configuration", configuration),
                                  ("environment", environment), ("status", status))
                if v is not None}
        return (await self._t.request_as(AgentEnvelope, "PUT", f"/agents/{agent_id}",
                                         json=body)).data

    async def delete(self, agent_id: str) -> AgentDeleted:
        return await self._t.request_as(AgentDeleted, "DELETE", f"/agents/{agent_id}")

    async def register(self, name: str, type: str, *, agent_id: str | None = None,
                       max_concurrent_tasks: int | None = None, timeout: float | None = None,
                       retry_attempts: int | None = None) -> Agent:
        """Register a worker, or re-attach to ``agent_id`` (idempotent, so retried freely).

        The answer carries the server's ``heartbeat_interval`` and ``lease_seconds``.
        """
        body: dict[str, Any] = {"name": name, "type": type}
        if agent_id is not None:
            body["agent_id"] = agent_id
        configuration = _configuration(max_concurrent_tasks, timeout, retry_attempts)
        if configuration:
            body["configuration"] = configuration
        return (await self._t.request_as(AgentEnvelope, "POST", "/agents/register", json=body,
                                         idempotent=agent_id is not None)).data

    async def heartbeat(self, agent_id: str, *, cpu_usage: float | None = None,
                        memory_usage: float | None = None, status: str | None = None) -> Agent:
        """Report liveness (and cpu/memory %); the server extends the agent's leases."""
        body = {k: v for k, v in (("cpu_usage", cpu_usage), ("memory_usage", memory_usage),
                                  ("status", status)) if v is not None}
        return (await self._t.request_as(AgentEnvelope, "POST", f"/agents/{agent_id}/heartbeat",
                                         json=body, idempotent=True)).data
