"""Seed 001's dialect: its API at ``/v1`` (and ``/oauth/token`` at the root), in its words.

Why a dialect and not a second API: seed 001's clients (its SDKs, its curl lines) must work
unchanged, and they differ from ``/api/v1`` only in words and base path. So this module is a
translation over the same engine, request models and contract records:

- task routes (``GET/POST /v1/tasks``, ``GET /v1/tasks/{id}``) call the canonical task code
  and answer ``contract.seed001`` records: status pending/running/completed/failed,
  priority low/medium/high/critical (the mapping is in ``contract.seed001``). The
  ``?status=`` filter takes seed 001's words, so ``?status=pending`` lists queued work
  (our pending, awaiting_approval and assigned);
- ``/v1/ws`` speaks seed 001's WebSocket: ``agent_events`` carries the agent's task events
  too (``task_completed`` reaches the channel the seed's example subscribes to), and task
  payloads carry seed 001's words;
- every other seed 001 route (agents, workflows, health, metrics) already speaks seed 001
  on ``/api/v1`` and is served at ``/v1`` as it is, as are ``/v1/events`` and
  ``/v1/events/stream`` (how the SDKs' ``tasks.watch`` follows a task without a WebSocket);
- ``POST /oauth/token`` is served at the root, where seed 001 documents it.

Roles, rate limits (``/v1/tasks`` counts against the ``POST /tasks`` rule) and errors are
the canonical routes' own.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Final, Literal

import msgspec
from aiohttp import web
from pydantic import Field

from switchboard.engine.models import Event
from switchboard.engine.tasks import TaskQuery
from switchboard.server import SEED001_BASE, contract, convert
from switchboard.server.contract import seed001 as words
from switchboard.server.contract.ws import WsEvent
from switchboard.server.jsonio import json_response
from switchboard.server.resources import tasks as canonical_tasks
from switchboard.server.resources.common import PageQuery, engine_of, now_of, pagination
from switchboard.server.routing import RouteSpec, RouteTable
from switchboard.server.ws_protocol import CHANNELS, Channel, WsDialect, event_message

TAG: Final = "seed 001 (/v1)"

SAME_WORDS: Final = (
    ("GET", "/agents"), ("POST", "/agents"), ("GET", "/agents/{agent_id}"),
    ("PUT", "/agents/{agent_id}"), ("DELETE", "/agents/{agent_id}"),
    ("GET", "/workflows"), ("POST", "/workflows/{workflow_id}/execute"),
    ("GET", "/health"), ("GET", "/metrics"), ("GET", "/events"), ("GET", "/events/stream"),
)
"""Canonical routes whose words are already seed 001's: served at ``/v1`` unchanged."""

AT_ROOT: Final = (("POST", "/oauth/token"),)
"""Seed 001 documents its token endpoint at the root, not under ``/v1``."""


# -- tasks --------------------------------------------------------------------------------


