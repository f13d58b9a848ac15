"""Events: publish (seed 003), list after a seq, and a live SSE stream with resume.

Why the stream resumes by seq: every event is durable before it is published and carries a
monotonic ``seq`` (``engine.events``), sent as the SSE ``id``. A client that reconnects with
``Last-Event-ID`` (browsers do it by themselves) or ``?after=`` gets exactly the events it
missed, from the store, then the live ones: nothing lost, nothing twice, across a server
restart too. A client too slow to keep up is cut off with a ``subscription.dropped`` event
naming the seq to resume after, instead of slowing the engine down.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from aiohttp import web
from pydantic import Field

from switchboard.engine.events import DROPPED, EventBus, EventFilter
from switchboard.engine.models import Event
from switchboard.engine.publish import publish_event
from switchboard.server import contract, convert
from switchboard.server.app_keys import CONFIG_KEY, ENGINE_KEY
from switchboard.server.errors import ApiError
from switchboard.server.jsonio import QueryModel, StrictModel, encode_json
from switchboard.server.resources.common import actor_of
from switchboard.server.routing import RouteTable
from switchboard.server.sse import SSEStream, StreamClosed, format_event, last_event_id

routes = RouteTable(tag="events")

STREAM_MAX_BUFFER = 10_000
"""Events a stream may fall behind before it is dropped (then the client resumes)."""


# -- models -------------------------------------------------------------------------------


class PublishEvent(StrictModel):
    """Seed 003's request body (plus ``run_id`` and ``agent_id`` for correlation)."""

    event_type: str = Field(min_length=1, max_length=128, examples=["deployment.completed"])
    source_agent: str | None = Field(None, max_length=256)
    payload: dict[str, Any] = Field(default_factory=dict)
    task_id: str | None = Field(None, max_length=256)
    run_id: str | None = Field(None, max_length=256)
    agent_id: str | None = Field(None, max_length=256)
    trace_id: str | None = Field(None, max_length=256)
    priority: str | None = Field(
        None, description="P0-P3 or critical/high/medium/low", examples=["P2"]
    )


class EventFilterQuery(QueryModel):
    type: list[str] | None = Field(
        None, description="Event type prefixes (repeat or comma-separate): task., approval."
    )
    task_id: str | None = None
    run_id: str | None = None
    agent_id: str | None = None

    def to_filter(self) -> EventFilter:
        return EventFilter(
            types=tuple(self.type or ()), task_id=self.task_id, run_id=self.run_id,
            agent_id=self.agent_id,
        )


class ListQuery(EventFilterQuery):
    after: int = Field(0, ge=0, description="Return events with seq greater than this")
    limit: int = Field(100, ge=1, le=1000)


class StreamQuery(EventFilterQuery):
    after: int | None = Field(
        None, ge=0,
        description="Replay events after this seq first; the Last-Event-ID header wins. "
        "Without either, only new events are sent.",
    )


# -- routes -------------------------------------------------------------------------------


@routes.post("/events/publish", role="agent", body=PublishEvent, response=contract.Published,
             summary="Publish an event",
             responses={403: "a reserved namespace (task., approval., run., agent., system., "
                             "sla., session., subscription.), or source_agent names someone else"})
async def publish(request: web.Request, body: PublishEvent) -> contract.Published:
    """Durably append an event to the bus; subscribers get it after the commit.

    The engine's own namespaces are refused (403). ``source_agent`` defaults to the caller's
    identity and may only name the caller or an agent id it registered; an admin may publish
    as another source, which is audited (``event.publish_as``).
    """
    event = await publish_event(
        request.app[ENGINE_KEY],
        event_type=body.event_type,
        source_agent=body.source_agent,
        payload=body.payload,
        task_id=body.task_id,
        run_id=body.run_id,
        agent_id=body.agent_id,
        trace_id=body.trace_id,
        priority=body.priority,
        actor=actor_of(request),
    )
    return contract.Published(event_type=event.event_type,
                              message="Event published successfully", seq=event.seq)


