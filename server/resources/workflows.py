"""Seed 001's workflows: the same orchestrations, in seed 001's list shape and verbs."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from switchboard.engine.clock import iso
from switchboard.engine.errors import NotFound
from switchboard.server import contract, convert
from switchboard.server.contract.runs import WorkflowExecution
from switchboard.server.jsonio import StrictModel, json_response
from switchboard.server.resources.common import PageQuery, actor_of, engine_of, pagination
from switchboard.server.routing import RouteTable

routes = RouteTable(tag="workflows")


@routes.get("/workflows", role="user", query=PageQuery, response=contract.WorkflowPage)
async def list_workflows(request: web.Request, query: PageQuery) -> contract.WorkflowPage:
    """Orchestrations in seed 001's shape (status ``error`` when its file is broken)."""
    engine = engine_of(request)
    broken_files = {p.file for p in engine.orchestrations.problems()}
    items = [convert.workflow(o, o.source in broken_files, None)
             for o in engine.orchestrations.list()]
    start = (query.page - 1) * query.limit
    return contract.WorkflowPage(data=items[start:start + query.limit],
                                 pagination=pagination(query.page, query.limit, len(items)))


class ExecuteBody(StrictModel):
    parameters: dict[str, Any] = {}
    priority: str | None = Field(None, description="Default priority for task steps (unused"
                                 " by steps that set their own).")
    message: str | None = None


@routes.post("/workflows/{workflow_id}/execute", role="agent", body=ExecuteBody,
             response=contract.WorkflowExecutionEnvelope, status=202)
async def execute_workflow(request: web.Request, body: ExecuteBody) -> web.Response:
    """Start a run of the workflow with ``parameters`` as initial state; answers at once."""
    engine = engine_of(request)
    orch = engine.orchestrations.get(request.match_info["workflow_id"])
    if orch is None:
        raise NotFound(f"workflow {request.match_info['workflow_id']!r} not found")
    run = await engine.runs.start(orch, body.message, actor=actor_of(request),
                                  values=body.parameters)
    return json_response(contract.WorkflowExecutionEnvelope(data=WorkflowExecution(
        run_id=run.run_id, execution_id=run.run_id, workflow_id=orch.id,
        status=contract.RunStatus(run.status), created_at=iso(run.created_at))), status=202)
