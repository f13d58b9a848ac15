"""WebSocket ``/api/v1/ws`` (seed 001): live events by channel, and task claims for workers.

Why authentication happens in-band: browsers cannot set headers on a WebSocket, and a
token in the URL would end up in access logs. So the route is public at the HTTP level and
the first message must be ``{"type": "auth", "token": ...}`` within 5 s, else the socket
closes with 1008 (policy violation), as it does for a bad token.

Each subscription is its own bus subscription with its own pump task, so channels can be
added, replayed (``after``) and removed independently. Claims run as tasks too, so a worker
waiting 30 s for work still gets its events and can send other messages meanwhile.
A claim cancelled by the socket closing, or whose reply cannot be delivered, hands its
task straight back (the engine's rule), so nothing waits for a lease to run out.

HTTP rate limits count requests; a socket is one request carrying any number of messages,
so each connection has its own message budget (``[server] ws_messages_per_second`` and
``ws_message_burst``, generous enough for a busy worker's claims): a message over it gets an
error reply and is not acted on, and a client that goes on flooding is closed with 1008.

The message protocol is documented in ``server.ws_protocol``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web
from msgspec import UNSET, UnsetType
from pydantic import BaseModel, ValidationError

from switchboard.engine.actors import Actor
from switchboard.engine.engine import Engine
from switchboard.engine.errors import EngineError
from switchboard.engine.events import DROPPED, Subscription
from switchboard.server import convert
from switchboard.server.app_keys import AUTH_KEY, CONFIG_KEY, ENGINE_KEY
from switchboard.server.auth import Authenticator, AuthError, Principal
from switchboard.server.contract.common import Record
from switchboard.server.contract.ws import (
    WsAuthOk,
    WsDropped,
    WsError,
    WsNoTask,
    WsPong,
    WsSubscribed,
    WsTaskAssigned,
    WsUnsubscribed,
)
from switchboard.server.errors import format_errors
from switchboard.server.jsonio import encode_json
from switchboard.server.routing import RouteTable
from switchboard.server.streams import track_stream
from switchboard.server.ws_protocol import (
    AUTH_TIMEOUT_SECONDS,
    CANONICAL,
    MAX_PENDING_CLAIMS,
    MAX_SUBSCRIPTIONS,
    AuthMessage,
    ClaimMessage,
    PingMessage,
    SubscribeMessage,
    UnsubscribeMessage,
    WsDialect,
    channel_filter,
    check_scope,
    subscription_key,
)

routes = RouteTable(tag="websocket")
log = logging.getLogger("switchboard.server.ws")

HEARTBEAT_SECONDS = 30.0
CLOSE_TIMEOUT_SECONDS = 5.0
"""How long a close waits for the client's close frame before dropping the connection."""
SHUTDOWN_CLOSE_SECONDS = 1.0
SUBSCRIPTION_MAX_BUFFER = 10_000

_decode = msgspec.json.Decoder().decode


class MessageBudget:
    """A token bucket per connection: ``rate`` messages/s, up to ``burst`` at once.

    Refusals are counted in a second, leaky counter that drains at ``rate`` per second and is
    never reset by an allowed message. Why: a flooder sending faster than ``rate`` still gets
    a message through each time the bucket refills a token; counting refusals "in a row"
    reset at each of those, so a 20,000-message flood never reached the close (issue 11).
    A client briefly over the limit collects a few strikes that drain away; one that keeps
    sending past its refusals passes ``burst`` strikes and is closed with 1008.
    """

    __slots__ = ("_strikes", "_tokens", "_updated", "burst", "rate")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._strikes = 0.0
        self._updated = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        elapsed = now - self._updated
        self._updated = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._strikes = max(0.0, self._strikes - elapsed * self.rate)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self._strikes += 1.0
        return False

    @property
    def refused(self) -> int:
        """Refusals not yet drained away (for logs and tests)."""
        return int(self._strikes)

    @property
    def flooding(self) -> bool:
        """More refusals outstanding than the burst allows: the client is not listening."""
        return self._strikes > self.burst


