"""The operator views (``GET /api/v1/views/...``): what a console's screens show, computed
by the engine in one read (``engine.views``).

Why routes of their own, not assembled by clients from the record routes: an overview was
nine requests and the default task view up to twenty, each counted by the rate limiter, and
the client had to re-derive the engine's ordering and counts. Each view here is one request
and one snapshot of the store. All are reads (role ``user``); nothing here mutates.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from switchboard.engine import views
from switchboard.server import contract, convert
from switchboard.server.jsonio import QueryModel
from switchboard.server.resources.common import engine_of, now_of
from switchboard.server.resources.events import EventFilterQuery
from switchboard.server.routing import RouteTable

routes = RouteTable(tag="views")

_TEXT = Field("", max_length=views.MAX_TEXT,
              description=f"Words (at most {views.MAX_WORDS}) that must each appear, "
                          "case-insensitively.")


class TaskViewQuery(QueryModel):
    status: str | None = Field(None, description="A task status, or running (in progress). "
                               "None: every unfinished task, then the finished ones.")
    priority: str | None = Field(None, description="P0-P3 or critical/high/medium/low")
    type: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    text: str = _TEXT
    offset: int = Field(0, ge=0, le=1_000_000_000)
    limit: int = Field(100, ge=1, le=views.MAX_TASK_PAGE)


class FindQuery(QueryModel):
    kind: Literal["task", "run", "agent", "approval"]
    text: str = Field(min_length=1, max_length=views.MAX_TEXT,
                      description="Any part of an id (the console's short id is its tail).")
    limit: int = Field(10, ge=1, le=100)


class EventViewQuery(EventFilterQuery):
    text: str = _TEXT
    before: int | None = Field(None, ge=1, description="Events with a seq below this "
                               "(None: the newest).")
    limit: int = Field(200, ge=1, le=views.MAX_EVENT_PAGE)


@routes.get("/views/overview", role="user", response=contract.Overview,
            summary="The overview")
async def overview(request: web.Request) -> contract.Overview:
    """Task counts by status and priority, approvals waiting, agents by health, runs by
    status and the last hour's per-minute series, from one snapshot."""
    return convert.overview(await engine_of(request).views.overview())


@routes.get("/views/tasks", role="user", query=TaskViewQuery, response=contract.TaskViewPage,
            summary="A page of a task view")
async def tasks(request: web.Request, query: TaskViewQuery) -> contract.TaskViewPage:
    """Tasks matching the filter over the whole store: unfinished ones most urgent first
    (priority, then oldest), then finished ones newest first; with the counts per status."""
    flt = views.TaskFilter(status=query.status, priority=query.priority, type=query.type,
                           agent_id=query.agent_id, run_id=query.run_id, text=query.text)
    page = await engine_of(request).views.tasks(flt, offset=query.offset, limit=query.limit)
    return convert.task_view_page(page, now_of(request))


@routes.get("/views/find", role="user", query=FindQuery, response=contract.IdMatches,
            summary="Find ids by any part")
async def find(request: web.Request, query: FindQuery) -> contract.IdMatches:
    """Ids of a kind of record that contain ``text``, newest first (the console's
    ``:task 3k7q``)."""
    found = await engine_of(request).views.find(query.kind, query.text, limit=query.limit)
    return convert.id_matches(found)


@routes.get("/views/events", role="user", query=EventViewQuery,
            response=contract.EventViewPage, summary="Events before a point")
async def events(request: web.Request, query: EventViewQuery) -> contract.EventViewPage:
    """The newest matching events with a seq below ``before``, oldest first: scrolling back
    through history one request at a time."""
    flt = query.to_filter()
    page = await engine_of(request).views.events(
        views.EventQuery(types=flt.types, task_id=flt.task_id, run_id=flt.run_id,
                         agent_id=flt.agent_id, text=query.text),
        before=query.before, limit=query.limit)
    return convert.event_view_page(page)


@routes.get("/views/orchestrations", role="user", response=contract.OrchestrationInfoList,
            summary="Orchestrations and broken files")
async def orchestrations(request: web.Request) -> contract.OrchestrationInfoList:
    """Every current definition and every definition file that does not load (with its
    problems), paths relative to the definitions folder."""
    infos = engine_of(request).views.orchestrations()
    return contract.OrchestrationInfoList(data=[convert.orchestration_info(i) for i in infos])