@routes.get("/events", role="user", query=ListQuery, response=contract.EventList,
            summary="List events")
async def list_events(request: web.Request, query: ListQuery) -> contract.EventList:
    """Persisted events after ``after``, oldest first; page with ``next_after``."""
    bus = request.app[ENGINE_KEY].bus
    last_seq = bus.last_seq
    events = await bus.history(query.after, query.to_filter(), limit=query.limit)
    return contract.EventList(
        data=[convert.event(event) for event in events],
        last_seq=max(last_seq, events[-1].seq) if events else last_seq,
        next_after=events[-1].seq if events else query.after)


@routes.get("/events/stream", role="user", query=StreamQuery, media_type="text/event-stream",
            response=contract.EventFrame,
            summary="Stream events (SSE)",
            responses={400: "Last-Event-ID is not a seq"})
async def stream(request: web.Request, query: StreamQuery) -> web.StreamResponse:
    """Live events as Server-Sent Events: ``id: <seq>``, ``event: <event_type>``, ``data: <json>``.

    Resume with the ``Last-Event-ID`` header or ``?after=SEQ``: missed events are replayed
    from the store first. ``: ping`` comments keep idle connections open. A subscriber that
    falls too far behind receives ``event: subscription.dropped`` with
    ``{"resume_after": SEQ}`` and the stream ends; reconnect from that seq.
    """
    after = _resume_after(request, query.after)
    bus = request.app[ENGINE_KEY].bus
    server = request.app[CONFIG_KEY].server
    sub = await bus.subscribe(after, query.to_filter(),
                              max_buffer=min(STREAM_MAX_BUFFER, server.stream_buffer_events),
                              max_bytes=server.stream_buffer_bytes)
    sse = SSEStream(request)
    sse.on_close(sub.close)  # shutdown or a dead client wakes the loop below
    frames = _frame_cache(bus)
    try:
        await sse.prepare()
        while not sse.closed:
            event = await sub.next()
            if event is None:
                break
            if event.event_type == DROPPED:
                resume = int(event.payload.get("resume_after", event.seq))
                await sse.send(DROPPED, {"resume_after": resume}, id=resume)
                break
            batch = [event, *sub.drain_nowait()]  # a burst goes out as one write
            await sse.send_frames(b"".join(frames.get(e) for e in batch))
            if len(batch) > 1:
                await asyncio.sleep(0)  # let other streams write between big batches
    except (StreamClosed, ConnectionResetError):
        pass
    finally:
        sse.close()
        sub.close()
    return sse.response


class _FrameCache:
    """Encoded SSE frames of recent events, keyed by seq.

    Why: with N streams open every event would be encoded N times; the bus hands the same
    committed events to every subscriber, so the first stream encodes and the rest reuse it.
    Bounded and insertion-ordered: old seqs fall out first.
    """

    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self._frames: dict[int, bytes] = {}

    def get(self, event: Event) -> bytes:
        frame = self._frames.get(event.seq)
        if frame is None:
            frame = format_event(event.event_type, encode_json(convert.event(event)), event.seq)
            if len(self._frames) >= self.size:
                del self._frames[next(iter(self._frames))]
            self._frames[event.seq] = frame
        return frame


_caches: weakref.WeakKeyDictionary[EventBus, _FrameCache] = weakref.WeakKeyDictionary()


def _frame_cache(bus: EventBus) -> _FrameCache:
    """One cache per bus: two engines in one process (tests) reuse the same seqs."""
    cache = _caches.get(bus)
    if cache is None:
        cache = _caches[bus] = _FrameCache()
    return cache


def _resume_after(request: web.Request, after: int | None) -> int | None:
    """The seq to replay after: ``Last-Event-ID`` if sent (a reconnect), else ``?after=``."""
    header = last_event_id(request)
    if header is None:
        return after
    try:
        seq = int(header)
    except ValueError:
        raise ApiError(400, "Last-Event-ID must be an event seq (a non-negative integer)") from None
    if seq < 0:
        raise ApiError(400, "Last-Event-ID must be an event seq (a non-negative integer)")
    return seq
