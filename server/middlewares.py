"""The request pipeline: request id -> errors -> authenticate -> rate limit -> authorize.

Why this order:

1. ``request_id`` is outermost so every log line and every response, errors included,
   carries the id.
2. ``errors`` wraps everything after it, so no exception, from auth to the handler, leaves
   the server as anything but ``{"detail": ...}`` JSON.
3. ``authenticate`` only *identifies* the caller (a Principal, none, or a refusal reason);
   it does not answer yet, so that
4. ``rate_limit`` can count the request against the principal, or against the client
   address when the credentials were missing or bad: failed logins are throttled per
   address, and even a 401 carries ``X-RateLimit-*`` (seed 003: "all responses").
5. ``authorize`` answers 401 (bad or missing credentials) and 403 (role too low) from the
   route's declared minimum role (``server.routing``). A handler that is not a declared
   route requires admin: unknown means closed.

Response headers (``X-Request-ID``, ``X-RateLimit-*``) are added in ``on_response_prepare``
rather than in a middleware, because SSE streams and WebSockets send their headers before a
middleware would see the response.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from switchboard.engine.errors import EngineError
from switchboard.server.app_keys import (
    AUTH_ERROR_KEY,
    CONFIG_KEY,
    PRINCIPAL_KEY,
    RATE_LIMIT_KEY,
    REQUEST_ID_KEY,
)
from switchboard.server.auth import Authenticator, AuthError, role_at_least
from switchboard.server.errors import (
    ApiError,
    RequestValidationError,
    engine_status,
    error_response,
    validation_detail,
)
from switchboard.server.ratelimit import RateLimiter
from switchboard.server.routing import spec_of

Middleware = Callable[
    [web.Request, Callable[[web.Request], Awaitable[web.StreamResponse]]],
    Awaitable[web.StreamResponse],
]

log = logging.getLogger("switchboard.server")

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_UNSET_ROLE = "admin"  # minimum role for a handler mounted without a RouteSpec

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
"""The current request's id, for log records (see ``RequestIdFilter``)."""


_ID_PREFIX = uuid.uuid4().hex[:12]
_ID_COUNTER = itertools.count(1)


