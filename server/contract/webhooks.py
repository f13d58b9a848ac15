"""Webhook receivers and their deliveries (``GET /webhooks``, ``/webhooks/deliveries``)."""

from __future__ import annotations

from switchboard.server.contract.common import Record, Time


class Webhook(Record, kw_only=True):
    """A configured receiver; ``url`` shows scheme and host only when its path may hold a
    secret (Slack's do). ``signed``: deliveries carry X-Switchboard-Signature."""

    name: str
    url: str
    events: list[str]
    format: str  # json | slack
    enabled: bool
    signed: bool


class WebhookList(Record, kw_only=True):
    data: list[Webhook]


class Delivery(Record, kw_only=True):
    """One outbox row. ``id`` is also sent as X-Switchboard-Delivery (de-duplicate on it);
    rows sharing ``order_key`` are sent in order; ``status`` is pending, delivered or dead."""

    id: int
    webhook: str
    event_seq: int
    event_type: str
    order_key: str
    status: str
    attempts: int
    next_attempt_at: Time | None = None
    last_status: int | None = None
    last_error: str | None = None
    created_at: Time
    delivered_at: Time | None = None


class DeliveryPage(Record, kw_only=True):
    data: list[Delivery]
    next_after: int


class DeliveryEnvelope(Record, kw_only=True):
    data: Delivery
