"""Webhooks over HTTP (admin): the configured receivers, their deliveries, redelivery.

Why admin only: delivery rows name receivers and carry failure details from them; a
receiver URL can embed a secret (Slack's do), so the list shows hosts, never full URLs.
Paged by id like ``GET /events`` (rows only grow).
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from switchboard.server.jsonio import ApiModel, QueryModel
from switchboard.server.resources.common import actor_of, engine_of
from switchboard.server.routing import RouteTable

routes = RouteTable(tag="webhooks")


class WebhookOut(ApiModel):
    name: str
    url: str = Field(description="Scheme and host only when the path may hold a secret")
    events: list[str]
    format: Literal["json", "slack"]
    enabled: bool
    signed: bool = Field(description="Deliveries carry X-Switchboard-Signature")


class WebhookList(ApiModel):
    data: list[WebhookOut]


class DeliveryOut(ApiModel):
    id: int = Field(description="Also sent as X-Switchboard-Delivery: de-duplicate on it")
    webhook: str
    event_seq: int
    event_type: str
    order_key: str = Field(description="Deliveries sharing it are sent in order")
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: str | None
    last_status: int | None = Field(description="The receiver's last HTTP status")
    last_error: str | None
    created_at: str
    delivered_at: str | None


class DeliveryPage(ApiModel):
    data: list[DeliveryOut]
    next_after: int = Field(description="Pass as ?after= for the next page")


class DeliveryQuery(QueryModel):
    status: Literal["pending", "delivered", "dead"] | None = None
    webhook: str | None = Field(None, max_length=100)
    after: int = Field(0, ge=0, le=2**63 - 1)
    limit: int = Field(100, ge=1, le=1000)


class DeliveryEnvelope(ApiModel):
    data: DeliveryOut


@routes.get("/webhooks", role="admin", response=WebhookList)
async def list_webhooks(request: web.Request) -> dict[str, Any]:
    """The configured webhook receivers (``[[webhooks]]``), without secrets."""
    return {"data": engine_of(request).webhooks.summary()}


@routes.get("/webhooks/deliveries", role="admin", query=DeliveryQuery, response=DeliveryPage)
async def list_deliveries(request: web.Request, query: DeliveryQuery) -> dict[str, Any]:
    """Outbox rows, oldest first: pending (with the next attempt), delivered, or dead
    (dead-lettered after retries, with the receiver's last status and error)."""
    rows = await engine_of(request).webhooks.deliveries(
        status=query.status, webhook=query.webhook, after=query.after, limit=query.limit)
    return {"data": [r.as_dict() for r in rows],
            "next_after": rows[-1].id if rows else query.after}


@routes.post("/webhooks/deliveries/{delivery_id}/redeliver", role="admin",
             response=DeliveryEnvelope, responses={404: "no such delivery",
                                                   409: "it is already queued"})
async def redeliver(request: web.Request) -> dict[str, Any]:
    """Queue a dead-lettered (or delivered) delivery again, now (audited)."""
    text = request.match_info["delivery_id"]
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        from switchboard.server.errors import RequestValidationError

        raise RequestValidationError("path.delivery_id: must be a delivery id (a number)")
    row = await engine_of(request).webhooks.redeliver(int(text), actor_of(request))
    return {"data": row.as_dict()}
