"""Requests aiohttp cannot parse: a JSON ``{"detail"}`` naming the problem, never its bytes.

Why: aiohttp answers an unparseable request (a header over 8,190 bytes, a bad request line)
with a plain-text 400 that repeats the first ~100 bytes of the offending line, and logs the
same text. For an over-long ``Authorization`` header those bytes are the start of the
caller's credential, which then sat in the response and in the log (issue 11). Here the
answer and the log line say *what* was wrong (by the error's kind) and never echo input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec
from aiohttp import web, web_protocol
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    ContentLengthError,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    PayloadEncodingError,
    TransferEncodingError,
)

REASONS: Final[tuple[tuple[type[BaseException], str], ...]] = (
    (LineTooLong, "a request line or header is longer than the server accepts (8190 bytes)"),
    (BadHttpMethod, "the request method is not valid HTTP"),
    (BadStatusLine, "the request line is not valid HTTP"),
    (InvalidURLError, "the request target is not a valid URL"),
    (InvalidHeader, "a request header is malformed"),
    (ContentLengthError, "the request body does not match its Content-Length"),
    (TransferEncodingError, "the request's transfer encoding is malformed"),
    (PayloadEncodingError, "the request body's encoding is malformed"),
)


def reason_of(exc: BaseException | None) -> str:
    """A fixed description of a parse error by its kind (no request bytes in it)."""
    for kind, reason in REASONS:
        if isinstance(exc, kind):
            return reason
    return "the request could not be parsed as HTTP"


def safe_handle_error(handler: Any, request: web.BaseRequest, status: int = 500,
                      exc: BaseException | None = None, message: str | None = None
                      ) -> web.StreamResponse:
    """Replacement for ``RequestHandler.handle_error`` (aiohttp's error path for requests it
    could not parse or handle before any route ran)."""
    if isinstance(exc, HttpProcessingError):
        detail = reason_of(exc)
        handler.logger.info("bad request from %s answered %s: %s", request.remote, status,
                            detail)
    else:
        detail = "internal error" if status >= 500 else reason_of(exc)
        handler.log_exception("error handling a request from %s", request.remote,
                              exc_info=exc)
    if request.writer.output_size > 0:
        raise ConnectionError("response already started; cannot send the error")
    response = web.Response(status=status, body=msgspec.json.encode({"detail": detail}),
                            content_type="application/json")
    response.force_close()
    return response


class SafeRequestHandler(web_protocol.RequestHandler):
    """aiohttp's per-connection protocol, answering parse errors with ``safe_handle_error``."""

    __slots__ = ()

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None
                     ) -> web.StreamResponse:
        return safe_handle_error(self, request, status, exc, message)


def handler_factory(server: web.Server) -> Callable[[], web_protocol.RequestHandler]:
    """A protocol factory like ``server`` itself (``web.Server.__call__``), making
    ``SafeRequestHandler``s with the server's own handler arguments."""
    def make() -> web_protocol.RequestHandler:
        return SafeRequestHandler(server, loop=server._loop, **server._kwargs)
    return make