class _Refused(Exception):
    """A client message that gets an error reply; the socket stays open."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@routes.get("/ws", role=None, status=101, operation_id="websocket",
            summary="WebSocket: live events and task claims",
            responses={101: "Switching Protocols; then the message protocol described above"})
async def websocket(request: web.Request) -> web.StreamResponse:
    """Seed 001's real-time API. Authenticate in-band, then subscribe to channels.

    First message ``{"type":"auth","token":"<JWT or API key>"}`` within 5 s (else close
    1008), answered by ``{"type":"auth_ok","role":...,"subject":...}``. Then
    ``{"type":"subscribe","channel":C}`` with C one of agent_events (optional agent_id),
    task_events, approval_events, system_events, run_events (optional run_id), all_events;
    optional ``"after": SEQ`` replays missed events first. Events arrive as
    ``{"type": T, "payload": {...}, "seq": N, "timestamp": ...}`` with T one of
    agent_status_change, task_update, task_completed, task_failed, approval_requested,
    approval_decided, system_alert, run_event. Workers (role agent) send
    ``{"type":"claim","agent_id":...,"wait":<=30}`` and get ``task_assigned`` or ``no_task``;
    the agent id must be the caller's (else an ``error`` naming the owner problem), as for
    ``POST /tasks/claim``.
    """
    return await serve_websocket(request, CANONICAL)


async def serve_websocket(request: web.Request, dialect: WsDialect) -> web.StreamResponse:
    """Run one WebSocket connection speaking ``dialect`` (its channels and words)."""
    config = request.app[CONFIG_KEY]
    ws = web.WebSocketResponse(
        heartbeat=HEARTBEAT_SECONDS,
        max_msg_size=config.server.ws_max_message_bytes,
        timeout=CLOSE_TIMEOUT_SECONDS,
    )
    await ws.prepare(request)
    budget = MessageBudget(config.server.ws_messages_per_second, config.server.ws_message_burst)
    session = WsSession(ws, request.app[ENGINE_KEY], budget, dialect)
    if not track_stream(request, session):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
        return ws
    try:
        await session.run(request.app[AUTH_KEY])
    finally:
        await session.cleanup()
    return ws


class WsSession:
    """One connection: its principal, subscriptions and pending claims."""

    def __init__(self, ws: web.WebSocketResponse, engine: Engine,
                 budget: MessageBudget | None = None, dialect: WsDialect = CANONICAL) -> None:
        self.ws = ws
        self.dialect = dialect
        self.engine = engine
        self.budget = budget
        self.principal: Principal | None = None
        self._send_lock = asyncio.Lock()
        self._subs: dict[tuple[Any, ...], tuple[Subscription, asyncio.Task[None]]] = {}
        self._claims: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------
    async def run(self, authenticator: Authenticator) -> None:
        """Authenticate, then serve messages until the client or the server closes."""
        if not await self._authenticate(authenticator):
            return
        async for msg in self.ws:
            if self.budget is not None and not self.budget.allow():
                if self.budget.flooding:
                    await self._policy_close("message rate limit exceeded")
                    return
                await self._error(f"rate limited: more than {self.budget.rate:g} messages/s "
                                  "on this connection; slow down (the message was ignored)")
                continue
            if msg.type is WSMsgType.TEXT:
                await self._handle_text(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await self._error("binary frames are not supported; send JSON text")
            else:  # ERROR (too big, protocol error): aiohttp has closed the socket
                break

    async def _authenticate(self, authenticator: Authenticator) -> bool:
        try:
            msg = await self.ws.receive(timeout=AUTH_TIMEOUT_SECONDS)
        except TimeoutError:
            await self._policy_close("authentication timeout: send {\"type\":\"auth\"} first")
            return False
        if msg.type is not WSMsgType.TEXT:
            if msg.type is WSMsgType.BINARY:
                await self._policy_close("first message must be a JSON auth message")
            return False
        try:
            auth = AuthMessage.model_validate(_decode(msg.data), strict=True)
        except (msgspec.DecodeError, ValidationError):
            await self._policy_close('first message must be {"type":"auth","token":...}')
            return False
        try:
            self.principal = authenticator.authenticate(auth.token)
        except AuthError as exc:
            log.info("websocket authentication refused: %s", exc.detail)  # never the token
            await self._policy_close(f"authentication failed: {exc.detail}")
            return False
        await self.send(WsAuthOk(role=self.principal.role, subject=self.principal.subject,
                                 id=_echo(auth.id)))
        return True

    async def _policy_close(self, reason: str) -> None:
        # a close reason is limited to 123 bytes by the protocol
        await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=reason.encode()[:123])

    async def shutdown(self) -> None:
        """``server.streams`` hook: close with 1001 going away, bounded."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down"),
                SHUTDOWN_CLOSE_SECONDS,
            )

    async def cleanup(self) -> None:
        """Stop pumps and claims and release subscriptions, however the socket ended."""
        tasks = [task for _, task in self._subs.values()] + list(self._claims)
        for sub, _ in self._subs.values():
            sub.close()
        self._subs.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if not self.ws.closed:
            with contextlib.suppress(Exception):
                await self.ws.close()

    # -- sending -----------------------------------------------------------------------
    async def send(self, message: Record) -> None:
        """Send one JSON message; serialised so frames from pumps and claims never interleave."""
        data = encode_json(message).decode()
        async with self._send_lock:
            await self.ws.send_str(data)

    async def _error(self, detail: str, message_id: Any = None) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.send(WsError(detail=detail, id=_echo(message_id)))

    # -- dispatch ----------------------------------------------------------------------
    async def _handle_text(self, text: str) -> None:
        try:
            data = _decode(text)
        except msgspec.DecodeError:
            await self._error("message is not valid JSON")
            return
        if not isinstance(data, dict):
            await self._error("message must be a JSON object with a \"type\"")
            return
        kind = data.get("type")
        message_id = data.get("id")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            known = ", ".join(sorted(self._handlers))
            await self._error(f"unknown message type {kind!r}; expected one of: {known}",
                              message_id)
            return
        model, method = handler
        try:
            parsed = model.model_validate(data, strict=True)
            await method(self, parsed)
        except ValidationError as exc:
            await self._error(format_errors(exc.errors(include_url=False, include_input=False)),
                              message_id)
        except _Refused as exc:
            await self._error(exc.detail, message_id)
        except (ConnectionError, RuntimeError):
            return  # the socket is gone; the read loop ends by itself

    async def _on_auth(self, msg: AuthMessage) -> None:
        raise _Refused("already authenticated")

    async def _on_ping(self, msg: PingMessage) -> None:
        await self.send(WsPong(id=_echo(msg.id)))

    async def _on_subscribe(self, msg: SubscribeMessage) -> None:
        channels = self.dialect.channels
        channel = channels.get(msg.channel)
        if channel is None:
            raise _Refused(f"unknown channel {msg.channel!r}; expected one of: "
                           + ", ".join(channels))
        scope = msg.scope()
        problem = check_scope(channel, scope)
        if problem:
            raise _Refused(problem)
        key = subscription_key(channel.name, scope)
        self._drop(key)  # subscribing again replaces (e.g. to replay from a new seq)
        if len(self._subs) >= MAX_SUBSCRIPTIONS:
            raise _Refused(f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection")
        limits = self.engine.config.server
        sub = await self.engine.bus.subscribe(
            msg.after, channel_filter(channel, scope),
            max_buffer=min(SUBSCRIPTION_MAX_BUFFER, limits.stream_buffer_events),
            max_bytes=limits.stream_buffer_bytes)
        # registered before the reply, started after it: "subscribed" precedes any event
        try:
            await self.send(WsSubscribed(channel=channel.name, filter=scope, id=_echo(msg.id)))
        except BaseException:
            sub.close()
            raise
        task = asyncio.create_task(self._pump(key, channel.name, channel.accepts, sub),
                                   name=f"ws-pump-{channel.name}")
        self._subs[key] = (sub, task)

    async def _on_unsubscribe(self, msg: UnsubscribeMessage) -> None:
        if msg.channel not in self.dialect.channels:
            raise _Refused(f"unknown channel {msg.channel!r}")
        scope = {k: v for k, v in msg.model_dump(include={"agent_id", "task_id", "run_id",
                                                          "types"}).items() if v is not None}
        if scope:
            keys = [subscription_key(msg.channel, scope)]
        else:  # without a scope: every subscription of that channel
            keys = [k for k in self._subs if k[0] == msg.channel]
        removed = sum(1 for key in keys if self._drop(key))
        await self.send(WsUnsubscribed(channel=msg.channel, count=removed, id=_echo(msg.id)))

    async def _on_claim(self, msg: ClaimMessage) -> None:
        assert self.principal is not None
        if not self.principal.at_least("agent"):
            raise _Refused(f"claim requires role agent; you have {self.principal.role}")
        if len(self._claims) >= MAX_PENDING_CLAIMS:
            raise _Refused(f"at most {MAX_PENDING_CLAIMS} claims may wait at once")
        task = asyncio.create_task(self._claim(msg), name="ws-claim")
        self._claims.add(task)
        task.add_done_callback(self._claims.discard)

    _handlers: dict[str, tuple[type[BaseModel], Any]] = {
        "auth": (AuthMessage, _on_auth),
        "ping": (PingMessage, _on_ping),
        "subscribe": (SubscribeMessage, _on_subscribe),
        "unsubscribe": (UnsubscribeMessage, _on_unsubscribe),
        "claim": (ClaimMessage, _on_claim),
    }

    # -- background work ---------------------------------------------------------------
    def _drop(self, key: tuple[Any, ...]) -> bool:
        entry = self._subs.pop(key, None)
        if entry is None:
            return False
        sub, task = entry
        sub.close()
        task.cancel()
        return True

    async def _pump(self, key: tuple[Any, ...], channel: str, accepts: Any,
                    sub: Subscription) -> None:
        """Forward one subscription's events until it closes, is dropped, or the socket ends."""
        try:
            async for event in sub:
                if event.event_type == DROPPED:
                    self._subs.pop(key, None)
                    await self.send(WsDropped(channel=channel,
                                              resume_after=event.payload.get("resume_after")))
                    return
                if accepts is not None and not accepts(event.event_type):
                    continue
                await self.send(self.dialect.render(channel, event))
        except (ConnectionError, RuntimeError):
            pass  # the socket closed under us; cleanup() releases the rest
        finally:
            sub.close()

    def actor(self) -> Actor:
        """The authenticated principal as the engine records it (claims check ownership)."""
        assert self.principal is not None
        return Actor(self.principal.subject, self.principal.role, self.principal.kind)

    async def _claim(self, msg: ClaimMessage) -> None:
        done = msg.complete
        completed: str | UnsetType = UNSET
        try:
            if done is None:
                task = await self.engine.tasks.claim(msg.agent_id, wait=msg.wait,
                                                     actor=self.actor())
            else:
                finished, task = await self.engine.tasks.complete_and_claim(
                    done.task_id, done.result, lease_id=done.lease_id, agent_id=msg.agent_id,
                    actor=self.actor())  # answers at once: no long poll behind a report
                completed = finished.id
        except EngineError as exc:
            await self._error(exc.detail, msg.id)
            return
        try:
            if task is None:
                await self.send(WsNoTask(agent_id=msg.agent_id, completed=completed,
                                         id=_echo(msg.id)))
                return
            body = convert.task(task, self.engine.clock.now(), lease=True)
            await self.send(WsTaskAssigned(task=body, completed=completed, id=_echo(msg.id)))
        except (ConnectionError, RuntimeError):
            if task is not None and task.lease_id is not None:
                await self._hand_back_undelivered(task.id, task.lease_id)

    async def _hand_back_undelivered(self, task_id: str, lease_id: str) -> None:
        """The socket closed between the claim and its reply: nobody holds this lease, so
        requeue the task now rather than after the lease runs out."""
        try:
            await self.engine.tasks.release(task_id, lease_id)
            log.info("claimed task %s could not be delivered; handed back", task_id)
        except EngineError as exc:
            log.info("claimed task %s could not be delivered nor handed back (%s); its lease "
                     "will expire", task_id, exc.detail)


def _echo(message_id: Any) -> Any:
    """The client's message ``id`` to echo, so it can match the reply (unset: none sent)."""
    return UNSET if message_id is None else message_id
