"""Seed 001's workflows: the same orchestrations, in seed 001's list shape and verbs."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from switchboard.engine.clock import iso
from switchboard.engine.errors import NotFound
from switchboard.engine.orchestrations.definitions import Orchestration
from switchboard.server.jsonio import StrictModel, json_response
from switchboard.server.resources.common import DataEnvelope, PageQuery, actor_of, engine_of, pagination
from switchboard.server.routing import RouteTable

routes = RouteTable(tag="workflows")


def workflow_view(orch: Orchestration, broken: bool, loaded_at: float | None) -> dict[str, Any]:
    steps = []
    for order, step in enumerate(orch.steps, start=1):
        agent_type = getattr(step, "task_type", None) or getattr(step, "provider", None)
        steps.append({"id": step.id, "name": step.title, "type": step.type,
                      "agent_type": agent_type, "order": order})
    return {"id": orch.id, "name": orch.title, "description": orch.description,
            "status": "error" if broken else "active", "version": orch.version,
            "steps": steps, "created_at": iso(loaded_at)}


@routes.get("/workflows", role="user", query=PageQuery, response=DataEnvelope)
async def list_workflows(request: web.Request, query: PageQuery) -> dict[str, Any]:
    """Orchestrations in seed 001's shape (status ``error`` when its file is broken)."""
    engine = engine_of(request)
    broken_files = {p.file for p in engine.orchestrations.problems()}
    items = [workflow_view(o, o.source in broken_files, None)
             for o in engine.orchestrations.list()]
    start = (query.page - 1) * query.limit
    return {"data": items[start:start + query.limit],
            "pagination": pagination(query.page, query.limit, len(items))}


class ExecuteBody(StrictModel):
    parameters: dict[str, Any] = {}
    priority: str | None = Field(None, description="Default priority for task steps (unused"
                                 " by steps that set their own).")
    message: str | None = None


@routes.post("/workflows/{workflow_id}/execute", role="agent", body=ExecuteBody,
             response=DataEnvelope, status=202)
async def execute_workflow(request: web.Request, body: ExecuteBody) -> web.Response:
    """Start a run of the workflow with ``parameters`` as initial state; answers at once."""
    engine = engine_of(request)
    orch = engine.orchestrations.get(request.match_info["workflow_id"])
    if orch is None:
        raise NotFound(f"workflow {request.match_info['workflow_id']!r} not found")
    run = await engine.runs.start(orch, body.message, actor=actor_of(request),
                                  values=body.parameters)
    return json_response({"data": {"run_id": run.run_id, "execution_id": run.run_id,
                                   "workflow_id": orch.id, "status": run.status,
                                   "created_at": iso(run.created_at)}}, status=202)
