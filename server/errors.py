"""Errors on the wire: every failure leaves the server as ``{"detail": "..."}`` (seed 003).

Why one module: handlers, middlewares and helpers must all agree on the shape of an error
and on the status each kind of failure gets, or clients (seed 003's ``OrchestratorClient``
branches on 401/429) break in the one place nobody tested.

Route code raises; it never builds error responses itself:

- ``raise ApiError(409, "task already completed")`` for an HTTP-level refusal;
- the engine's ``engine.errors`` classes (NotFound 404, Conflict 409, ValidationFailed 400,
  Forbidden 403) pass through handlers untouched and are mapped here;

Invalid input is 400, as every seed's status table says (seeds 001, 002 and 003; seed 000
has no table), with ``detail`` naming the field (``body.priority: ...``); an engine
``ValidationFailed`` also sends the field alone as ``field``.
- ``read_json``/``parse_query`` (``server.jsonio``) raise ``RequestValidationError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from aiohttp import web
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from switchboard.engine.errors import Conflict, EngineError, Forbidden, NotFound, ValidationFailed

_ENCODE = msgspec.json.Encoder().encode

# Engine error class -> HTTP status. Looked up along the MRO, so a subclass the engine adds
# later (say ``NotFound`` for runs) keeps its parent's status without touching this file.
ENGINE_STATUS: dict[type[EngineError], int] = {
    NotFound: 404,
    Conflict: 409,
    ValidationFailed: 400,
    Forbidden: 403,
}

MAX_REPORTED_ERRORS = 5
"""A body with 300 wrong fields gets the first few; the detail has to stay readable."""


class ApiError(Exception):
    """An HTTP error with a human ``detail``; the error middleware renders it as JSON.

    ``headers`` are added to the response (``WWW-Authenticate``, ``Retry-After``...).
    """

    def __init__(
        self, status: int, detail: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers: dict[str, str] = dict(headers or {})


class RequestValidationError(ApiError):
    """The request (body, query or path) failed validation; ``detail`` names the fields."""

    def __init__(self, detail: str, *, status: int = 400) -> None:
        super().__init__(status, detail)

    @property
    def field(self) -> str | None:
        """The first field ``detail`` names (``body.priority: ...`` -> ``body.priority``)."""
        match = _FIELD.match(self.detail)
        return match.group(1) if match else None


_FIELD = re.compile(r"^([A-Za-z_][\w.\[\]-]*): ")


def error_response(
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> web.Response:
    """The one error body the API ever sends: ``{"detail": ...}`` plus optional ``extra`` keys."""
    body: dict[str, Any] = {"detail": detail}
    if extra:
        body.update(extra)
    return web.Response(
        body=_ENCODE(body), status=status, content_type="application/json", headers=headers
    )


def engine_status(exc: EngineError) -> int:
    """HTTP status for an engine error: by class first, then the error's own ``status``."""
    for cls in type(exc).__mro__:
        if cls in ENGINE_STATUS:
            return ENGINE_STATUS[cls]  # type: ignore[index]
    status = getattr(exc, "status", 400)
    return status if isinstance(status, int) and 400 <= status < 600 else 400


def format_location(prefix: str, loc: Sequence[int | str]) -> str:
    """``("body", ("payload", 0, "x"))`` -> ``"body.payload[0].x"``; empty loc -> prefix."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out or "value"


def format_errors(errors: Sequence[ErrorDetails], prefix: str = "") -> str:
    """Pydantic errors as one line: ``"body.priority: Input should be ...; body.type: ..."``."""
    parts = [
        f"{format_location(prefix, err['loc'])}: {err['msg']}"
        for err in errors[:MAX_REPORTED_ERRORS]
    ]
    if len(errors) > MAX_REPORTED_ERRORS:
        parts.append(f"(and {len(errors) - MAX_REPORTED_ERRORS} more)")
    return "; ".join(parts)


def validation_detail(exc: ValidationError, prefix: str = "") -> str:
    """Detail text for a pydantic ``ValidationError``; ``prefix`` is body/query/path."""
    return format_errors(exc.errors(include_url=False, include_input=False), prefix)