def _next_request_id() -> str:
    """Unique per process start and cheap: a random prefix plus a counter (uuid4 reads the
    kernel's entropy pool on every call, which showed up in request profiles)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):020x}"


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` so a format string can include ``%(request_id)s``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def _error_response(request: web.Request, exc: Exception) -> web.StreamResponse:
    """Turn an exception into ``{"detail": ...}`` with the right status.

    ApiError -> its status; aiohttp HTTP errors keep their status (404/405/413 get a useful
    detail); engine errors -> 404/409/400/403; pydantic ValidationError -> 400 naming the
    field; anything else -> 500 ``{"detail": "internal error", "request_id": ...}`` with the
    traceback in the log only. Redirects and a client that went away are re-raised.
    """
    if isinstance(exc, RequestValidationError):
        field = exc.field
        return error_response(exc.status, exc.detail, headers=exc.headers,
                              extra={"field": field} if field else None)
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.detail, headers=exc.headers)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc  # redirects and the like are not errors
        return _http_exception_response(request, exc)
    if isinstance(exc, EngineError):
        engine_field = getattr(exc, "field", None)
        return error_response(engine_status(exc), exc.detail,
                              extra={"field": engine_field}
                              if isinstance(engine_field, str) else None)
    if isinstance(exc, ValidationError):
        return error_response(400, validation_detail(exc))
    if isinstance(exc, ConnectionResetError):  # the client went away: nothing to send or log
        raise exc
    request_id = request.get(REQUEST_ID_KEY, "-")
    log.error("unhandled error in %s %s (request_id=%s)", request.method, request.path,
              request_id, exc_info=exc)
    return error_response(500, "internal error", extra={"request_id": request_id})


def _http_exception_response(request: web.Request, exc: web.HTTPException) -> web.Response:
    headers = {
        k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")
    }
    default_text = f"{exc.status}: {exc.reason}"
    detail = exc.text if exc.text and exc.text != default_text else exc.reason
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        config = request.app.get(CONFIG_KEY)
        detail = "request body too large"
        if config is not None:
            detail += f"; the limit is {config.server.max_body_bytes} bytes"
    elif isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        detail = f"method {request.method} not allowed on {request.path}; allowed: {allowed}"
    elif isinstance(exc, web.HTTPNotFound) and request.match_info.http_exception is not None:
        detail = f"no route for {request.method} {request.path}"
    return error_response(exc.status, detail, headers=headers)


def _identify(authenticator: Authenticator, request: web.Request) -> None:
    """Store a Principal or the refusal reason on the request; never answers by itself
    (see the module docstring): the rate limiter counts first, ``_authorize`` answers."""
    try:
        principal = authenticator.authenticate_headers(request.headers)
    except AuthError as exc:
        request[AUTH_ERROR_KEY] = exc.detail
        log.debug("credentials refused: %s", exc.detail)  # the reason, never the credential
    else:
        if principal is not None:
            request[PRINCIPAL_KEY] = principal


def _rate_limited(limiter: RateLimiter, request: web.Request) -> web.Response | None:
    """Count the request (per principal, else per client address); a 429 when over."""
    principal = request.get(PRINCIPAL_KEY)
    if principal is not None and principal.role in limiter.exempt_roles:
        return None  # trusted operators (an attached console) go free
    identity = principal.rate_key if principal is not None else f"ip:{request.remote}"
    result = limiter.hit(request.method, request.path, identity)
    request[RATE_LIMIT_KEY] = result
    if not result.allowed:
        return error_response(429, result.detail)  # headers added at prepare time
    return None


def _authorize(request: web.Request) -> None:
    """Enforce the matched route's minimum role: 401 without valid credentials, 403 if too
    low. Unknown routes and methods pass, to 404/405."""
    match_info = request.match_info
    if match_info.http_exception is not None:
        return
    spec = spec_of(match_info.handler)
    required = spec.role if spec is not None else _UNSET_ROLE
    refused = request.get(AUTH_ERROR_KEY)
    if refused is not None:
        raise ApiError(401, refused, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if required is None:
        return
    principal = request.get(PRINCIPAL_KEY)
    if principal is None:
        raise ApiError(
            401,
            "authentication required: send 'Authorization: Bearer <token>' or 'X-API-Key'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not role_at_least(principal.role, required):
        raise ApiError(403, f"requires role {required}; you have {principal.role}")


def pipeline_middleware(authenticator: Authenticator, limiter: RateLimiter) -> Middleware:
    """The whole pipeline (request id -> errors -> authenticate -> rate limit -> authorize)
    as one middleware: aiohttp wraps each middleware in its own coroutine and partial, which
    showed up as a tenth of a small request's cost in profiles. Order and checks are the
    module docstring's."""
    limit = limiter.enabled

    @web.middleware
    async def pipeline(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.fullmatch(incoming) else _next_request_id()
        request[REQUEST_ID_KEY] = request_id
        token = request_id_var.set(request_id)
        try:
            return await _guarded(request, handler)
        finally:
            request_id_var.reset(token)

    async def _guarded(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            _identify(authenticator, request)
            if limit:
                refused = _rate_limited(limiter, request)
                if refused is not None:
                    return refused
            _authorize(request)
            return await handler(request)
        except Exception as exc:  # every error becomes {"detail": ...}
            return _error_response(request, exc)

    return pipeline


async def add_response_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: request id and rate-limit headers on every response."""
    request_id = request.get(REQUEST_ID_KEY)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    result = request.get(RATE_LIMIT_KEY)
    if result is not None:
        response.headers.update(result.headers())


def build_middlewares(authenticator: Authenticator, limiter: RateLimiter) -> list[Middleware]:
    """The pipeline: one middleware (the rate limiter is skipped entirely when disabled)."""
    return [pipeline_middleware(authenticator, limiter)]
