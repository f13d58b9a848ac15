"""Graceful shutdown for long-lived responses: SSE streams and WebSockets.

Why: a stream handler only returns when its client goes away, and aiohttp's shutdown waits
for running handlers (then cancels them after ``shutdown_timeout``). With one console or
``curl -N`` attached, ``runner.cleanup()`` would hang for a minute. So every stream registers
itself here when it opens, and ``on_shutdown`` asks all of them to finish: SSE streams end
their loop, WebSockets close with 1001 (going away). Handlers then return, and cleanup is
immediate.

Usage: ``install_stream_tracking(app)`` once when building the app (``server.api`` does),
then ``track_stream(request, stream)`` from a handler, where ``stream`` has
``async def shutdown()``. Tracking is weak: a finished stream disappears by itself.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from aiohttp import web

from switchboard.server.app_keys import STREAMS_KEY, StreamRegistry

log = logging.getLogger("switchboard.server.streams")

SHUTDOWN_GRACE_SECONDS = 2.0
"""Upper bound on how long shutdown waits for all streams together to close."""


class Closable(Protocol):
    """What the registry holds: something that ends a live stream when asked."""

    async def shutdown(self) -> None: ...


def install_stream_tracking(app: web.Application) -> None:
    """Give ``app`` a stream registry and close everything in it on shutdown (idempotent)."""
    if STREAMS_KEY in app:
        return
    app[STREAMS_KEY] = StreamRegistry()
    app.on_shutdown.append(close_all_streams)


def track_stream(request: web.Request, stream: Closable) -> bool:
    """Register an open stream; False if the app is already shutting down (then close it).

    Apps built without ``install_stream_tracking`` (unit tests of one module) simply do not
    track: the call is a no-op returning True.
    """
    registry = request.app.get(STREAMS_KEY)
    if registry is None:
        return True
    if registry.closing:
        return False
    registry.members.add(stream)
    return True


def open_stream_count(app: web.Application) -> int:
    """How many tracked streams are open (for stats and tests)."""
    registry = app.get(STREAMS_KEY)
    return 0 if registry is None else len(registry.members)


async def close_all_streams(app: web.Application) -> None:
    """``on_shutdown`` hook: ask every open stream to finish, bounded by a short grace."""
    registry = app.get(STREAMS_KEY)
    if registry is None:
        return
    registry.closing = True
    members = list(registry.members)
    if not members:
        return
    log.info("closing %d open stream(s) for shutdown", len(members))
    jobs = [asyncio.ensure_future(member.shutdown()) for member in members]
    done, pending = await asyncio.wait(jobs, timeout=SHUTDOWN_GRACE_SECONDS)
    for job in pending:
        job.cancel()
    for job in done:
        if not job.cancelled() and job.exception() is not None:
            log.warning("stream shutdown failed: %r", job.exception())
