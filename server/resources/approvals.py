"""HITL approvals (seed 003): pending, history, get, approve, reject.

One inbox for P0/P1 task gates and orchestration human gates; for a gate, ``approve`` takes
the form's answer as ``{"response": {...}}`` and it is validated field by field.

Who may decide is the engine's rule (``engine.approvals``), so these routes admit every role
and the engine answers 403 with the reason:

- an approval's ``allowed_roles``/``allowed_users`` are exact membership (a gate listing
  ``["admin", "user"]`` admits users and refuses agents); one that lists nobody (every P0/P1
  task approval) admits agents and admins, so a ``user`` stays read-only there;
- an admin outside the lists may decide as break-glass: ``break_glass: true`` on the approval
  and an ``approval.break_glass`` audit row;
- nobody approves their own request: a task's creator, whoever retried it (that opened this
  approval), and, for a task an agent principal created for its own agent type, any agent
  principal that also runs agents of that type get 403 "self-approval is not allowed".
  Admins too. Rejecting one's own request is allowed (a withdrawal lets nothing run).
  ``[approvals] allow_self_approval = true`` lifts the rule, audited as
  ``approval.self_approve``.

Each decision writes one audit row (``approval.approve``, ``approval.reject``,
``gate.answer``, ``approval.self_approve`` or ``approval.break_glass``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web
from pydantic import Field

from switchboard.engine.config import ASSIGNEE
from switchboard.server import contract, convert
from switchboard.server.jsonio import QueryModel, StrictModel, read_json
from switchboard.server.resources.common import actor_of, engine_of
from switchboard.server.routing import RouteTable

routes = RouteTable(tag="approvals")


class PendingQuery(QueryModel):
    assignee: Literal["me"] | None = Field(
        None, description="\"me\": only those you may decide as an assignee or a listed"
        " decider (not as an admin breaking glass)")


@routes.get("/approvals/pending", role="user", query=PendingQuery,
            response=contract.ApprovalList)
async def pending(request: web.Request, query: PendingQuery) -> contract.ApprovalList:
    """Every pending approval, most critical first, then oldest first."""
    service = engine_of(request).approvals
    items = (await service.pending_for(actor_of(request)) if query.assignee == "me"
             else await service.pending())
    return contract.ApprovalList(count=len(items), approvals=[convert.approval(a) for a in items])


class HistoryQuery(QueryModel):
    limit: int = Field(100, ge=1, le=1000)


@routes.get("/approvals/history", role="user", query=HistoryQuery,
            response=contract.ApprovalHistory)
async def history(request: web.Request, query: HistoryQuery) -> contract.ApprovalHistory:
    """Decided approvals, most recent first: who decided, when, what and why."""
    items = await engine_of(request).approvals.history(query.limit)
    return contract.ApprovalHistory(count=len(items),
                                    history=[convert.approval(a) for a in items])


@routes.get("/approvals/{approval_id}", role="user", response=contract.ApprovalEnvelope)
async def get_approval(request: web.Request) -> contract.ApprovalEnvelope:
    """One approval and its status."""
    approval = await engine_of(request).approvals.get(request.match_info["approval_id"])
    return contract.ApprovalEnvelope(approval=convert.approval(approval))


class DecisionBody(StrictModel):
    response: dict[str, Any] | str | None = Field(
        None, description="For orchestration gates: the form's values (or plain text).")
    reason: str | None = Field(None, max_length=2000)


async def _decision(request: web.Request) -> DecisionBody:
    if request.can_read_body and (await request.read()).strip():
        return await read_json(request, DecisionBody)
    return DecisionBody()


def _decided(approval: Any, message: str) -> contract.Decision:
    if approval.status == "pending":  # a vote short of the quorum
        message = f"{message}; {approval.progress} approvals, still pending"
    quorum = approval.quorum > 1 or approval.reject_quorum > 1
    return contract.Decision(approval_id=approval.approval_id,
                             status=contract.ApprovalStatus(approval.status), message=message,
                             progress=approval.progress if quorum else msgspec.UNSET)


@routes.post("/approvals/{approval_id}/approve", role="user", response=contract.Decision,
             responses={403: "not admitted by the approval, or self-approval",
                        409: "already decided", 400: "a gate answer failed validation"})
async def approve(request: web.Request) -> contract.Decision:
    """Approve a pending request (for a gate: with the form's answer)."""
    body = await _decision(request)
    actor = actor_of(request)
    approval = await engine_of(request).approvals.approve(
        request.match_info["approval_id"], actor, response=body.response)
    return _decided(approval, f"Approved by {actor.name}")


class RejectQuery(QueryModel):
    reason: str | None = Field(None, max_length=2000)


@routes.post("/approvals/{approval_id}/reject", role="user", query=RejectQuery,
             response=contract.Decision, responses={403: "not admitted by the approval",
                                                    409: "already decided"})
async def reject(request: web.Request, query: RejectQuery) -> contract.Decision:
    """Reject a pending request; ``reason`` as a query parameter (seed 003) or in the body."""
    body = await _decision(request)
    actor = actor_of(request)
    approval = await engine_of(request).approvals.reject(
        request.match_info["approval_id"], actor, reason=query.reason or body.reason,
        response=body.response)
    return _decided(approval, f"Rejected by {actor.name}")


class ReassignBody(StrictModel):
    assignees: list[Annotated[str, Field(pattern=ASSIGNEE.pattern)]] = Field(
        min_length=1, max_length=50,
        description="\"user:<name>\" or \"role:<role>\", each within the approval's delegates")
    reason: str | None = Field(None, max_length=2000)


@routes.post("/approvals/{approval_id}/reassign", role="user",
             response=contract.ApprovalEnvelope,
             responses={403: "not an assignee, or a target outside the delegates",
                        409: "already decided"})
async def reassign(request: web.Request) -> contract.ApprovalEnvelope:
    """Hand a pending approval to other assignees (delegation); audited."""
    body = await read_json(request, ReassignBody)
    approval = await engine_of(request).approvals.reassign(
        request.match_info["approval_id"], actor_of(request), body.assignees, body.reason)
    return contract.ApprovalEnvelope(approval=convert.approval(approval))
