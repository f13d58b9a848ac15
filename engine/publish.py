"""Publishing events from outside (seed 003's ``POST /events/publish``)."""

from __future__ import annotations

import re
from typing import Any

from switchboard.engine.engine import Engine
from switchboard.engine.errors import ValidationFailed
from switchboard.engine.models import Event, normalize_priority
from switchboard.engine.rows import encode
from switchboard.engine.store.base import Tx

_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,127}$")
MAX_PAYLOAD_BYTES = 65_536


async def publish_event(
    engine: Engine, *, event_type: str, source_agent: str | None = None,
    payload: dict[str, Any] | None = None, task_id: str | None = None,
    run_id: str | None = None, trace_id: str | None = None, priority: str | None = None,
    agent_id: str | None = None,
) -> Event:
    """Validate and durably append an event; it reaches subscribers after the commit."""
    if not _EVENT_TYPE.match(event_type or ""):
        raise ValidationFailed("event_type", "must be 1-128 characters of letters, digits, . _ - :")
    if priority is not None:
        try:
            priority = normalize_priority(priority)
        except ValueError as exc:
            raise ValidationFailed("priority", str(exc)) from None
    body = payload or {}
    if len(encode(body)) > MAX_PAYLOAD_BYTES:
        raise ValidationFailed("payload", f"must be at most {MAX_PAYLOAD_BYTES} bytes of JSON")

    def op(tx: Tx) -> Event:
        return tx.emit(event_type, body, source_agent=source_agent, task_id=task_id,
                       run_id=run_id, trace_id=trace_id, priority=priority, agent_id=agent_id)

    return await engine.store.write(op)

RESERVED_EVENT_PREFIXES = ("task.", "approval.", "run.", "agent.", "system.", "sla.",
                           "session.", "subscription.")


def reserved_prefix(event_type: str) -> str | None:
    first = event_type.split(".", 1)[0].lower() + "."
    return first if first in RESERVED_EVENT_PREFIXES else None
