"""Webhooks over HTTP (admin): the configured receivers, their deliveries, redelivery.

Why admin only: delivery rows name receivers and carry failure details from them; a
receiver URL can embed a secret (Slack's do), so the list shows hosts, never full URLs.
Paged by id like ``GET /events`` (rows only grow).
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from switchboard.server import contract
from switchboard.server.jsonio import QueryModel
from switchboard.server.resources.common import actor_of, engine_of
from switchboard.server.routing import RouteTable

routes = RouteTable(tag="webhooks")


class DeliveryQuery(QueryModel):
    status: Literal["pending", "delivered", "dead"] | None = None
    webhook: str | None = Field(None, max_length=100)
    after: int = Field(0, ge=0, le=2**63 - 1)
    limit: int = Field(100, ge=1, le=1000)


@routes.get("/webhooks", role="admin", response=contract.WebhookList)
async def list_webhooks(request: web.Request) -> contract.WebhookList:
    """The configured webhook receivers (``[[webhooks]]``), without secrets."""
    return contract.WebhookList(data=[contract.Webhook(**hook)
                                      for hook in engine_of(request).webhooks.summary()])


@routes.get("/webhooks/deliveries", role="admin", query=DeliveryQuery, response=contract.DeliveryPage)
async def list_deliveries(request: web.Request, query: DeliveryQuery
                          ) -> contract.DeliveryPage:
    """Outbox rows, oldest first: pending (with the next attempt), delivered, or dead
    (dead-lettered after retries, with the receiver's last status and error)."""
    rows = await engine_of(request).webhooks.deliveries(
        status=query.status, webhook=query.webhook, after=query.after, limit=query.limit)
    return contract.DeliveryPage(data=[contract.Delivery(**r.as_dict()) for r in rows],
                                 next_after=rows[-1].id if rows else query.after)


@routes.post("/webhooks/deliveries/{delivery_id}/redeliver", role="admin",
             response=contract.DeliveryEnvelope, responses={404: "no such delivery",
                                                   409: "it is already queued"})
async def redeliver(request: web.Request) -> contract.DeliveryEnvelope:
    """Queue a dead-lettered (or delivered) delivery again, now (audited)."""
    text = request.match_info["delivery_id"]
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        from switchboard.server.errors import RequestValidationError

        raise RequestValidationError("path.delivery_id: must be a delivery id (a number)")
    row = await engine_of(request).webhooks.redeliver(int(text), actor_of(request))
    return contract.DeliveryEnvelope(data=contract.Delivery(**row.as_dict()))
