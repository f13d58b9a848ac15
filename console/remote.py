"""``RemoteBackend``: the console's ``Backend`` over a Switchboard server, through the SDK.

Why it is thin: the server serves what the screens show as operator views (``/views/...``,
computed by the engine) and the SDK decodes every answer into the wire contract's records,
which the ``Backend`` interface carries. So each method is one SDK call, one request.

The live stream is the SDK's resuming SSE stream: it reconnects with ``Last-Event-ID``, so a
dropped connection or a server restart replays exactly what was missed. Its connection
changes become empty ``StreamItem``s: CONNECTED, RECONNECTING while retrying, DISCONNECTED
once retrying has failed for ``disconnected_after`` seconds (it keeps trying) or when the
server refuses the credential (the stream then ends with a ``BackendError``). The credential
lives only inside the SDK's transport (never in a URL, a log line or a repr).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import jwt

from switchboard.console.backend import (
    MAX_LIST,
    Backend,
    BackendError,
    Capabilities,
    ConnectionState,
    DecisionResult,
    StreamItem,
    TaskView,
)
from switchboard.server import contract as c
from switchboard.server.sdk.client import (
    ApiError,
    AsyncClient,
    RateLimited,
    RetryPolicy,
    ServerError,
    TransportError,
)
from switchboard.server.sdk.client.credentials import StaticToken
from switchboard.server.sdk.client.resources.views import FindKind

log = logging.getLogger("switchboard.console.remote")

T = TypeVar("T")
SYNC_WAIT = 0.01  # run/resume answer at once; the screens follow the run by its events
_End = object()  # the backend was closed: the stream ends


def backend_error(exc: ApiError | TransportError, address: str) -> BackendError:
    """An SDK error as the console shows it: the server's words, status and field."""
    if isinstance(exc, TransportError):
        return BackendError(f"cannot reach {address}: {exc}", status=503)
    return BackendError(exc.detail, status=exc.status, field=exc.field)


def display_url(url: str) -> str:
    """The server URL as shown in the header: scheme, host and port, never user:password."""
    text = url.strip()
    parts = urlsplit(text if "://" in text else "http://" + text)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, host + (f":{parts.port}" if parts.port else ""),
                       "" if path == "/api/v1" else path, "", ""))


def subject_of(token: str) -> str | None:
    """The ``sub`` of a JWT, read without verifying it: only to label the operator (the
    server records decisions under the identity it verified itself)."""
    try:
        sub = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except jwt.PyJWTError:
        return None
    return sub if isinstance(sub, str) and sub else None


def decision_of(answer: c.Decision) -> DecisionResult:
    """The server's answer to approve/reject as a ``DecisionResult`` (``progress`` is sent
    for quorum approvals only)."""
    progress = answer.progress if isinstance(answer.progress, str) else ""
    return DecisionResult(answer.approval_id, str(answer.status), progress)


def _seg(value: str) -> str:
    """One path segment: ids come from what the operator typed, so quote everything."""
    if not value or not value.strip():
        raise BackendError("an id is required", status=404)
    return quote(value, safe="")


