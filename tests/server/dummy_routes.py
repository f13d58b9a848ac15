"""Routes declared exactly as resource modules will declare them, for the server tests.

Each role level, a strict body, a query model, path parameters, engine errors and a crash.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from aiohttp import web
from pydantic import BaseModel, Field

from switchboard.engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from switchboard.server.app_keys import principal_of, require_principal
from switchboard.server.errors import ApiError
from switchboard.server.jsonio import QueryModel, StrictModel, json_response
from switchboard.server.routing import RouteTable

routes = RouteTable(tag="things")


class Payload(StrictModel):
    size: int


class CreateThing(StrictModel):
    type: str
    priority: int = Field(2, ge=0, le=3)
    kind: Literal["a", "b"] = "a"
    payload: Payload | None = None


class ThingOut(msgspec.Struct, kw_only=True):
    success: bool
    id: str
    priority: int


class ListQuery(QueryModel):
    page: int = Field(1, ge=1, description="Page number")
    limit: int = Field(20, ge=1, le=100)
    status: list[str] | None = None


class ThingPath(BaseModel):
    thing_id: str = Field(pattern=r"^thing_\w+$")


@routes.get("/public", role=None, also_at_root=True)
async def public(request: web.Request) -> dict[str, object]:
    """A public route that still says who called, if anyone did."""
    principal = principal_of(request)
    return {"subject": principal.subject if principal else None}


@routes.get("/things", role="user", query=ListQuery)
async def list_things(request: web.Request, query: ListQuery) -> dict[str, object]:
    """List things (any authenticated role)."""
    return {"page": query.page, "limit": query.limit, "status": query.status}


@routes.post("/things", role="agent", body=CreateThing, response=ThingOut, status=201)
async def create_thing(request: web.Request, body: CreateThing) -> ThingOut:
    """Create a thing (agent or admin)."""
    return ThingOut(success=True, id="thing_1", priority=body.priority)


@routes.get("/things/{thing_id}", role="user", path_params=ThingPath, response=ThingOut)
async def get_thing(request: web.Request, path: ThingPath) -> web.Response:
    """Get one thing; the engine's NotFound becomes 404."""
    if path.thing_id == "thing_missing":
        raise NotFound(f"thing {path.thing_id} not found")
    return json_response({"success": True, "id": path.thing_id, "priority": 2})


@routes.delete("/things/{thing_id}", role="admin", status=204)
async def delete_thing(request: web.Request) -> None:
    """Delete a thing (admin only)."""
    require_principal(request)


@routes.post("/things/{thing_id}/approve", role="agent")
async def approve_thing(request: web.Request) -> dict[str, object]:
    """Engine errors by name in the id: conflict, invalid, forbidden."""
    thing_id = request.match_info["thing_id"]
    if thing_id == "conflict":
        raise Conflict("already approved")
    if thing_id == "invalid":
        raise ValidationFailed("priority", "must be one of P0, P1, P2, P3")
    if thing_id == "forbidden":
        raise Forbidden("only the gate's reviewers may answer")
    return {"success": True, "approved_by": require_principal(request).subject}


@routes.post("/echo", role="user")
async def echo(request: web.Request) -> web.Response:
    """Reads the raw body (so the body-size limit applies) and echoes its length."""
    data = await request.read()
    return json_response({"bytes": len(data)})


@routes.get("/raises/{what}", role=None)
async def raises(request: web.Request) -> dict[str, object]:
    """Errors raised the other ways route code may raise them."""
    what = request.match_info["what"]
    if what == "pydantic":
        ThingPath.model_validate({"thing_id": "bad"})
    if what == "aiohttp":
        raise web.HTTPConflict(text="already running")
    if what == "aiohttp-plain":
        raise web.HTTPGone()
    if what == "api":
        raise ApiError(503, "store is restarting", headers={"Retry-After": "3"})
    return {"ok": True}


@routes.get("/crash", role=None)
async def crash(request: web.Request) -> dict[str, object]:
    """Fails with a secret in the exception: it must reach the log, never the client."""
    raise RuntimeError("db password is hunter2")


@routes.get("/stream", role="user", media_type="text/event-stream")
async def stream(request: web.Request) -> web.StreamResponse:
    """A streaming response: headers go out before the handler returns."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b"data: hello\n\n")
    await response.write_eof()
    return response
