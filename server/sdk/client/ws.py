"""The WebSocket ``/api/v1/ws`` from the client side: auth, task claims, event channels.

Why workers claim here rather than by HTTP long-poll: one socket carries every slot's claim
(tagged with an ``id`` the server echoes), so an idle worker costs the server no request
parsing, and an assignment arrives as one frame. Replies are matched to requests by id;
events are routed to per-subscription queues. When the socket drops, every waiting request
fails with ``TransportError`` (the caller retries or falls back to HTTP) and subscriptions
made through ``subscribe`` resume after the last ``seq`` they delivered.

The token goes in the first message (``{"type": "auth", "token": ...}``), never in the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec

from switchboard.server.sdk.client.errors import ApiError, TransportError, Unauthorized
from switchboard.server.sdk.client.http import Transport

log = logging.getLogger("switchboard.client.ws")

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode

AUTH_TIMEOUT = 10.0


class WsError(ApiError):
    """The server answered a WebSocket request with ``{"type": "error", "detail": ...}``."""

    status = 400


class WebSocketConnection:
    """One authenticated socket. ``await connect()``, use it, ``await close()``.

    Not reconnecting by itself: owners (the Worker, ``subscribe``) decide what a lost
    connection means for them and open a new one.
    """

    def __init__(self, transport: Transport, *, heartbeat: float = 20.0) -> None:
        self.transport = transport
        self.heartbeat = heartbeat
        self.principal: dict[str, Any] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._channels: dict[str, asyncio.Queue[dict[str, Any] | None]] = {}
        self._ids = itertools.count(1)
        self.closed = asyncio.Event()

    @property
    def is_open(self) -> bool:
        return self._ws is not None and not self._ws.closed and not self.closed.is_set()

    async def connect(self) -> WebSocketConnection:
        """Open and authenticate; raises Unauthorized, NotFound-like ApiError or TransportError."""
        url = self.transport.ws_url("/ws")
        try:
            self._ws = await self.transport.session.ws_connect(
                url, heartbeat=self.heartbeat, timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                autoping=True)
        except aiohttp.WSServerHandshakeError as exc:
            raise ApiError(f"WebSocket handshake refused: {exc.message}", status=exc.status,
                           method="GET", path="/ws") from None
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise TransportError(f"WebSocket connect failed: {type(exc).__name__}: {exc}",
                                 method="GET", path="/ws") from exc
        credential = self.transport.credentials.bearer() if self.transport.credentials else ""
        await self._ws.send_str(_encode({"type": "auth", "token": credential}).decode())
        try:
            msg = await self._ws.receive(timeout=AUTH_TIMEOUT)
        except TimeoutError:
            await self._ws.close()
            raise TransportError("WebSocket auth timed out", method="GET", path="/ws") from None
        if msg.type is not aiohttp.WSMsgType.TEXT:
            reason = self._ws.close_code
            detail = (msg.extra or "") if isinstance(msg.extra, str) else ""
            await self._ws.close()
            if reason == aiohttp.WSCloseCode.POLICY_VIOLATION:
                raise Unauthorized(detail or "WebSocket authentication refused", method="GET",
                                   path="/ws")
            raise TransportError(f"WebSocket closed during auth ({reason})", method="GET",
                                 path="/ws")
        reply = _decode(msg.data)
        if reply.get("type") != "auth_ok":
            await self._ws.close()
            raise Unauthorized(str(reply.get("detail") or reply), method="GET", path="/ws")
        self.principal = reply
        self._reader = asyncio.create_task(self._read_loop(), name="switchboard-ws-reader")
        return self

    async def close(self) -> None:
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self._fail_all("WebSocket closed")

    async def __aenter__(self) -> WebSocketConnection:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- requests ---------------------------------------------------------------------
    async def request(self, message: dict[str, Any], *, timeout: float | None = None
                      ) -> dict[str, Any]:
        """Send a message tagged with a fresh id; return the reply carrying that id."""
        if not self.is_open or self._ws is None:
            raise TransportError("WebSocket is not connected", method="WS", path="/ws")
        message_id = f"c{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        try:
            await self._ws.send_str(_encode({**message, "id": message_id}).decode())
        except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
            self._pending.pop(message_id, None)
            raise TransportError(f"WebSocket send failed: {exc}", method="WS", path="/ws") from exc
        try:
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TransportError("WebSocket reply timed out", method="WS", path="/ws") from None
        finally:
            self._pending.pop(message_id, None)
        if reply.get("type") == "error":
            raise WsError(str(reply.get("detail")), method="WS", path="/ws")
        return reply

    async def claim(self, agent_id: str, wait: float = 20.0, *,
                    complete: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Claim the next task for ``agent_id``: the task dict (with ``lease_id``) or None.

        ``complete`` (``{"task_id", "lease_id", "result"}``) completes the slot's previous
        task in the same server-side commit as the claim (one round trip for both); a
        refusal of either raises ``WsError`` and nothing changed."""
        message: dict[str, Any] = {"type": "claim", "agent_id": agent_id, "wait": wait}
        if complete is not None:
            message["complete"] = complete
        reply = await self.request(message, timeout=wait + 15.0)
        if complete is not None and reply.get("completed") != complete["task_id"]:
            raise TransportError("the server did not acknowledge the completion sent with "
                                 "the claim", method="WS", path="/ws")
        task: dict[str, Any] | None = reply["task"] if reply.get("type") == "task_assigned" \
            else None
        return task

    async def ping(self, timeout: float = 5.0) -> None:
        await self.request({"type": "ping"}, timeout=timeout)

    async def subscribe_raw(self, channel: str, *, after: int | None = None,
                            **scope: Any) -> asyncio.Queue[dict[str, Any] | None]:
        """Subscribe; event messages for ``channel`` go to the returned queue (None = closed).

        One queue per channel name on this connection (subscribing again replaces it).
        """
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._channels[channel] = queue
        body = {"type": "subscribe", "channel": channel,
                **{k: v for k, v in scope.items() if v is not None}}
        if after is not None:
            body["after"] = after
        await self.request(body, timeout=10.0)
        return queue

    # -- reading ----------------------------------------------------------------------
    async def _read_loop(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                try:
                    data = _decode(msg.data)
                except msgspec.DecodeError:
                    continue
                message_id = data.get("id")
                if message_id is not None:
                    future = self._pending.get(str(message_id))
                    if future is not None and not future.done():
                        future.set_result(data)
                    continue
                channel = data.get("channel")
                if channel is not None and channel in self._channels:
                    self._channels[channel].put_nowait(data)
        except (aiohttp.ClientError, ConnectionError):
            pass
        finally:
            self.closed.set()
            self._fail_all("WebSocket connection lost")

    def _fail_all(self, reason: str) -> None:
        self.closed.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(TransportError(reason, method="WS", path="/ws"))
        self._pending.clear()
        for queue in self._channels.values():
            queue.put_nowait(None)


async def subscribe(transport: Transport, channel: str, *, after: int | None = None,
                    reconnect_for: float | None = 300.0, **scope: Any
                    ) -> AsyncIterator[dict[str, Any]]:
    """Event messages of one channel, across reconnects, resuming after the last ``seq``.

    ``after=None`` starts with new events only (from the bus position when called).
    """
    loop = asyncio.get_running_loop()
    last_seq = after if after is not None else await bus_position(transport)
    failing_since: float | None = None
    attempt = 0
    while True:
        conn = WebSocketConnection(transport)
        try:
            await conn.connect()
            queue = await conn.subscribe_raw(channel, after=last_seq, **scope)
            failing_since, attempt = None, 0
            while True:
                item = await queue.get()
                if item is None:
                    break
                if item.get("type") == "subscription_dropped":
                    last_seq = item.get("resume_after", last_seq)
                    break
                seq = item.get("seq")
                if isinstance(seq, int):
                    last_seq = seq
                yield item
        except (TransportError, WsError) as exc:
            log.debug("subscription %s: %s", channel, exc)
        finally:
            await conn.close()
        now = loop.time()
        failing_since = failing_since if failing_since is not None else now
        if reconnect_for is not None and now - failing_since > reconnect_for:
            raise TransportError(f"WebSocket subscription {channel}: no connection for "
                                 f"{reconnect_for:.0f} s", method="WS", path="/ws")
        await asyncio.sleep(min(5.0, 0.2 * (2 ** attempt)))
        attempt += 1


async def bus_position(transport: Transport) -> int:
    """The newest committed event seq (``last_seq`` of ``GET /events``)."""
    response = await transport.request("GET", "/events", params={"after": 0, "limit": 1})
    return int(response.json().get("last_seq", 0))
