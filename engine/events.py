"""The event bus: committed events fanned out to subscribers, with replay from any seq.

Every event is first persisted (in the same transaction as the change it describes), and
the store hands it here only after the commit. A subscriber asks for events after some seq:
it is registered for live events *before* the replay query runs, then the replay is read
from the store and the live buffer is drained skipping anything the replay already gave —
so there is no gap and no duplicate at the seam. A subscriber that falls more than
``max_buffer`` events (or ``max_bytes`` of payload) behind is dropped with a marker telling it
the last seq it got, from which it can resubscribe: a slow reader never slows the engine.

The replay is read lazily, a page at a time as the subscriber consumes it, and live events
are not buffered while it runs (the store has them; the replay reaches them). Why: a client
resuming from seq 0 on a store of millions of events used to pull the whole history into
memory in one go; now a subscriber holds at most one replay page plus its live bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from switchboard.engine.models import Event
from switchboard.engine.store.base import ReadConn, Store
from switchboard.engine.store.queries import F, Many, Q, Row

log = logging.getLogger("switchboard.events")

_decode_payload = msgspec.json.Decoder(dict[str, Any]).decode
_encode = msgspec.json.Encoder().encode

def event_from_row(row: Row) -> Event:
    """An event from a row in the order of the query files' ``event_columns``."""
    return Event(
        seq=row[0], event_type=row[1], timestamp=row[2], source_agent=row[3],
        payload=_decode_payload(row[4]), task_id=row[5], run_id=row[6], agent_id=row[7],
        trace_id=row[8], priority=row[9],
    )


@dataclass(frozen=True)
class EventFilter:
    """Which events a subscriber wants. Empty means everything.

    ``types`` are prefixes: ``"task."`` matches ``task.created`` and ``task.completed``.
    """

    types: tuple[str, ...] = ()
    task_id: str | None = None
    run_id: str | None = None
    agent_id: str | None = None

    def matches(self, event: Event) -> bool:
        if self.types and not event.event_type.startswith(self.types):
            return False
        if self.task_id is not None and event.task_id != self.task_id:
            return False
        if self.run_id is not None and event.run_id != self.run_id:
            return False
        return self.agent_id is None or event.agent_id == self.agent_id

    def where(self) -> tuple[list[F], dict[str, Any]]:
        """This filter as named query filters and their parameters (``Q.event_*``).

        ``types`` and ``words`` are always bound (empty when unused): the statements read
        them once per query, not once per row."""
        where: list[F] = []
        params: dict[str, Any] = {"types": Many(self.types), "words": Many(())}
        if self.types:
            where.append(F.event_types)
        for name, value in (("task_id", self.task_id), ("run_id", self.run_id),
                            ("agent_id", self.agent_id)):
            if value is not None:
                where.append(_ID_FILTERS[name])
                params[name] = value
        return where, params


_ID_FILTERS: dict[str, F] = {"task_id": F.event_task, "run_id": F.event_run,
                             "agent_id": F.event_agent}
NO_UPPER_BOUND = 2**62
"""A seq no event reaches (the upper bound of an unbounded history read)."""


DROPPED = "subscription.dropped"


DEFAULT_MAX_BYTES = 32 * 1024 * 1024
"""Payload bytes a subscriber may hold unread before it is dropped (count is the other bound)."""
EVENT_OVERHEAD_BYTES = 160
"""Added to each payload's size for the envelope (type, ids, timestamp) when bounding bytes."""


@dataclass(eq=False)
class Subscription:
    """One subscriber's view of the stream. Iterate it; ``close()`` when done."""

    bus: EventBus
    filter: EventFilter
    max_buffer: int
    max_bytes: int = DEFAULT_MAX_BYTES
    last_seq: int = 0
    _buffer: deque[tuple[Event, int]] = field(default_factory=deque)
    _bytes: int = 0
    _replaying: bool = False
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: bool = False
    _dropped: bool = False

    def _offer(self, event: Event, size: int) -> None:
        if self._closed or self._dropped or self._replaying:
            return  # while replaying, the store holds it and the replay will read it
        if len(self._buffer) >= self.max_buffer or self._bytes + size > self.max_bytes:
            self._dropped = True
            self._buffer.clear()
            self._bytes = 0
            self.bus._remove(self)
            log.warning("subscriber dropped: more than %d events or %d bytes unread",
                        self.max_buffer, self.max_bytes)
        else:
            self._buffer.append((event, size))
            self._bytes += size
        self._wakeup.set()

    def close(self) -> None:
        self._closed = True
        self.bus._remove(self)
        self._wakeup.set()

    @property
    def dropped(self) -> bool:
        return self._dropped

    @property
    def buffered_bytes(self) -> int:
        return self._bytes

    def _pop(self) -> Event | None:
        """The next undelivered buffered event (skipping any the replay already gave)."""
        while self._buffer:
            event, size = self._buffer.popleft()
            self._bytes -= size
            if event.seq > self.last_seq:
                self.last_seq = event.seq
                return event
        return None

    def drain_nowait(self) -> list[Event]:
        """Everything buffered right now (for consumers that batch, like the console)."""
        out: list[Event] = []
        while (event := self._pop()) is not None:
            out.append(event)
        return out

    async def _replay_page(self) -> None:
        """Read the next replay page from the store; at its end, switch to live events.

        The switch registers for live events *before* the last catch-up read, so an event
        committed meanwhile is either read or buffered (or both: seq order dedupes)."""
        page = self.bus.replay_page
        rows = await self.bus.history_rows(self.last_seq, self.filter, page)
        if len(rows) < page:
            self._replaying = False  # live events are buffered from here on
            more = await self.bus.history_rows(rows[-1][0] if rows else self.last_seq,
                                               self.filter, None)
            rows = rows + more
            live = list(self._buffer)
            self._buffer.clear()
            self._bytes = 0
            for row in rows:
                self._buffer.append((event_from_row(row), len(row[4]) + EVENT_OVERHEAD_BYTES))
            top = rows[-1][0] if rows else self.last_seq
            self._buffer.extend(item for item in live if item[0].seq > top)
            self._bytes = sum(size for _, size in self._buffer)
            return
        for row in rows:
            self._buffer.append((event_from_row(row), len(row[4]) + EVENT_OVERHEAD_BYTES))
            self._bytes += len(row[4]) + EVENT_OVERHEAD_BYTES

    async def next(self, timeout: float | None = None) -> Event | None:
        """The next event; None on timeout or close; a DROPPED marker if we fell behind."""
        while True:
            event = self._pop()
            if event is not None:
                return event
            if self._replaying and not self._closed:
                await self._replay_page()
                continue
            if self._dropped:
                self._closed = True
                return Event(seq=self.last_seq, event_type=DROPPED, timestamp=0.0,
                             payload={"resume_after": self.last_seq})
            if self._closed:
                return None
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                return None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self.next()
            if event is None:
                return
            yield event
            if event.event_type == DROPPED:
                return


