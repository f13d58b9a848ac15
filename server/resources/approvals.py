"""HITL approvals (seed 003): pending, history, get, approve, reject.

One inbox for P0/P1 task gates and orchestration human gates; for a gate, ``approve`` takes
the form's answer as ``{"response": {...}}`` and it is validated field by field.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from switchboard.server.jsonio import ApiModel, QueryModel, StrictModel, read_json
from switchboard.server.resources.common import actor_of, engine_of
from switchboard.server.routing import RouteTable

routes = RouteTable(tag="approvals")


class ApprovalList(ApiModel):
    success: bool = True
    count: int
    approvals: list[dict[str, Any]]


@routes.get("/approvals/pending", role="user", response=ApprovalList)
async def pending(request: web.Request) -> dict[str, Any]:
    """Every pending approval, most critical first, then oldest first."""
    items = await engine_of(request).approvals.pending()
    return {"success": True, "count": len(items), "approvals": [a.as_dict() for a in items]}


class HistoryQuery(QueryModel):
    limit: int = Field(100, ge=1, le=1000)


class HistoryOut(ApiModel):
    success: bool = True
    count: int
    history: list[dict[str, Any]]


@routes.get("/approvals/history", role="user", query=HistoryQuery, response=HistoryOut)
async def history(request: web.Request, query: HistoryQuery) -> dict[str, Any]:
    """Decided approvals, most recent first: who decided, when, what and why."""
    items = await engine_of(request).approvals.history(query.limit)
    return {"success": True, "count": len(items), "history": [a.as_dict() for a in items]}


class ApprovalOut(ApiModel):
    success: bool = True
    approval: dict[str, Any]


@routes.get("/approvals/{approval_id}", role="user", response=ApprovalOut)
async def get_approval(request: web.Request) -> dict[str, Any]:
    """One approval and its status."""
    approval = await engine_of(request).approvals.get(request.match_info["approval_id"])
    return {"success": True, "approval": approval.as_dict()}


class Decision(StrictModel):
    response: dict[str, Any] | str | None = Field(
        None, description="For orchestration gates: the form's values (or plain text).")
    reason: str | None = Field(None, max_length=2000)


class DecisionOut(ApiModel):
    success: bool = True
    approval_id: str
    status: str
    message: str


async def _decision(request: web.Request) -> Decision:
    if request.can_read_body and (await request.read()).strip():
        return await read_json(request, Decision)
    return Decision()


@routes.post("/approvals/{approval_id}/approve", role="agent", response=DecisionOut,
             responses={409: "already decided", 422: "a gate answer failed validation"})
async def approve(request: web.Request) -> dict[str, Any]:
    """Approve a pending request (for a gate: with the form's answer)."""
    body = await _decision(request)
    actor = actor_of(request)
    approval = await engine_of(request).approvals.approve(
        request.match_info["approval_id"], actor, response=body.response)
    return {"success": True, "approval_id": approval.approval_id, "status": approval.status,
            "message": f"Approved by {actor.name}"}


class RejectQuery(QueryModel):
    reason: str | None = Field(None, max_length=2000)


@routes.post("/approvals/{approval_id}/reject", role="agent", query=RejectQuery,
             response=DecisionOut, responses={409: "already decided"})
async def reject(request: web.Request, query: RejectQuery) -> dict[str, Any]:
    """Reject a pending request; ``reason`` as a query parameter (seed 003) or in the body."""
    body = await _decision(request)
    actor = actor_of(request)
    approval = await engine_of(request).approvals.reject(
        request.match_info["approval_id"], actor, reason=query.reason or body.reason,
        response=body.response)
    return {"success": True, "approval_id": approval.approval_id, "status": approval.status,
            "message": f"Rejected by {actor.name}"}
