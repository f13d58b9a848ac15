"""Server-Sent Events: one reusable stream for every ``text/event-stream`` route.

Why our own (on ``web.StreamResponse``) rather than aiohttp-sse: the event stream's hot
path writes pre-encoded frames in batches (a burst of 1,000 events is one write, not 1,000),
the stream must end from the outside (slow-subscriber drop, graceful shutdown through
``server.streams``), and a dead client must be noticed by the keep-alive so its bus
subscription is released. That is ~150 lines here; aiohttp-sse would still need all of it
wrapped around it. Replaying missed events is the caller's job (DESIGN.md: "replaying
missed events is ours").

Two ways to use it::

    # 1. a producer that is an async iterator of (id, event, data) -> the helper does it all
    async def run_stream(request: web.Request, body: RunBody) -> web.StreamResponse:
        async def items():
            yield None, "step_start", {"step_id": "s1"}
            ...
            yield None, "done", {}
        return await stream_events(request, items())

    # 2. a loop of your own: send frames, end when the stream closes
    async with SSEStream(request) as stream:
        stream.on_close(subscription.close)   # wakes the loop below on shutdown/disconnect
        async for event in subscription:
            await stream.send(event.event_type, convert.event(event), id=event.seq)
    return stream.response

``send`` raises ``StreamClosed`` once the client has gone or the server is shutting down;
``stream_events`` and the context manager treat that as the normal end. Keep-alive comments
(``: ping``) go out after ``keepalive`` seconds without any write (default
``[server] sse_keepalive_seconds``); they are also how a silent stream learns its client left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from typing import Any, Final

from aiohttp import web

from switchboard.server.app_keys import CONFIG_KEY
from switchboard.server.errors import RequestValidationError
from switchboard.server.jsonio import OUT_OF_RANGE, encode_json, number_problem
from switchboard.server.streams import track_stream

log = logging.getLogger("switchboard.server.sse")

CONTENT_TYPE: Final = "text/event-stream"
DEFAULT_KEEPALIVE_SECONDS: Final = 15.0
LAST_EVENT_ID_HEADER: Final = "Last-Event-ID"

SSEItem = tuple[str | int | None, str | None, Any]
"""What ``stream_events`` consumes: ``(id or None, event name or None, data)``."""

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_INTEGER = re.compile(r"[+-]?[0-9]{1,4300}")
_FIELD_FORBIDDEN = re.compile(r"[\r\n\0]")


class StreamClosed(Exception):
    """The SSE stream is closed (client gone, shutdown, or closed by the caller): stop."""


class _Default:
    """Sentinel type: "use the configured keep-alive"."""


_CONFIGURED = _Default()


# -- framing ------------------------------------------------------------------------------


def format_event(
    event: str | None, data: Any, id: str | int | None = None, *, retry_ms: int | None = None
) -> bytes:
    """One SSE frame as bytes, ending with the blank line that dispatches it.

    ``data``: ``str`` is sent as text (one ``data:`` line per line), ``bytes`` as already
    encoded UTF-8 (e.g. JSON from ``encode_json``), anything else is encoded as JSON.
    ``event`` and ``id`` may not contain line breaks (ValueError): they would forge fields.
    """
    parts: list[bytes] = []
    if id is not None:
        text = str(id)
        if _FIELD_FORBIDDEN.search(text):
            raise ValueError("SSE id may not contain CR, LF or NUL")
        parts.append(b"id: " + text.encode() + b"\n")
    if event is not None:
        if _FIELD_FORBIDDEN.search(event):
            raise ValueError("SSE event name may not contain CR, LF or NUL")
        parts.append(b"event: " + event.encode() + b"\n")
    if retry_ms is not None:
        parts.append(b"retry: %d\n" % int(retry_ms))
    if isinstance(data, bytes):
        payload = data.decode()
    elif isinstance(data, str):
        payload = data
    else:
        payload = encode_json(data).decode()
    for line in _LINE_BREAK.split(payload):
        parts.append(b"data: " + line.encode() + b"\n")
    parts.append(b"\n")
    return b"".join(parts)


def format_comment(text: str = "ping") -> bytes:
    """A comment frame (``: ping``); clients ignore it, proxies see traffic."""
    return b"".join(b": " + line.encode() + b"\n" for line in _LINE_BREAK.split(text)) + b"\n"


def last_event_id(request: web.Request) -> str | None:
    """The ``Last-Event-ID`` a reconnecting EventSource sends, or None if absent or blank.

    Our ids are event seqs, so a number that does not fit in 64 bits is refused here (400
    naming the header) instead of reaching SQLite as an OverflowError in every caller."""
    value = request.headers.get(LAST_EVENT_ID_HEADER, "").strip()
    if _INTEGER.fullmatch(value) and number_problem(int(value)) is not None:
        raise RequestValidationError(f"header.{LAST_EVENT_ID_HEADER}: {OUT_OF_RANGE}")
    return value or None


def configured_keepalive(request: web.Request) -> float:
    """``[server] sse_keepalive_seconds`` of the app, or the 15 s default without a config."""
    config = request.app.get(CONFIG_KEY)
    return config.server.sse_keepalive_seconds if config is not None else DEFAULT_KEEPALIVE_SECONDS


# -- the stream ---------------------------------------------------------------------------


class SSEStream:
    """One open ``text/event-stream`` response with keep-alive and outside-triggered close.

    Create, ``await prepare()`` (or ``async with``), ``send``/``comment``, then return
    ``stream.response`` from the handler. ``close()`` (also called on shutdown and when a
    write fails) stops the keep-alive, runs ``on_close`` callbacks once, and makes every
    later ``send`` raise ``StreamClosed``.
    """

    def __init__(
        self,
        request: web.Request,
        *,
        keepalive: float | _Default | None = _CONFIGURED,
        headers: Mapping[str, str] | None = None,
        retry_ms: int | None = None,
    ) -> None:
        self.request = request
        self.keepalive = (
            configured_keepalive(request) if isinstance(keepalive, _Default) else keepalive
        )
        self.retry_ms = retry_ms
        self.response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": CONTENT_TYPE,
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
                **(headers or {}),
            },
        )
        self._lock = asyncio.Lock()
        self._closed = False
        self._closed_event = asyncio.Event()
        self._callbacks: list[Callable[[], Any]] = []
        self._heartbeat: asyncio.Task[None] | None = None
        self._last_write = 0.0

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def prepared(self) -> bool:
        return self.response.prepared

    async def prepare(self) -> web.StreamResponse:
        """Send the headers, register for graceful shutdown, start the keep-alive."""
        if self.response.prepared:
            return self.response
        await self.response.prepare(self.request)
        loop = asyncio.get_running_loop()
        self._last_write = loop.time()
        if self.retry_ms is not None:
            await self._write(b"retry: %d\n\n" % int(self.retry_ms))
        if not track_stream(self.request, self):
            self.close()  # the server is already shutting down: end at once
            return self.response
        if self.keepalive:
            self._heartbeat = asyncio.create_task(self._keepalive_loop(self.keepalive),
                                                  name="sse-keepalive")
        return self.response

    def on_close(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` (sync) when the stream closes for any reason; at once if closed.

        Typical use: ``stream.on_close(subscription.close)`` so a loop blocked on the
        subscription wakes up when the client leaves or the server shuts down.
        """
        if self._closed:
            callback()
        else:
            self._callbacks.append(callback)

    def close(self) -> None:
        """End the stream from anywhere (idempotent). The handler still returns the response."""
        if self._closed:
            return
        self._closed = True
        self._closed_event.set()
        heartbeat = self._heartbeat
        if heartbeat is not None and heartbeat is not asyncio.current_task():
            heartbeat.cancel()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("SSE on_close callback failed")

    async def shutdown(self) -> None:
        """``server.streams`` hook: the server is stopping."""
        self.close()

    async def wait_closed(self) -> None:
        """Return once the stream is closed (by anyone)."""
        await self._closed_event.wait()

    async def __aenter__(self) -> SSEStream:
        await self.prepare()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self.close()
        # a client that left is the normal end of a stream, not an error
        return exc_type is not None and issubclass(exc_type, StreamClosed | ConnectionResetError)

    # -- writing -----------------------------------------------------------------------
    async def send(self, event: str | None, data: Any, id: str | int | None = None) -> None:
        """Send one event (see ``format_event`` for how ``data`` is encoded)."""
        await self._write(format_event(event, data, id))

    async def send_frames(self, frames: bytes) -> None:
        """Send frames already built with ``format_event`` in one write (batching)."""
        await self._write(frames)

    async def comment(self, text: str = "ping") -> None:
        """Send a comment line (keep-alive)."""
        await self._write(format_comment(text))

    async def _write(self, data: bytes) -> None:
        if self._closed:
            raise StreamClosed("stream closed")
        async with self._lock:
            try:
                await self.response.write(data)
            except (ConnectionError, RuntimeError) as exc:
                # ConnectionResetError: the client left; RuntimeError: written after EOF
                self.close()
                raise StreamClosed(str(exc) or "client disconnected") from None
        self._last_write = asyncio.get_running_loop().time()

    async def _keepalive_loop(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            delay = self._last_write + interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            try:
                await self.comment("ping")
            except StreamClosed:
                return


# -- the helper ---------------------------------------------------------------------------


async def stream_events(
    request: web.Request,
    events: AsyncIterable[SSEItem],
    *,
    keepalive: float | _Default | None = _CONFIGURED,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Stream ``(id, event, data)`` items as SSE until the iterator ends or the stream closes.

    Returns the response for the handler to return. The iterator is closed (``aclose``)
    when the client leaves or the server shuts down, even while it is waiting for its next
    item, so producers can release resources in ``finally``. An exception from the
    iterator after the headers went out ends the stream (logged; HTTP cannot report it).
    """
    stream = SSEStream(request, keepalive=keepalive, headers=headers)
    await stream.prepare()
    iterator = aiter(events)
    closed = asyncio.ensure_future(stream.wait_closed())
    try:
        while not stream.closed:
            item = await _next_or_closed(iterator, closed)
            if item is None:
                break
            ident, event, data = item
            await stream.send(event, data, id=ident)
    except StreamClosed:
        pass
    except Exception:
        log.exception("SSE producer failed; ending the stream")
    finally:
        closed.cancel()
        stream.close()
        if isinstance(iterator, AsyncIterator) and hasattr(iterator, "aclose"):
            with contextlib.suppress(Exception):
                await iterator.aclose()
    return stream.response


async def _next_or_closed(
    iterator: AsyncIterator[SSEItem], closed: asyncio.Future[Any]
) -> SSEItem | None:
    """The iterator's next item, or None when it is exhausted or the stream closed first."""
    step = asyncio.ensure_future(anext(iterator))
    await asyncio.wait({step, closed}, return_when=asyncio.FIRST_COMPLETED)
    if not step.done():
        step.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await step
        return None
    try:
        return step.result()
    except StopAsyncIteration:
        return None
