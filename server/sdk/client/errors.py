"""Typed errors for API callers: one class per status family the seeds' table names.

Why typed: callers branch on *kind* (a 409 "lease lost" for a worker, a 404 for a watcher,
a 429 to slow down), and seed 003's own client shows what happens without it: string
matching on ``e.response.status_code``. Every error keeps the server's ``detail`` (the API
always answers ``{"detail": "..."}``), the status, the request id and the rate-limit headers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_FIELD_RE = re.compile(r"^([A-Za-z_][\w.\[\]-]*): ")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``X-RateLimit-*`` headers of a response (seed 003); None where the server sent none."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    retry_after: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimit | None:
        """Parse the headers; None if the response carried no rate-limit information."""
        limit = _number(headers.get("X-RateLimit-Limit"))
        remaining = _number(headers.get("X-RateLimit-Remaining"))
        reset = _number(headers.get("X-RateLimit-Reset"))
        retry = _number(headers.get("Retry-After"))
        if limit is None and remaining is None and reset is None and retry is None:
            return None
        return cls(
            limit=None if limit is None else int(limit),
            remaining=None if remaining is None else int(remaining),
            reset=reset,
            retry_after=retry,
        )


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP-date Retry-After: treated as absent, the backoff applies


class SwitchboardError(Exception):
    """Base of everything this client raises."""


class TransportError(SwitchboardError):
    """The server could not be reached or the connection broke before an answer.

    Whether the request took effect is unknown: callers retry idempotent operations only.
    """

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.path = path


class ApiError(SwitchboardError):
    """The server answered with an error status.

    ``detail`` is the server's message, ``status`` the HTTP status, ``rate_limit`` the
    ``X-RateLimit-*``/``Retry-After`` headers (None if absent) and ``request_id`` the
    ``X-Request-ID`` to quote when reporting a problem.
    """

    status: int = 0

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(f"{status or self.status} {method} {path}: {detail}".strip())
        if status is not None:
            self.status = status
        self.detail = detail
        self.method = method
        self.path = path
        self.headers: dict[str, str] = dict(headers or {})
        self.body = body
        self.rate_limit = RateLimit.from_headers(self.headers)
        self.request_id = self.headers.get("X-Request-ID")

    @property
    def field(self) -> str | None:
        """Which input the error is about: the body's ``field`` if the server sent one, else
        a 422 detail's leading ``field: `` (``response.replicas: must be at most 10``)."""
        field = self.body.get("field") if isinstance(self.body, dict) else None
        if isinstance(field, str):
            return field
        match = _FIELD_RE.match(self.detail) if self.status == 422 else None
        return match.group(1) if match else None


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    """401: missing, expired or invalid credentials."""

    status = 401


class Forbidden(ApiError):
    """403: authenticated, but the role is too low (seed 003: admin > agent > user)."""

    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    """409: the state does not allow it (task already final, lease lost, already decided)."""

    status = 409


class InvalidRequest(BadRequest):
    """400 (422 from older servers): the body or query failed validation; ``detail`` names
    the field (``field`` in the body, when the server sends it)."""

    status = 400

    @property
    def field(self) -> str | None:
        value = self.body.get("field") if isinstance(self.body, dict) else None
        return value if isinstance(value, str) else None


class RateLimited(ApiError):
    """429: over the limit. ``retry_after`` is the server's Retry-After in seconds (or None)."""

    status = 429

    @property
    def retry_after(self) -> float | None:
        return self.rate_limit.retry_after if self.rate_limit else None


class ServerError(ApiError):
    """5xx: the server failed (or is unavailable); safe to retry only if idempotent."""

    status = 500


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: InvalidRequest,
    429: RateLimited,
}


def error_for(
    status: int,
    detail: str,
    *,
    method: str = "",
    path: str = "",
    headers: Mapping[str, str] | None = None,
    body: Any = None,
) -> ApiError:
    """The typed exception for an error response."""
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return cls(detail, status=status, method=method, path=path, headers=headers, body=body)
