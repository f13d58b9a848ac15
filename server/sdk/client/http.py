"""The HTTP transport under every resource: one aiohttp session, auth, retries, errors.

Retry policy (why it is safe):

- 429 is retried for every method, after the server's ``Retry-After`` (or the backoff if
  longer): the rate limiter refuses *before* the handler runs, so nothing happened yet.
- 5xx, timeouts and broken connections are retried only for idempotent calls (GET, PUT,
  DELETE, or a POST the caller marks ``idempotent=True``, e.g. a create with an
  idempotency key): for anything else the first attempt may have taken effect.
- Backoff is exponential with full jitter, capped; a Retry-After longer than
  ``max_retry_wait`` is not waited out but raised as ``RateLimited``.

Errors become the typed exceptions of ``server.client.errors``. Credentials travel in the
``Authorization`` header only; log lines name the method, path and status, nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import msgspec

from switchboard.server.sdk.client.credentials import Credentials
from switchboard.server.sdk.client.errors import (
    ApiError,
    RateLimit,
    RateLimited,
    ServerError,
    TransportError,
    error_for,
)

log = logging.getLogger("switchboard.client")

T = TypeVar("T")

API_PREFIX = "/api/v1"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})

_encode = msgspec.json.Encoder().encode
_decode_any = msgspec.json.Decoder().decode


class _ErrorBody(msgspec.Struct):
    detail: Any = None


_decode_error = msgspec.json.Decoder(_ErrorBody).decode


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry; ``max_retries=0`` turns retries off."""

    max_retries: int = 3
    backoff: float = 0.25
    max_backoff: float = 10.0
    max_retry_wait: float = 60.0

    def delay(self, attempt: int) -> float:
        """Full-jitter exponential backoff for retry number ``attempt`` (from 0)."""
        return random.uniform(0, min(self.max_backoff, self.backoff * (2 ** attempt)))


def normalize_base_url(base_url: str) -> str:
    """``http://h:8000`` -> ``http://h:8000/api/v1``; an explicit path is kept as given.

    Seeds 001 and 003 show other bases (``.../v1``, the root); a server of theirs keeps
    working because only a bare host gets the ``/api/v1`` default.
    """
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"base_url must start with http:// or https:// (got {base_url!r})")
    path = parts.path.rstrip("/")
    if not path:
        path = API_PREFIX
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class Response(msgspec.Struct):
    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        return _decode_any(self.body) if self.body else None


class Transport:
    """Sends requests to one server; owns (or borrows) an ``aiohttp.ClientSession``."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        connection_limit: int = 100,
        user_agent: str = "switchboard-client/0.1",
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.credentials = credentials
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._session = session
        self._owns_session = session is None
        self._connection_limit = connection_limit
        self._user_agent = user_agent
        self.last_rate_limit: RateLimit | None = None

    def __repr__(self) -> str:
        return f"Transport({self.base_url!r})"

    # -- session ----------------------------------------------------------------------
    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connection_limit,
                                               keepalive_timeout=30),
                headers={"User-Agent": self._user_agent},
            )
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()
        self._session = None

    def auth_headers(self) -> dict[str, str]:
        if self.credentials is None:
            return {}
        return {"Authorization": f"Bearer {self.credentials.bearer()}"}

    def url(self, path: str) -> str:
        return self.base_url + path

    def ws_url(self, path: str) -> str:
        parts = urlsplit(self.url(path))
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path, "", ""))

    # -- requests ---------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Response:
        """Send one request (with the retry policy); 2xx -> Response, else a typed error."""
        policy = retry or self.retry
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        attempt = 0
        while True:
            try:
                response = await self._send(method, path, json=json, params=params,
                                             timeout=timeout, headers=headers)
            except TransportError:
                if not safe or attempt >= policy.max_retries:
                    raise
                await asyncio.sleep(policy.delay(attempt))
                attempt += 1
                continue
            if response.status < 400:
                return response
            error = self._error(method, path, response)
            wait = self._retry_wait(error, safe, attempt, policy)
            if wait is None:
                raise error
            log.debug("retrying %s %s after %s in %.2fs", method, path, response.status, wait)
            await asyncio.sleep(wait)
            attempt += 1

    async def request_as(self, type_: type[T], method: str, path: str, **kwargs: Any) -> T:
        """``request`` and decode the JSON body straight into ``type_``."""
        response = await self.request(method, path, **kwargs)
        return msgspec.json.decode(response.body, type=type_)

    async def _send(self, method: str, path: str, *, json: Any, params: Mapping[str, Any] | None,
                    timeout: float | None, headers: Mapping[str, str] | None) -> Response:
        send_headers = self.auth_headers()
        data = None
        if json is not None:
            data = _encode(json)
            send_headers["Content-Type"] = "application/json"
        if headers:
            send_headers.update(headers)
        try:
            async with self.session.request(
                method, self.url(path), data=data, params=_clean_params(params),
                headers=send_headers,
                timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
            ) as resp:
                body = await resp.read()
                result = Response(resp.status, body, resp.headers)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise TransportError(f"{method} {path}: {type(exc).__name__}: {exc}",
                                 method=method, path=path) from exc
        limit = RateLimit.from_headers(result.headers)
        if limit is not None:
            self.last_rate_limit = limit
        return result

    @staticmethod
    def _error(method: str, path: str, response: Response) -> ApiError:
        detail: Any = None
        body: Any = None
        if response.body:
            try:
                body = _decode_any(response.body)
                detail = _decode_error(response.body).detail
            except (msgspec.DecodeError, msgspec.ValidationError):
                detail = response.body[:500].decode(errors="replace")
        if not isinstance(detail, str):
            detail = str(detail) if detail is not None else f"HTTP {response.status}"
        return error_for(response.status, detail, method=method, path=path,
                         headers=response.headers, body=body)

    @staticmethod
    def _retry_wait(error: ApiError, safe: bool, attempt: int, policy: RetryPolicy) -> float | None:
        """Seconds to wait before retrying, or None to raise ``error`` now."""
        if attempt >= policy.max_retries:
            return None
        if isinstance(error, RateLimited):
            retry_after = error.retry_after
            if retry_after is not None and retry_after > policy.max_retry_wait:
                return None
            return max(retry_after or 0.0, policy.delay(attempt))
        if isinstance(error, ServerError) and safe and error.status in RETRY_STATUSES:
            return policy.delay(attempt)
        return None


def _clean_params(params: Mapping[str, Any] | None) -> list[tuple[str, str]] | None:
    """Drop None values, render bools as true/false and repeat list values."""
    if not params:
        return None
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if isinstance(item, bool):
                out.append((key, "true" if item else "false"))
            elif isinstance(item, datetime):
                out.append((key, item.isoformat()))
            else:
                out.append((key, str(item)))
    return out
