"""Events (seed 003 publish) and the durable event stream, over SSE or the WebSocket.

``stream()`` never loses or repeats an event across reconnects and server restarts: every
event carries its ``seq`` as the SSE id, and each reconnection resumes after the last one
delivered. Called without ``after`` it first asks the server for the current position, so
"only new events" still has a defined starting point to resume from.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import msgspec

from switchboard.server.contract import Event, EventList, Published
from switchboard.server.sdk.client import ws
from switchboard.server.sdk.client.http import Transport
from switchboard.server.sdk.client.sse import ResumableStream

DROPPED = "subscription.dropped"

_decode_event = msgspec.json.Decoder(Event).decode


class EventPage(list[Event]):
    """Events oldest first; ``next_after`` is the ``after`` of the next page."""

    def __init__(self, items: list[Event], last_seq: int, next_after: int) -> None:
        super().__init__(items)
        self.last_seq = last_seq
        self.next_after = next_after


def _filters(types: list[str] | str | None, task_id: str | None, run_id: str | None,
             agent_id: str | None) -> dict[str, Any]:
    if isinstance(types, str):
        types = [types]
    return {"type": list(types) if types else None, "task_id": task_id, "run_id": run_id,
            "agent_id": agent_id}


class EventsResource:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    async def publish(self, event_type: str, payload: dict[str, Any] | None = None, *,
                      source_agent: str | None = None, task_id: str | None = None,
                      run_id: str | None = None, agent_id: str | None = None,
                      trace_id: str | None = None, priority: str | None = None) -> Published:
        """Publish an event (seed 003); the answer carries its durable ``seq``."""
        body = {"event_type": event_type, "payload": payload or {}, "source_agent": source_agent,
                "task_id": task_id, "run_id": run_id, "agent_id": agent_id,
                "trace_id": trace_id, "priority": priority}
        return await self._t.request_as(Published, "POST", "/events/publish",
                                        json={k: v for k, v in body.items() if v is not None})

    async def list(self, after: int = 0, *, limit: int = 100,
                   types: list[str] | str | None = None, task_id: str | None = None,
                   run_id: str | None = None, agent_id: str | None = None) -> EventPage:
        """Stored events with ``seq > after``, oldest first (``types`` are prefixes)."""
        body = await self._t.request_as(EventList, "GET", "/events", params={
            "after": after, "limit": limit, **_filters(types, task_id, run_id, agent_id)})
        return EventPage(body.data, body.last_seq, body.next_after)

    async def position(self) -> int:
        """The newest committed seq: a stream starting here misses nothing from now on."""
        return (await self.list(0, limit=1)).last_seq

    async def stream(self, after: int | None = None, *,
                     types: builtins.list[str] | str | None = None,
                     task_id: str | None = None, run_id: str | None = None,
                     agent_id: str | None = None, reconnect_for: float | None = 300.0,
                     read_timeout: float = 60.0, backoff: float = 0.2, max_backoff: float = 5.0,
                     on_state: Callable[[bool], None] | None = None
                     ) -> AsyncGenerator[Event, None]:
        """Live events over SSE, replaying from ``after`` first; reconnects and resumes.

        Gives up with ``TransportError`` after ``reconnect_for`` seconds without a
        connection (None: never), retrying ``backoff`` doubling up to ``max_backoff`` seconds
        apart. ``on_state(connected)`` hears of each connection made or
        lost. Stop early with ``break`` (or ``aclose()``).
        """
        start = after if after is not None else await self.position()
        source = ResumableStream(self._t, "/events/stream",
                                 params=_filters(types, task_id, run_id, agent_id),
                                 initial_id=str(start), reconnect_for=reconnect_for,
                                 read_timeout=read_timeout, backoff=backoff,
                                 max_backoff=max_backoff, on_state=on_state)
        try:
            async for message in source:
                if message.event == DROPPED:
                    continue  # its id is the resume point; the stream reconnects from it
                yield _decode_event(message.data)
        finally:
            source.close()

    def subscribe(self, channel: str = "all_events", *, after: int | None = None,
                  reconnect_for: float | None = 300.0, **scope: Any
                  ) -> AsyncIterator[dict[str, Any]]:
        """Seed 001's WebSocket channel messages (``{"type": "task_completed", ...}``),
        resuming after the last ``seq`` across reconnects."""
        return ws.subscribe(self._t, channel, after=after, reconnect_for=reconnect_for, **scope)
