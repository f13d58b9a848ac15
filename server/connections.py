"""Connections: caps per client address and overall, a request-head timeout, and a 503 with
``Retry-After`` instead of tracebacks when the server is at capacity.

Why: 1,000 connections that never finished their headers were held forever (aiohttp's
keep-alive timer is an hour), and at the default 1,024 open files the API stopped answering
and wrote thousands of tracebacks (``accept()`` out of file descriptors). So:

- every connection is counted against ``[server] max_connections`` and, per client address,
  ``max_connections_per_client``; one over a cap is answered at once with a complete
  ``503`` (``Retry-After``, ``{"detail": ...}``) and closed, without reaching aiohttp;
- a new connection must deliver its first request head (the request line and headers) within
  ``header_timeout_seconds``, or it gets a ``408`` and is closed (slowloris);
- after that, aiohttp's keep-alive timer (``idle_timeout_seconds``) closes a connection that
  sends no complete request within that time of its previous response, which also bounds
  the head of every later request on it; ``server.jsonio`` bounds body reads
  (``body_timeout_seconds`` without progress -> 408);
- ``raise_open_file_limit`` lifts the soft RLIMIT_NOFILE to the hard limit at start, and the
  overall cap is lowered to fit under it (with a warning), so ``accept()`` never runs out.

How: a thin ``asyncio.Protocol`` in front of aiohttp's own ``RequestHandler`` (it forwards
every call), installed by ``GuardedTCPSite``. aiohttp offers no hook before a connection is
handed to its protocol, and a protocol in front is the one place that sees a connection
before any request exists. The defaults follow nginx's (60 s head and body, 75 s idle):
a phone on SSH tethering sends a request head in one or two round trips.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from aiohttp import web

from switchboard.server import parse_errors

log = logging.getLogger("switchboard.server.connections")

RESERVED_FILES: Final = 128
"""File descriptors kept free of connections: the database, its WAL, logs, definition files."""
LINGER_SECONDS: Final = 1.0
"""How long a refused connection is read (and discarded) after its 503, so closing it does not
reset the connection before the client has read the answer."""
MAX_LINGERING: Final = 512
"""Refused connections lingering at once; past that they are closed at once."""
_HEAD_END: Final = b"\r\n\r\n"


@dataclass
class ConnectionLimits:
    """The knobs, from ``[server]`` (see ``config.example.toml``)."""

    max_connections: int = 4096
    max_per_client: int = 512
    header_timeout: float = 60.0
    retry_after: int = 5

    @classmethod
    def from_config(cls, server: Any) -> ConnectionLimits:
        return cls(max_connections=server.max_connections,
                   max_per_client=server.max_connections_per_client,
                   header_timeout=server.header_timeout_seconds,
                   retry_after=server.busy_retry_after_seconds)


@dataclass
class ConnectionStats:
    """Counters since start (tests and figures read them)."""

    accepted: int = 0
    refused: int = 0
    head_timeouts: int = 0
    peak: int = 0


def _raw_response(status: str, detail: str, headers: dict[str, str] | None = None) -> bytes:
    body = msgspec.json.encode({"detail": detail})
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class ConnectionGuard:
    """Admission and head timeouts for one listening server; one per ``GuardedTCPSite``."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.active = 0
        self.per_client: dict[str, int] = {}
        self.lingering = 0
        self.stats = ConnectionStats()

    def protocol_factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _GuardedProtocol(self, inner)

    def admit(self, client: str) -> str | None:
        """Count the connection in, or return why it is refused."""
        if self.active >= self.limits.max_connections:
            return (f"server at capacity ({self.limits.max_connections} connections); "
                    f"retry in {self.limits.retry_after} s")
        held = self.per_client.get(client, 0)
        if held >= self.limits.max_per_client:
            return (f"too many connections from {client} ({self.limits.max_per_client}); "
                    f"retry in {self.limits.retry_after} s")
        self.per_client[client] = held + 1
        self.active += 1
        self.stats.accepted += 1
        self.stats.peak = max(self.stats.peak, self.active)
        return None

    def release(self, client: str) -> None:
        self.active -= 1
        left = self.per_client.get(client, 1) - 1
        if left > 0:
            self.per_client[client] = left
        else:
            self.per_client.pop(client, None)

    def busy_response(self, reason: str) -> bytes:
        return _raw_response("503 Service Unavailable", reason,
                             {"Retry-After": str(self.limits.retry_after)})

    def timeout_response(self) -> bytes:
        return _raw_response(
            "408 Request Timeout",
            f"request headers not received within {self.limits.header_timeout:g} s")