class Seed001TaskQuery(PageQuery):
    agent_id: str | None = None
    status: Literal["pending", "running", "completed", "failed"] | None = Field(
        None, description="pending (created, queued or awaiting approval), running, completed, "
                          "failed (also rejected and cancelled)")
    priority: Literal["low", "medium", "high", "critical"] | None = Field(
        None, description="low (P3), medium (P2), high (P1), critical (P0)")
    type: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def _v1_routes() -> RouteTable:
    """The task routes in seed 001's words (a fresh table per app)."""
    routes = RouteTable(tag=TAG, base=SEED001_BASE)

    @routes.post("/tasks", role="agent", body=canonical_tasks.CreateTask,
                 response=words.Seed001TaskEnvelope, status=201, operation_id="v1_create_task",
                 responses={200: "an existing task with the same idempotency key",
                            400: "invalid type, priority or schedule"})
    async def create_task(request: web.Request,
                          body: canonical_tasks.CreateTask) -> web.Response:
        """Create a task (seed 001: ``agent_id``, ``type``, ``priority`` as a word, ``payload``,
        ``schedule``); answered in seed 001's words."""
        envelope, created = await canonical_tasks.create(request, body)
        return json_response(_envelope(envelope), status=201 if created else 200)

    @routes.get("/tasks", role="user", query=Seed001TaskQuery, response=words.Seed001TaskPage,
                operation_id="v1_list_tasks")
    async def list_tasks(request: web.Request,
                         query: Seed001TaskQuery) -> words.Seed001TaskPage:
        """List tasks, newest first; ``status`` and ``priority`` in seed 001's words."""
        tasks, total = await engine_of(request).tasks.list(TaskQuery(
            agent_id=query.agent_id, priority=query.priority, type=query.type,
            statuses=words.STATUSES_OF[words.Seed001Status(query.status)] if query.status else (),
            created_after=canonical_tasks._epoch(query.created_after),
            created_before=canonical_tasks._epoch(query.created_before),
            page=query.page, limit=query.limit))
        now = now_of(request)
        return words.Seed001TaskPage(
            data=[words.seed001_task(convert.task(t, now, with_logs=False)) for t in tasks],
            pagination=pagination(query.page, query.limit, total))

    @routes.get("/tasks/{task_id}", role="user", response=words.Seed001TaskEnvelope,
                operation_id="v1_get_task")
    async def get_task(request: web.Request) -> words.Seed001TaskEnvelope:
        """A task with its progress, logs and estimated completion, in seed 001's words."""
        return _envelope(await canonical_tasks.get_task(request))

    @routes.get("/ws", role=None, status=101, operation_id="v1_websocket",
                summary="WebSocket in seed 001's words",
                responses={101: "Switching Protocols"})
    async def websocket(request: web.Request) -> web.StreamResponse:
        """Seed 001's WebSocket: the protocol of ``/api/v1/ws``, but ``agent_events`` also
        carries the agent's task events (``task_completed`` ...) and task payloads use seed
        001's status and priority words."""
        from switchboard.server.resources.ws import serve_websocket

        return await serve_websocket(request, WS_DIALECT)

    return routes


def _envelope(envelope: contract.TaskEnvelope) -> words.Seed001TaskEnvelope:
    data = words.seed001_task(envelope.data)
    return words.Seed001TaskEnvelope(task_id=envelope.task_id, message=envelope.message,
                                     task=data, data=data)


# -- WebSocket ------------------------------------------------------------------------------


SEED001_CHANNELS: Final[dict[str, Channel]] = {
    **CHANNELS,
    "agent_events": Channel(
        "agent_events", ("agent.", "task."), frozenset({"agent_id"}),
        "seed 001: an agent's status changes and its tasks' events (task_update, "
        "task_completed, task_failed); optionally one agent_id"),
}


def render(channel: str, event: Event) -> WsEvent:
    """The canonical message with seed 001's words for a task's status and priority."""
    message = event_message(channel, event)
    payload: dict[str, Any] = message.payload
    if event.event_type.startswith(("task.", "sla.")) and ("status" in payload
                                                            or "priority" in payload):
        payload = dict(payload)
        _translate(payload)
    priority = message.priority
    if isinstance(priority, str) and priority in words.PRIORITY_WORDS:
        priority = words.priority_word(priority)
    return msgspec.structs.replace(message, payload=payload, priority=priority)


def _translate(payload: dict[str, Any]) -> None:
    status = payload.get("status")
    if isinstance(status, str) and status in contract.TaskStatus.__members__.values():
        payload["status_detail"] = status
        payload["status"] = words.seed001_status(status).value
    priority = payload.get("priority")
    if isinstance(priority, str) and priority in words.PRIORITY_WORDS:
        payload["priority_code"] = priority
        payload["priority"] = words.priority_word(priority).value


WS_DIALECT: Final = WsDialect(SEED001_CHANNELS, render)


# -- mounting -------------------------------------------------------------------------------


def tables(canonical: list[RouteTable]) -> list[RouteTable]:
    """Seed 001's routes: its task routes and WebSocket, the canonical routes it shares
    (at ``/v1``) and ``/oauth/token`` at the root; built from ``canonical``'s specs."""
    specs = {(spec.method, spec.path): spec for table in canonical for spec in table
             if spec.base is None and not spec.root_only}
    v1 = _v1_routes()
    for key in SAME_WORDS:
        v1.add(_rebased(specs[key], SEED001_BASE, "v1"))
    root = RouteTable(tag=TAG, base="")
    for key in AT_ROOT:
        root.add(_rebased(specs[key], "", "root"))
    return [v1, root]


def _rebased(spec: RouteSpec, base: str, suffix: str) -> RouteSpec:
    return dataclasses.replace(spec, base=base, operation_id=f"{spec.operation_id}_{suffix}",
                               also_at_root=False, root_only=False)
