"""Events on the wire: the durable bus record (REST list, SSE ``data``), publish's answer.

``payload`` stays a free-form object: it is whatever the publisher (the engine or an agent)
put there, and the event type names its shape.
"""

from __future__ import annotations

from typing import Any, Literal

from switchboard.server.contract.common import Record, Time
from switchboard.server.contract.enums import Priority


class Event(Record, kw_only=True):
    """One durable event; ``seq`` orders all events and is the position to resume after."""

    seq: int
    event_type: str
    source_agent: str | None = None
    payload: dict[str, Any] = {}
    task_id: str | None = None
    run_id: str | None = None
    agent_id: str | None = None
    trace_id: str | None = None
    priority: Priority | None = None
    timestamp: Time | None = None


class EventList(Record, kw_only=True):
    """``GET /events``: events after ``after``, oldest first."""

    data: list[Event]
    last_seq: int = 0
    next_after: int = 0


class Published(Record, kw_only=True):
    """Seed 003's publish answer, plus the event's durable ``seq``."""

    success: Literal[True] = True
    event_type: str
    message: str = ""
    seq: int


class EventFrame(Record, kw_only=True):
    """One Server-Sent Event of ``GET /events/stream``: ``id`` is the seq, ``event`` the
    event type, ``data`` the event. ``subscription.dropped`` ends a stream that fell too far
    behind, with ``{"resume_after": seq}``."""

    event: str
    id: str
    data: Event
