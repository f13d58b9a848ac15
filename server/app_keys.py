"""Typed keys for what the app and each request carry.

Why one module: aiohttp's ``AppKey``/``RequestKey`` give ``app[KEY]`` a static type, and
keeping them together means a route module imports keys from here, never from the
middleware that happens to fill them. Engine-side keys (store, task service...) belong to
whoever adds the engine to the app; add them here too.

Accessors for route code: ``principal_of(request)`` (None on public routes without
credentials) and ``require_principal(request)`` (401 if missing).
"""

from __future__ import annotations

import weakref
from typing import Any

from aiohttp import web

from switchboard.engine.clock import Clock
from switchboard.engine.config import Config
from switchboard.server.auth import Authenticator, Principal
from switchboard.server.errors import ApiError
from switchboard.server.ratelimit import RateLimiter, RateLimitResult
from switchboard.server.routing import RouteRegistry

# -- application -----------------------------------------------------------------------
CONFIG_KEY = web.AppKey("config", Config)
CLOCK_KEY = web.AppKey("clock", Clock)
AUTH_KEY = web.AppKey("authenticator", Authenticator)
LIMITER_KEY = web.AppKey("rate_limiter", RateLimiter)
"""Present even when rate limiting is disabled (``limiter.enabled`` is then False)."""
ROUTES_KEY = web.AppKey("route_registry", RouteRegistry)


class DocumentCache:
    """Holder for the generated OpenAPI document: built on first request, when the routes
    can no longer change, and kept (app state itself is read-only once the app runs)."""

    def __init__(self) -> None:
        self.document: dict[str, Any] | None = None


OPENAPI_KEY = web.AppKey("openapi_cache", DocumentCache)


class StreamRegistry:
    """The open SSE streams and WebSockets of one app, held weakly, closed at shutdown.

    Why: aiohttp's shutdown waits for running handlers, and a stream handler runs until its
    client leaves, so without this ``runner.cleanup()`` hangs for the handler timeout.
    Members are objects with ``async def shutdown()``; ``server.streams`` fills and drains it.
    A WeakSet, because a finished stream must not be kept alive by the registry.
    """

    def __init__(self) -> None:
        self.members: weakref.WeakSet[Any] = weakref.WeakSet()
        self.closing = False


STREAMS_KEY = web.AppKey("open_streams", StreamRegistry)
"""Set by ``server.streams.install_stream_tracking``; absent on apps without streams."""

# -- request ---------------------------------------------------------------------------
REQUEST_ID_KEY = web.RequestKey("request_id", str)
PRINCIPAL_KEY = web.RequestKey("principal", Principal)
"""Set only when the request carried valid credentials."""
AUTH_ERROR_KEY = web.RequestKey("auth_error", str)
"""Why presented credentials were refused; the authorize step turns it into a 401."""
RATE_LIMIT_KEY = web.RequestKey("rate_limit", RateLimitResult)
"""This request's limiter outcome; its headers are added to whatever response goes out."""


def principal_of(request: web.Request) -> Principal | None:
    """The authenticated caller, or None (only possible on public routes)."""
    return request.get(PRINCIPAL_KEY)


def require_principal(request: web.Request) -> Principal:
    """The authenticated caller; raises 401 if there is none (for public-but-personal routes)."""
    principal = request.get(PRINCIPAL_KEY)
    if principal is None:
        raise ApiError(401, "authentication required", headers={"WWW-Authenticate": "Bearer"})
    return principal


def request_id_of(request: web.Request) -> str:
    """The request id (echoed from ``X-Request-ID`` or generated); '-' before the middleware."""
    return request.get(REQUEST_ID_KEY, "-")

# -- engine ----------------------------------------------------------------------------
from switchboard.engine.engine import Engine  # noqa: E402

ENGINE_KEY = web.AppKey("engine", Engine)
"""The running engine every resource route talks to (set by ``server.api.build_api_app``)."""
