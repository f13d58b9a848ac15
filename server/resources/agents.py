"""Agents (seed 001): list/get/create/update/delete, plus worker registration and heartbeats.

An agent id belongs to the principal that registered it (``owner``): registering over it,
heartbeating or claiming as it is refused (403) for anyone else; admins may, audited as
``agent.override``. Admins create, change and delete agents, each audited, and may set
``owner`` explicitly (see ``engine.ownership``).
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from switchboard.engine.agents import AgentQuery
from switchboard.engine.clock import iso
from switchboard.server import contract, convert
from switchboard.server.jsonio import StrictModel, read_json
from switchboard.server.resources.common import (
    PageQuery,
    actor_of,
    engine_of,
    now_of,
    pagination,
)
from switchboard.server.routing import RouteTable

routes = RouteTable(tag="agents")


class AgentListQuery(PageQuery):
    status: Literal["initializing", "active", "inactive", "error"] | None = None
    type: str | None = None
    health: Literal["healthy", "degraded", "unhealthy", "offline", "unknown"] | None = None


@routes.get("/agents", role="user", query=AgentListQuery, response=contract.AgentPage)
async def list_agents(request: web.Request, query: AgentListQuery) -> contract.AgentPage:
    """List agents with their health and metrics."""
    agents, total = await engine_of(request).agents.list(AgentQuery(
        status=query.status, type=query.type, health=query.health, page=query.page,
        limit=query.limit))
    now = now_of(request)
    return contract.AgentPage(data=[convert.agent(a, now) for a in agents],
                              pagination=pagination(query.page, query.limit, total))


class Configuration(StrictModel):
    max_concurrent_tasks: int | None = Field(None, ge=1, le=10_000)
    timeout: float | None = Field(None, gt=0)
    retry_attempts: int | None = Field(None, ge=0, le=100)


class CreateAgent(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=100)
    configuration: Configuration | None = None
    environment: str | None = Field(None, max_length=100)
    id: str | None = Field(None, min_length=1, max_length=100,
                           description="Choose the id (workers that restart keep theirs).")
    owner: str | None = Field(
        None, min_length=1, max_length=200,
        description="The principal (JWT sub, API key name, OAuth client id) that may act as "
                    "this agent. Without it, the first agent principal to register, heartbeat "
                    "or claim with the id becomes its owner.")


@routes.post("/agents", role="admin", body=CreateAgent, response=contract.AgentEnvelope,
             status=201)
async def create_agent(request: web.Request, body: CreateAgent) -> contract.AgentEnvelope:
    """Create an agent (status ``initializing`` until its first heartbeat); audited.

    Set ``owner`` to reserve the id for one principal; otherwise the first agent principal
    that uses it owns it."""
    agent = await engine_of(request).agents.create(
        body.name, body.type, environment=body.environment, agent_id=body.id,
        owner=body.owner, actor=actor_of(request),
        configuration=body.configuration.model_dump(exclude_none=True)
        if body.configuration else None)
    return contract.AgentEnvelope(data=convert.agent(agent, now_of(request)))


class RegisterAgent(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=100)
    agent_id: str | None = Field(None, min_length=1, max_length=100)
    configuration: Configuration | None = None


@routes.post("/agents/register", role="agent", body=RegisterAgent,
             response=contract.AgentEnvelope,
             responses={403: "the agent id belongs to another principal"})
async def register_agent(request: web.Request, body: RegisterAgent) -> contract.AgentEnvelope:
    """A worker registers itself, or re-attaches to its existing id after a restart.

    A new id becomes the caller's (``owner``); an existing one must be the caller's, or
    unowned (pre-created by an admin), which binds it to the caller."""
    engine = engine_of(request)
    agent = await engine.agents.register(
        body.name, body.type, agent_id=body.agent_id, actor=actor_of(request),
        configuration=body.configuration.model_dump(exclude_none=True)
        if body.configuration else None)
    return contract.AgentEnvelope(data=convert.agent(
        agent, now_of(request), heartbeat_interval=engine.config.agents.heartbeat_interval_seconds,
        lease_seconds=engine.config.tasks.lease_seconds))


@routes.get("/agents/{agent_id}", role="user", response=contract.AgentEnvelope)
async def get_agent(request: web.Request) -> contract.AgentEnvelope:
    """One agent: configuration, health (from heartbeat age), metrics."""
    agent = await engine_of(request).agents.get(request.match_info["agent_id"])
    return contract.AgentEnvelope(data=convert.agent(agent, now_of(request)))


class UpdateAgent(StrictModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    configuration: Configuration | None = None
    environment: str | None = Field(None, max_length=100)
    status: Literal["active", "inactive", "error"] | None = None
    owner: str | None = Field(
        None, min_length=1, max_length=200,
        description="Rebind the id to this principal; null unbinds it (the next agent "
                    "principal to use it owns it). Omit to leave it.")


@routes.put("/agents/{agent_id}", role="admin", body=UpdateAgent,
            response=contract.AgentEnvelope)
async def update_agent(request: web.Request, body: UpdateAgent) -> contract.AgentEnvelope:
    """Change an agent's name, configuration, environment, status or owner; audited with
    the fields that changed."""
    from switchboard.engine.agents import UNSET

    agent = await engine_of(request).agents.update(
        request.match_info["agent_id"], name=body.name, environment=body.environment,
        status=body.status, actor=actor_of(request),
        owner=body.owner if "owner" in body.model_fields_set else UNSET,
        configuration=body.configuration.model_dump(exclude_none=True)
        if body.configuration else None)
    return contract.AgentEnvelope(data=convert.agent(agent, now_of(request)))


@routes.delete("/agents/{agent_id}", role="admin", response=contract.AgentDeleted)
async def delete_agent(request: web.Request) -> contract.AgentDeleted:
    """Delete an agent (audited); tasks it was working on go back to the queue."""
    deleted_at = await engine_of(request).agents.delete(request.match_info["agent_id"],
                                                        actor=actor_of(request))
    return contract.AgentDeleted(message="Agent deleted successfully", deleted_at=iso(deleted_at))


class Heartbeat(StrictModel):
    cpu_usage: float | None = Field(None, ge=0, le=100)
    memory_usage: float | None = Field(None, ge=0, le=100)
    status: Literal["active", "inactive", "error"] | None = None


@routes.post("/agents/{agent_id}/heartbeat", role="agent", response=contract.AgentEnvelope,
             responses={403: "the agent id belongs to another principal"})
async def heartbeat(request: web.Request) -> contract.AgentEnvelope:
    """Record a heartbeat (optional cpu/memory %); extends the leases the agent holds.

    Only the agent's owner may (an unowned id is bound to the caller); admins may, audited."""
    body = Heartbeat()
    if request.can_read_body:
        body = await read_json(request, Heartbeat)
    engine = engine_of(request)
    agent = await engine.agents.heartbeat(request.match_info["agent_id"],
                                          cpu_usage=body.cpu_usage,
                                          memory_usage=body.memory_usage, status=body.status,
                                          actor=actor_of(request))
    return contract.AgentEnvelope(data=convert.agent(
        agent, now_of(request),
        heartbeat_interval=engine.config.agents.heartbeat_interval_seconds))
