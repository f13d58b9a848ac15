"""The operator views (``GET /views/...``): what a console shows, one request each.

Each answer is the engine's own computation (``engine.views``) in contract records, so a
client never rebuilds counts, orders or pages from the record routes.
"""

from __future__ import annotations

from typing import Literal

from switchboard.server import contract as c
from switchboard.server.sdk.client.http import Transport

FindKind = Literal["task", "run", "agent", "approval"]


class ViewsResource:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    async def overview(self) -> c.Overview:
        """Counts by status, priority and health, and the last hour's series: one snapshot."""
        return await self._t.request_as(c.Overview, "GET", "/views/overview")

    async def tasks(self, *, status: str | None = None, priority: str | None = None,
                    type: str | None = None, agent_id: str | None = None,
                    run_id: str | None = None, text: str = "", offset: int = 0,
                    limit: int = 100) -> c.TaskViewPage:
        """A page of a task view: unfinished tasks most urgent first, then finished ones
        newest first (``status`` None), or only those of one status; ``text`` words must
        each match."""
        return await self._t.request_as(c.TaskViewPage, "GET", "/views/tasks", params={
            "status": status, "priority": priority, "type": type, "agent_id": agent_id,
            "run_id": run_id, "text": text or None, "offset": offset, "limit": limit})

    async def find(self, kind: FindKind, text: str, *, limit: int = 10) -> c.IdMatches:
        """Ids of ``kind`` containing ``text``, newest first."""
        return await self._t.request_as(c.IdMatches, "GET", "/views/find",
                                        params={"kind": kind, "text": text, "limit": limit})

    async def events(self, *, types: list[str] | tuple[str, ...] = (),
                     task_id: str | None = None, run_id: str | None = None,
                     agent_id: str | None = None, text: str = "", before: int | None = None,
                     limit: int = 200) -> c.EventViewPage:
        """The newest ``limit`` matching events below ``before`` (None: the newest), oldest
        first; pass the page's ``before`` to go further back."""
        return await self._t.request_as(c.EventViewPage, "GET", "/views/events", params={
            "type": list(types) or None, "task_id": task_id, "run_id": run_id,
            "agent_id": agent_id, "text": text or None, "before": before, "limit": limit})

    async def orchestrations(self) -> list[c.OrchestrationInfo]:
        """Every current definition and every broken definition file."""
        return (await self._t.request_as(c.OrchestrationInfoList, "GET",
                                         "/views/orchestrations")).data
