"""HITL approvals (seed 003): pending, history, get, approve (with a gate's answer), reject."""

from __future__ import annotations

from typing import Any

from switchboard.server.contract import (
    Approval,
    ApprovalEnvelope,
    ApprovalHistory,
    ApprovalList,
    Decision,
)
from switchboard.server.sdk.client.http import Transport


class ApprovalsResource:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    async def pending(self, *, assignee: str | None = None) -> list[Approval]:
        """Pending approvals, most critical first, then oldest first; ``assignee="me"``:
        only those the caller may decide as an assignee or listed decider."""
        params = {"assignee": assignee} if assignee else None
        return (await self._t.request_as(ApprovalList, "GET", "/approvals/pending",
                                         params=params)).approvals

    async def history(self, limit: int = 100) -> list[Approval]:
        return (await self._t.request_as(ApprovalHistory, "GET", "/approvals/history",
                                         params={"limit": limit})).history

    async def get(self, approval_id: str) -> Approval:
        return (await self._t.request_as(ApprovalEnvelope, "GET", f"/approvals/{approval_id}")).approval

    async def approve(self, approval_id: str, response: dict[str, Any] | str | None = None
                      ) -> Decision:
        """Approve; for an orchestration gate, ``response`` is the form's values."""
        body = None if response is None else {"response": response}
        return await self._t.request_as(Decision, "POST", f"/approvals/{approval_id}/approve",
                                        json=body)

    async def reject(self, approval_id: str, reason: str | None = None) -> Decision:
        """Reject with an optional reason (sent as seed 003's ``?reason=``)."""
        return await self._t.request_as(Decision, "POST", f"/approvals/{approval_id}/reject",
                                        params={"reason": reason})