class _GuardedProtocol(asyncio.Protocol):
    """Forwards to aiohttp's protocol once admitted; answers alone when refused or too slow."""

    __slots__ = ("_client", "_guard", "_head_timer", "_inner", "_inner_factory", "_tail",
                 "_transport")

    def __init__(self, guard: ConnectionGuard, inner: Callable[[], asyncio.Protocol]) -> None:
        self._guard = guard
        self._inner_factory = inner
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._client = ""
        self._head_timer: asyncio.TimerHandle | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        refused = self._guard.admit(self._client)
        if refused is not None:
            self._refuse(transport, refused)
            return
        self._inner = self._inner_factory()
        self._head_timer = asyncio.get_running_loop().call_later(
            self._guard.limits.header_timeout, self._head_timeout)
        self._inner.connection_made(transport)

    def _refuse(self, transport: asyncio.Transport, reason: str) -> None:
        guard = self._guard
        guard.stats.refused += 1
        if guard.stats.refused in (1, 10, 100) or guard.stats.refused % 1000 == 0:
            log.warning("refused a connection from %s: %s (%d refused since start)",
                        self._client, reason, guard.stats.refused)
        transport.write(guard.busy_response(reason))
        if guard.lingering >= MAX_LINGERING or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()  # the answer and a FIN; read what the client still sends
        guard.lingering += 1
        self._head_timer = asyncio.get_running_loop().call_later(LINGER_SECONDS, transport.close)

    def _head_timeout(self) -> None:
        self._head_timer = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        stats = self._guard.stats
        stats.head_timeouts += 1
        if stats.head_timeouts in (1, 10, 100) or stats.head_timeouts % 1000 == 0:
            log.warning("closed a connection from %s that sent no complete request head within "
                        "%g s (%d since start)", self._client, self._guard.limits.header_timeout,
                        stats.head_timeouts)
        transport.write(self._guard.timeout_response())
        transport.close()

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return  # a refused connection: discard until it closes
        if self._head_timer is not None:
            seen = self._tail + data
            if _HEAD_END in seen:
                self._head_timer.cancel()
                self._head_timer = None
                self._tail = b""
            else:
                self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._inner is None:
            if self._transport is not None:
                self._transport.close()
            return None
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._transport = None
        if self._inner is None:
            self._guard.lingering = max(0, self._guard.lingering - 1)
            return
        self._guard.release(self._client)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


class GuardedTCPSite(web.TCPSite):
    """``web.TCPSite`` whose connections pass through a ``ConnectionGuard`` first.

    Overrides ``start`` only to wrap the protocol factory (TCPSite's own ``start`` passes
    ``runner.server`` straight to ``create_server``); everything else is TCPSite's.
    """

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *,
                 guard: ConnectionGuard) -> None:
        super().__init__(runner, host, port)
        self.guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            # parse errors answered without echoing request bytes (server.parse_errors)
            self.guard.protocol_factory(parse_errors.handler_factory(server)),
            self._host, self._port,
            backlog=self._backlog, reuse_address=self._reuse_address,
            reuse_port=self._reuse_port)


def raise_open_file_limit() -> tuple[int, int, int]:
    """Lift the soft RLIMIT_NOFILE to the hard limit; return (before, now, hard).

    Each connection is a file descriptor: the usual soft limit of 1,024 is reached by a few
    hundred slow clients, while the hard limit is typically far higher.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
            return soft, soft, hard
        return soft, target, hard
    return soft, soft, hard


def fit_limits(limits: ConnectionLimits, open_files: int) -> ConnectionLimits:
    """The limits with the overall cap lowered under the open-file limit if needed."""
    room = max(open_files - RESERVED_FILES, 16)
    if limits.max_connections <= room:
        return limits
    log.warning("[server] max_connections = %d does not fit under the open-file limit (%d); "
                "using %d. Raise the hard limit (ulimit -Hn, LimitNOFILE=) to allow more.",
                limits.max_connections, open_files, room)
    return ConnectionLimits(max_connections=room,
                            max_per_client=min(limits.max_per_client, room),
                            header_timeout=limits.header_timeout,
                            retry_after=limits.retry_after)