class EventBus:
    """Fan-out of committed events; replay comes from the store."""

    def __init__(self, store: Store, *, replay_page: int = 1000) -> None:
        self.store = store
        self.replay_page = replay_page
        self._subscribers: set[Subscription] = set()
        self._listeners: list[Callable[[list[Event]], None]] = []
        self.last_seq = 0
        store.set_event_sink(self._publish)

    async def start(self) -> None:
        row = await self.store.read(lambda c: c.one(Q.event_last_seq))
        self.last_seq = int(row[0] or 0) if row else 0

    def add_listener(self, listener: Callable[[list[Event]], None]) -> None:
        """A synchronous in-process hook called with each committed batch (metrics, console)."""
        self._listeners.append(listener)

    def _publish(self, events: list[Event]) -> None:
        self.last_seq = max(self.last_seq, events[-1].seq)
        for listener in self._listeners:
            try:
                listener(events)
            except Exception:
                log.exception("event listener failed")
        if not self._subscribers:
            return
        sizes = [len(_encode(event.payload)) + EVENT_OVERHEAD_BYTES for event in events]
        for sub in list(self._subscribers):
            flt = sub.filter
            for event, size in zip(events, sizes, strict=True):
                if flt.matches(event):
                    sub._offer(event, size)

    def _remove(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def subscribe(
        self,
        after_seq: int | None = None,
        event_filter: EventFilter | None = None,
        *,
        max_buffer: int = 10_000,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> Subscription:
        """Live events after ``after_seq`` (None = only new ones), replayed from the store
        first, a page at a time as they are consumed (see the module docstring)."""
        flt = event_filter or EventFilter()
        sub = Subscription(self, flt, max_buffer, max_bytes)
        if after_seq is None:
            self._subscribers.add(sub)
            sub.last_seq = self.last_seq
            return sub
        sub.last_seq = after_seq
        sub._replaying = True
        self._subscribers.add(sub)
        sub._wakeup.set()
        return sub

    async def history_rows(self, after_seq: int, event_filter: EventFilter,
                           limit: int | None) -> list[Row]:
        """Raw event rows after a seq in seq order (all of them when ``limit`` is None)."""
        where, params = event_filter.where()
        out: list[Row] = []
        cursor = after_seq
        while True:
            page = self.replay_page if limit is None else min(limit - len(out), self.replay_page)
            if page <= 0:
                return out
            args = {**params, "after": cursor, "before": NO_UPPER_BOUND, "limit": page}

            def read(conn: ReadConn, args: dict[str, Any] = args) -> list[Row]:
                return conn.all(Q.event_after, args, where=where)

            rows = await self.store.read(read)
            out.extend(rows)
            if len(rows) < page:
                return out
            cursor = int(rows[-1][0])

    async def history(
        self,
        after_seq: int = 0,
        event_filter: EventFilter | None = None,
        *,
        limit: int | None = 100,
        before_seq: int | None = None,
        newest_first: bool = False,
    ) -> list[Event]:
        """Persisted events after a seq (paged internally when ``limit`` is None)."""
        flt = event_filter or EventFilter()
        where, params = flt.where()
        query = Q.event_before if newest_first else Q.event_after
        out: list[Event] = []
        lower, upper = after_seq, NO_UPPER_BOUND if before_seq is None else before_seq
        while True:
            page = self.replay_page if limit is None else min(limit - len(out), self.replay_page)
            if page <= 0:
                break
            args = {**params, "after": lower, "before": upper, "limit": page}

            def read(conn: ReadConn, args: dict[str, Any] = args) -> list[Row]:
                return conn.all(query, args, where=where)

            rows = await self.store.read(read)
            out.extend(event_from_row(r) for r in rows)
            if len(rows) < page:
                break
            if newest_first:
                upper = int(rows[-1][0])
            else:
                lower = int(rows[-1][0])
        return out