class RemoteBackend(Backend):
    """The backend of ``switchboard attach``. See the module docstring.

    ``backoff``/``max_backoff`` pace stream reconnects; ``read_timeout`` is how long a silent
    stream may stay quiet (the server pings every 15 s by default) before it counts as dead.
    """

    def __init__(self, url: str, token: str, *, timeout: float = 15.0, backoff: float = 0.2,
                 max_backoff: float = 5.0, read_timeout: float = 45.0,
                 disconnected_after: float = 30.0) -> None:
        super().__init__()
        self.address = display_url(url)
        self.actor_name = subject_of(token.strip()) or "console"
        self.capabilities = Capabilities(runs=True, embedded=False)
        self.read_timeout, self.disconnected_after = read_timeout, disconnected_after
        self.backoff, self.max_backoff = backoff, max_backoff
        self._client = AsyncClient(self.address + "/api/v1", token=token, timeout=timeout,
                                   retry=RetryPolicy(max_retries=2, backoff=0.2, max_backoff=1.0,
                                                     max_retry_wait=2.0))
        self._queues: set[asyncio.Queue[Any]] = set()
        self._closed = False

    def use_token(self, token: str) -> None:
        """Swap the credential (the console's "log in again", without restarting)."""
        self._client.transport.credentials = StaticToken(token)
        self.actor_name = subject_of(token.strip()) or "console"

    async def _call(self, coro: Awaitable[T]) -> T:
        try:
            return await coro
        except (ApiError, TransportError) as exc:
            raise backend_error(exc, self.address) from None

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Learn the stream position; refuse a bad credential (an unreachable server is not
        an error: the stream keeps trying and the header says so)."""
        try:
            self.last_seq = await self._call(self._client.events.position())
        except BackendError as exc:
            if exc.status in (401, 403):
                raise BackendError(f"{self.address} refused the token: {exc.detail}",
                                   status=exc.status) from None
            log.warning("attach: %s not ready yet (%s); the stream will keep trying",
                        self.address, exc.detail)

    async def close(self) -> None:
        self._closed = True
        self.state = ConnectionState.DISCONNECTED
        for queue in self._queues:
            queue.put_nowait(_End)
        await self._client.close()

    # -- reads: one SDK call each -------------------------------------------------------------
    async def overview(self) -> c.Overview:
        return await self._call(self._client.views.overview())

    async def tasks(self, view: TaskView) -> c.TaskViewPage:
        return await self._call(self._client.views.tasks(
            status=view.status, priority=view.priority, type=view.type, agent_id=view.agent_id,
            run_id=view.run_id, text=view.text, limit=view.limit))

    async def task(self, task_id: str) -> c.Task:
        return await self._call(self._client.tasks.get(_seg(task_id)))

    async def agents(self) -> list[c.Agent]:
        return list(await self._call(self._client.agents.list(limit=MAX_LIST)))

    async def agent(self, agent_id: str) -> c.Agent:
        return await self._call(self._client.agents.get(_seg(agent_id)))

    async def pending_approvals(self, *, mine: bool = False) -> list[c.Approval]:
        return await self._call(self._client.approvals.pending(assignee="me" if mine else None))

    async def approval_history(self, limit: int = 50) -> list[c.Approval]:
        return await self._call(self._client.approvals.history(max(1, min(limit, 1000))))

    async def approval(self, approval_id: str) -> c.Approval:
        return await self._call(self._client.approvals.get(_seg(approval_id)))

    async def recent_events(self, limit: int = 200, *, types: tuple[str, ...] = (),
                            run_id: str | None = None, task_id: str | None = None) -> list[c.Event]:
        page = await self._call(self._client.views.events(types=types, run_id=run_id,
                                                          task_id=task_id, limit=limit))
        return page.events

    async def runs(self, *, status: str | None = None, orchestration_id: str | None = None,
                   limit: int = MAX_LIST) -> list[c.Run]:
        return list(await self._call(self._client.runs.list(
            status=status, orchestration_id=orchestration_id, limit=min(limit, MAX_LIST))))

    async def run(self, run_id: str) -> c.Run:
        return await self._call(self._client.runs.get(_seg(run_id)))

    async def orchestrations(self) -> list[c.OrchestrationInfo]:
        return await self._call(self._client.views.orchestrations())

    async def find(self, kind: FindKind, text: str, *, limit: int = 10) -> c.IdMatches:
        return await self._call(self._client.views.find(kind, text, limit=limit))

    # -- actions: one SDK call each -----------------------------------------------------------
    async def approve(self, approval_id: str, *, response: Any = None) -> DecisionResult:
        return decision_of(await self._call(self._client.approvals.approve(_seg(approval_id),
                                                                           response)))

    async def reject(self, approval_id: str, *, reason: str | None = None) -> DecisionResult:
        return decision_of(await self._call(self._client.approvals.reject(_seg(approval_id),
                                                                          reason)))

    async def cancel_task(self, task_id: str, reason: str | None = None) -> None:
        await self._call(self._client.tasks.cancel(_seg(task_id), reason))

    async def retry_task(self, task_id: str) -> None:
        await self._call(self._client.tasks.retry(_seg(task_id)))

    async def set_task_priority(self, task_id: str, priority: str) -> None:
        await self._call(self._client.tasks.set_priority(_seg(task_id), priority))

    async def start_run(self, orchestration_id: str, message: str) -> str:
        result = await self._call(self._client.orchestrations.run(
            _seg(orchestration_id), message, wait=SYNC_WAIT))
        return result.run_id

    async def resume_run(self, run_id: str, response: Any) -> None:
        await self._call(self._client.runs.resume(_seg(run_id), response, wait=SYNC_WAIT))

    async def cancel_run(self, run_id: str) -> None:
        await self._call(self._client.runs.cancel(_seg(run_id)))

    async def retry_run(self, run_id: str) -> None:
        await self._call(self._client.runs.retry(_seg(run_id)))

    # -- live -------------------------------------------------------------------------------
    async def stream(self, after_seq: int | None = None, *, coalesce: float = 0.1
                     ) -> AsyncIterator[StreamItem]:
        """Events after ``after_seq`` (None: from now) in coalesced batches, with
        connection-state items; see the module docstring."""
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._queues.add(queue)
        reader = asyncio.create_task(self._read(after_seq, queue),
                                     name=f"switchboard-remote-stream {self.address}")
        delivered = after_seq if after_seq is not None else self.last_seq
        held: Any = None
        try:
            while True:
                item, held = (held if held is not None else await queue.get()), None
                if item is _End:
                    self.state = ConnectionState.DISCONNECTED
                    yield StreamItem([], self.state, delivered)
                    return
                if isinstance(item, BaseException):  # said as a state first, then raised
                    self.state = ConnectionState.DISCONNECTED
                    yield StreamItem([], self.state, delivered)
                    raise item
                if isinstance(item, ConnectionState):
                    if item != self.state:
                        self.state = item
                        yield StreamItem([], item, delivered)
                    continue
                batch: list[c.Event] = [item]
                if coalesce > 0:
                    await asyncio.sleep(coalesce)
                while not queue.empty():
                    item = queue.get_nowait()
                    if not isinstance(item, c.Event):
                        held = item  # a state change ends the batch; it follows it
                        break
                    batch.append(item)
                delivered = batch[-1].seq
                self.last_seq = max(self.last_seq, delivered)
                yield StreamItem(batch, self.state, delivered)
        finally:
            self._queues.discard(queue)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _read(self, after: int | None, queue: asyncio.Queue[Any]) -> None:
        """The SDK's resuming stream into ``queue``: events, connection states, and a
        ``BackendError`` when the server refuses us (a 4xx retrying cannot fix)."""
        loop = asyncio.get_running_loop()
        failing_since: float | None = None

        def on_state(connected: bool) -> None:
            nonlocal failing_since
            if connected:
                failing_since = None
                queue.put_nowait(ConnectionState.CONNECTED)
                return
            now = loop.time()
            failing_since = now if failing_since is None else failing_since
            queue.put_nowait(ConnectionState.DISCONNECTED
                             if now - failing_since >= self.disconnected_after
                             else ConnectionState.RECONNECTING)

        last = after
        try:
            while last is None:  # "from now": the server says where now is
                with contextlib.suppress(TransportError, ServerError, RateLimited):
                    last = await self._client.events.position()
                if last is None:
                    on_state(False)
                    await asyncio.sleep(self.max_backoff)
            async for event in self._client.events.stream(
                    last, reconnect_for=None, read_timeout=self.read_timeout,
                    backoff=self.backoff, max_backoff=self.max_backoff, on_state=on_state):
                if event.seq > last:  # a replay overlapping the last one: already delivered
                    last = event.seq
                    queue.put_nowait(event)
        except ApiError as exc:
            queue.put_nowait(BackendError(
                f"live updates from {self.address} stopped: {exc.detail}", status=exc.status))
        except Exception as exc:  # never vanish: the consumer raises it
            if not self._closed:
                log.exception("event stream reader failed")
                queue.put_nowait(exc)


__all__ = ["RemoteBackend", "backend_error", "display_url", "subject_of"]
