"""``RemoteBackend``: the console's ``Backend`` over a Switchboard server's HTTP API.

Why it exists: ``switchboard attach URL --token ...`` runs the same screens against a server
in another process (or on another host). Screens must not be able to tell the two backends
apart, so every answer is decoded back into the engine's own records (``Task``, ``Agent``,
``Approval``, ``Run``, ``Event``; ISO timestamps -> epoch seconds) and every failure becomes a
``BackendError`` carrying the server's ``detail`` and status (409 stays 409, so the gate form
can say "decided elsewhere").

How it talks to the server:

- requests go through the project's own client transport (``server.client``): one aiohttp
  session, the credential in the ``Authorization`` header only (never in a URL, a log line or
  a repr), typed errors, retries of idempotent reads. Reads that the engine answers in one
  call but the API pages (tasks, runs, events) are assembled here with the same ordering rules
  as ``InProcessBackend``.
- the live stream is ``GET /api/v1/events/stream`` (SSE, ``id`` = event seq). A reader task
  (re)connects with ``Last-Event-ID`` = the last seq it received, so a dropped connection or a
  server restart replays exactly what was missed: no gap, no duplicate (a seq at or below the
  last one is dropped as a second guard). Connection state goes to the screens as empty
  ``StreamItem``s: CONNECTED on every successful connection, RECONNECTING while retrying with
  backoff, DISCONNECTED once retrying has failed for ``disconnected_after`` seconds (it keeps
  retrying) or when the server refuses the credential (the stream then ends with a
  ``BackendError``).

What the API does not carry, and so a remote record lacks: a task's ``lease_id``,
``claimed_principal`` (who holds it: an authorization detail) and ``available_at``, an
approval's ``allowed_users`` and ``timeout_response``, a run's
``visits`` and ``definition_version``. An agent's ``first_heartbeat`` and
``response_ms_total`` are rebuilt from its ``uptime`` and ``avg_response_time``. A task's
``agent_id`` is sent as "pinned agent or claimer"; it is read back as unpinned when it equals
``claimed_by`` (screens show ``claimed_by or agent_id``, the same either way).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp
import msgspec

from switchboard.console.backend import (
    Backend,
    BackendError,
    Capabilities,
    ConnectionState,
    NotAvailable,
    OrchestrationInfo,
    Overview,
    StreamItem,
    TaskPage,
    TaskView,
    _problem_text,
)
from switchboard.engine.clock import Clock, SystemClock, parse_iso
from switchboard.engine.events import DROPPED
from switchboard.engine.models import (
    PRIORITIES,
    RUN_STATUSES,
    TERMINAL_TASK_STATUSES,
    Agent,
    Approval,
    Event,
    Run,
    StepRecord,
    Task,
    TaskLog,
)
from switchboard.engine.orchestrations.definitions import DefinitionProblem
from switchboard.server.sdk.client import AsyncClient, RetryPolicy
from switchboard.server.sdk.client.credentials import StaticToken
from switchboard.server.sdk.client.errors import ApiError, RateLimited, TransportError
from switchboard.server.sdk.client.sse import iter_sse

log = logging.getLogger("switchboard.console.remote")

T = TypeVar("T")

ACTIVE_STATUSES = ("pending", "awaiting_approval", "assigned", "in_progress")
PAGE = 100  # the API's largest page for tasks, agents and runs
EVENT_PAGE = 1000  # ... and for events
SYNC_WAIT = 0.01  # run/resume answer at once; the screens follow the run by its events
FATAL_STREAM_STATUSES = frozenset({400, 401, 403, 404, 405, 410, 422})
_FIELD_RE = re.compile(r"^([A-Za-z_][\w.\[\]-]*): ")
_decode = msgspec.json.Decoder().decode


# -- JSON -> engine records -------------------------------------------------------------------

def _epoch(value: Any) -> float | None:
    """An API timestamp (ISO string, or already a number) as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return parse_iso(str(value))


def _with_epochs(data: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    out = dict(data)
    for key in keys:
        if key in out:
            out[key] = _epoch(out[key])
    return out


def _convert(data: Any, type_: type[T]) -> T:
    try:
        return msgspec.convert(data, type_)
    except (msgspec.ValidationError, TypeError, ValueError) as exc:
        raise BackendError(f"the server sent a {type_.__name__} this console cannot read: {exc}",
                           status=502) from None


def task_from_json(data: Mapping[str, Any]) -> Task:
    """``Task.as_dict()`` (plus the API's extras) back into a ``Task``."""
    out = _with_epochs(data, "lease_expires_at", "created_at", "updated_at", "started_at",
                       "completed_at")
    for key in ("created_at", "updated_at"):
        if out.get(key) is None:
            out[key] = 0.0
    if out.get("agent_id") is not None and out.get("agent_id") == out.get("claimed_by"):
        out["agent_id"] = None  # as_dict sends ``agent_id or claimed_by``
    out["logs"] = [TaskLog(timestamp=_epoch(line.get("timestamp")) or 0.0,
                           level=str(line.get("level", "info")),
                           message=str(line.get("message", "")))
                   for line in data.get("logs") or []]
    for extra in ("task_id", "duration", "estimated_completion", "priority_name"):
        out.pop(extra, None)
    return _convert(out, Task)


def agent_from_json(data: Mapping[str, Any], now: float) -> Agent:
    """``Agent.as_dict(now)`` (nested configuration/health/load/metrics) into an ``Agent``."""
    config = data.get("configuration") or {}
    health = data.get("health") or {}
    load = data.get("load") or {}
    metrics = data.get("metrics") or {}
    completed = int(metrics.get("tasks_completed") or 0)
    uptime = float(health.get("uptime") or 0.0)
    record = {
        "id": data["id"], "name": data.get("name", ""), "type": data.get("type", ""),
        "status": data.get("status", "initializing"),
        "max_concurrent_tasks": config.get("max_concurrent_tasks",
                                           load.get("max", 10)),
        "timeout": config.get("timeout", 300.0),
        "retry_attempts": config.get("retry_attempts", 3),
        "environment": data.get("environment"),
        "created_at": _epoch(data.get("created_at")) or 0.0,
        "updated_at": _epoch(data.get("updated_at")) or 0.0,
        "last_heartbeat": _epoch(health.get("last_check")),
        "first_heartbeat": now - uptime if uptime > 0 else None,
        "health": health.get("status", "unknown"),
        "running": int(load.get("running") or 0),
        "tasks_completed": completed,
        "tasks_failed": int(metrics.get("tasks_failed") or 0),
        "response_ms_total": float(metrics.get("avg_response_time") or 0.0) * completed,
        "memory_usage": metrics.get("memory_usage"),
        "cpu_usage": metrics.get("cpu_usage"),
    }
    return _convert(record, Agent)


def approval_from_json(data: Mapping[str, Any]) -> Approval:
    """``Approval.as_dict()`` into an ``Approval`` (``reason`` is the request's reason)."""
    out = _with_epochs(data, "created_at", "expires_at", "decided_at")
    if "request_reason" in data:
        out["reason"] = data["request_reason"]
    if out.get("created_at") is None:
        out["created_at"] = 0.0
    for extra in ("request_reason", "approved_by", "approved_at"):
        out.pop(extra, None)
    return _convert(out, Approval)


def event_from_json(data: Mapping[str, Any]) -> Event:
    out = _with_epochs(data, "timestamp")
    if out.get("timestamp") is None:
        out["timestamp"] = 0.0
    return _convert(out, Event)


def run_from_json(data: Mapping[str, Any]) -> Run:
    """``Run.as_dict()`` into a ``Run`` with its ``StepRecord``s."""
    out = _with_epochs(data, "created_at", "updated_at", "finished_at")
    for key in ("created_at", "updated_at"):
        if out.get(key) is None:
            out[key] = 0.0
    steps = []
    for step in data.get("step_history") or []:
        record = _with_epochs(step, "started_at", "finished_at")
        record.pop("duration", None)
        steps.append(_convert(record, StepRecord))
    out["step_history"] = steps
    return _convert(out, Run)


# -- errors -----------------------------------------------------------------------------------

def _field_of(status: int, detail: str, body: Any) -> str | None:
    """Which input a 422 is about: the body's ``field`` if the server sends one, else the
    engine's ``"field: message"`` detail (``response.replicas: must be at least 1``)."""
    if isinstance(body, dict) and isinstance(body.get("field"), str):
        return body["field"]
    if status == 422:
        match = _FIELD_RE.match(detail)
        if match:
            return match.group(1)
    return None


def backend_error(exc: ApiError) -> BackendError:
    """An API error as the console shows it: the server's words and status."""
    return BackendError(exc.detail, status=exc.status,
                        field=_field_of(exc.status, exc.detail, exc.body))


def _detail_of(status: int, body: bytes) -> tuple[str, Any]:
    parsed: Any = None
    try:
        parsed = _decode(body) if body else None
    except msgspec.DecodeError:
        parsed = None
    detail = parsed.get("detail") if isinstance(parsed, dict) else None
    if not isinstance(detail, str):
        detail = body[:300].decode(errors="replace").strip() or f"HTTP {status}"
    return detail, parsed


def _display_url(url: str) -> str:
    """The server URL as shown in the header: scheme, host and port, never user:password."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    path = parts.path.rstrip("/")
    if path == "/api/v1":
        path = ""
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def _subject_of(token: str) -> str | None:
    """The ``sub`` of a JWT, read without verifying it: only to label the operator (the
    server records decisions under the identity it verified itself)."""
    if token.count(".") != 2:
        return None
    try:
        import jwt

        claims = jwt.decode(token, options={"verify_signature": False})
    except Exception:
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) and sub else None


def _records_in(body: Any) -> list[dict[str, Any]]:
    """The records inside an API answer: a list, an envelope of one or of many, a bare run."""
    if isinstance(body, list):
        return [item for item in body if isinstance(item, dict)]
    if not isinstance(body, dict):
        return []
    for key in ("approval", "task", "approvals", "history", "data"):
        value = body.get(key)
        if isinstance(value, dict):
            return [value]
        if isinstance(value, list):
            return [item for item in value if isinstance(item, dict)]
    return [body]


def _or_none(convert: Callable[[Any], T], data: Any) -> T | None:
    """``convert(data)``, or None if there is no data or it does not convert."""
    if data is None:
        return None
    try:
        return convert(data)
    except BackendError:
        return None


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a shared read's failure as seen: its callers got it (or went away)."""
    if not task.cancelled():
        task.exception()


def _seg(value: str) -> str:
    """One path segment: ids come from what the operator typed, so quote everything."""
    if not value or not value.strip():
        raise BackendError("an id is required", status=404)
    return quote(value, safe="")


# -- the backend ------------------------------------------------------------------------------

class RemoteBackend(Backend):
    """The backend of ``switchboard attach``. See the module docstring.

    ``clock`` is only used to rebuild what the API reports as ages (an agent's uptime);
    ``backoff``/``max_backoff`` pace stream reconnects, ``read_timeout`` is how long a silent
    stream may stay quiet (the server pings every 15 s by default) before it counts as dead.

    Identical reads in flight at the same time share one request, because several views, the
    header badge and the polls ask the same questions at once and the server's rate limits
    count every request (seed 003's defaults allow 5 approval reads a minute). An event batch
    or an action detaches the reads in flight, so a view reloading after an event never gets
    an answer older than that event. When the server says 429, a read that has an earlier
    answer gets it (and the server is left alone until its Retry-After), so the console keeps
    showing the last known state instead of error lines; actions never get a kept answer.
    """

    def __init__(self, url: str, token: str, *, clock: Clock | None = None,
                 timeout: float = 15.0, backoff: float = 0.2, max_backoff: float = 5.0,
                 read_timeout: float = 45.0, disconnected_after: float = 30.0) -> None:
        super().__init__()
        self.address = _display_url(url)
        self.clock: Clock = clock or SystemClock()
        self.actor_name = _subject_of(token.strip()) or "console"
        self.capabilities = Capabilities(runs=True, embedded=False)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.read_timeout = read_timeout
        self.disconnected_after = disconnected_after
        # the credential lives only inside the client's StaticToken (whose repr hides it)
        self._client = AsyncClient(self.address + "/api/v1", token=token, timeout=timeout,
                                   retry=RetryPolicy(max_retries=2, backoff=0.2, max_backoff=1.0,
                                                     max_retry_wait=2.0))
        self._readers: set[asyncio.Task[None]] = set()
        self._closed = False
        self._last_good: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._inflight: dict[tuple[str, str], asyncio.Task[Any]] = {}
        #: loop time until which the server asked us (429) to leave it alone
        self.rate_limited_until = 0.0

    def __repr__(self) -> str:
        return f"RemoteBackend({self.address!r})"

    def use_token(self, token: str) -> None:
        """Swap the credential (the console's "log in again"); answers kept for 429s were
        read with the old one and are dropped."""
        self._client.transport.credentials = StaticToken(token)
        self.actor_name = _subject_of(token.strip()) or "console"
        self._last_good.clear()
        self._invalidate()

    # -- plumbing ---------------------------------------------------------------------------
    async def _call(self, method: str, path: str, *, json: Any = None,
                    params: Mapping[str, Any] | None = None, fresh: bool = False) -> Any:
        """One API request -> its decoded JSON body, or a ``BackendError``. Identical GETs in
        flight share one request (see the class docstring); anything else detaches them.
        ``fresh`` reads (after an action) neither share nor fall back to a kept answer."""
        if method != "GET":
            self._invalidate()
            try:
                return await self._send(method, path, json=json, params=params)
            finally:
                self._invalidate()
        key = (path, repr(sorted((k, v) for k, v in (params or {}).items() if v is not None)))
        if fresh:
            value = await self._send("GET", path, params=params)
            self._keep(key, value)
            return value
        now = asyncio.get_running_loop().time()
        if now < self.rate_limited_until and key in self._last_good:
            return self._last_good[key]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._read(key, path, params))
            task.add_done_callback(_retrieve)
            self._inflight[key] = task
        return await asyncio.shield(task)

    async def _read(self, key: tuple[str, str], path: str, params: Mapping[str, Any] | None
                    ) -> Any:
        try:
            value = await self._send("GET", path, params=params)
        except BackendError as exc:
            if exc.status == 429 and key in self._last_good:
                return self._last_good[key]
            raise
        finally:
            if self._inflight.get(key) is asyncio.current_task():
                del self._inflight[key]
        self._keep(key, value)
        return value

    def _keep(self, key: tuple[str, str], value: Any) -> None:
        self._last_good[key] = value
        self._last_good.move_to_end(key)
        while len(self._last_good) > 512:
            self._last_good.popitem(last=False)

    def _last_known(self, id_key: str, ident: str, shape: str) -> dict[str, Any] | None:
        """The newest record with ``id_key == ident`` among the answers kept for 429s;
        ``shape`` is a key only that kind of record has (a task also has a ``run_id``)."""
        for body in reversed(self._last_good.values()):
            for item in _records_in(body):
                if item.get(id_key) == ident and shape in item:
                    return item
        return None

    def _invalidate(self) -> None:
        """An event arrived or we changed something: reads already in flight may predate it,
        so later callers send their own."""
        self._inflight.clear()

    async def _send(self, method: str, path: str, *, json: Any = None,
                    params: Mapping[str, Any] | None = None) -> Any:
        try:
            response = await self._client.transport.request(method, path, json=json,
                                                             params=params)
        except RateLimited as exc:
            self._rate_limited(exc)
            raise backend_error(exc) from None
        except ApiError as exc:
            raise backend_error(exc) from None
        except TransportError as exc:
            raise BackendError(f"cannot reach {self.address}: {exc}", status=503) from None
        try:
            return response.json()
        except msgspec.DecodeError:
            raise BackendError(f"{self.address} answered {method} {path} with something "
                               "that is not JSON", status=502) from None

    def _rate_limited(self, exc: RateLimited) -> None:
        wait = exc.retry_after if exc.retry_after is not None else 1.0
        until = asyncio.get_running_loop().time() + wait
        if until > self.rate_limited_until:
            log.warning("%s rate-limits this console (%s); showing the last answers for %.0f s",
                        self.address, exc.detail, wait)
            self.rate_limited_until = until

    async def _wrap(self, coro: Awaitable[T]) -> T:
        """Run one of the client's resource calls with our error mapping."""
        self._invalidate()
        try:
            return await coro
        except RateLimited as exc:
            self._rate_limited(exc)
            raise backend_error(exc) from None
        except ApiError as exc:
            raise backend_error(exc) from None
        except TransportError as exc:
            raise BackendError(f"cannot reach {self.address}: {exc}", status=503) from None

    async def _queue_stats(self) -> dict[str, Any]:
        return (await self._call("GET", "/stats"))["queue"]

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Learn the stream position and whether runs are served; refuse a bad credential.

        An unreachable server is not an error here: the stream keeps retrying and the header
        says so, so the console comes up and connects when the server does.
        """
        try:
            self.last_seq = await self._position()
        except BackendError as exc:
            if exc.status in (401, 403):
                raise BackendError(f"{self.address} refused the token: {exc.detail}",
                                   status=exc.status) from None
            log.warning("attach: %s not ready yet (%s); the stream will keep trying",
                        self.address, exc.detail)
            return
        try:
            await self._call("GET", "/orchestrations/runs", params={"limit": 1})
        except BackendError as exc:
            if exc.status in (404, 405, 501):
                self.capabilities.runs = False

    async def close(self) -> None:
        self._closed = True
        self.state = ConnectionState.DISCONNECTED
        readers = list(self._readers)
        for task in readers:
            task.cancel()
        for task in readers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._client.close()

    async def _position(self) -> int:
        body = await self._call("GET", "/events", params={"after": 0, "limit": 1})
        return int(body.get("last_seq") or 0)

    # -- reads ------------------------------------------------------------------------------
    async def overview(self) -> Overview:
        queue, pending, agents, runs_by_status, metrics = await asyncio.gather(
            self._queue_stats(), self.pending_approvals(), self.agents(), self._run_counts(),
            self._call("GET", "/metrics", params={"period": "1h", "metric": "throughput"}))
        by_health: dict[str, int] = {}
        for agent in agents:
            by_health[agent.health] = by_health.get(agent.health, 0) + 1
        by_priority_approvals = {p: 0 for p in PRIORITIES}
        for approval in pending:
            by_priority_approvals[approval.priority] = \
                by_priority_approvals.get(approval.priority, 0) + 1
        series = metrics["data"]["metrics"]["throughput"]
        return Overview(
            tasks_by_status=dict(queue["by_status"]),
            tasks_by_priority={p: dict(v) for p, v in queue["by_priority"].items()},
            total_tasks=int(queue["total_tasks"]),
            approvals_waiting=len(pending),
            approvals_by_priority=by_priority_approvals,
            agents_by_health=by_health,
            agents_total=len(agents),
            runs_by_status=runs_by_status,
            throughput=[int(point.get("value") or 0) for point in series],
            created=[int(point.get("created") or 0) for point in series],
        )

    async def _run_counts(self) -> dict[str, int] | None:
        if not self.capabilities.runs:
            return None

        async def count(status: str) -> int:
            body = await self._call("GET", "/orchestrations/runs",
                                    params={"status": status, "limit": 1})
            return int((body.get("pagination") or {}).get("total") or 0)

        try:
            totals = await asyncio.gather(*(count(s) for s in RUN_STATUSES))
        except BackendError as exc:  # like the in-process backend: never fail the overview
            log.warning("reading run counts failed: %s", exc.detail)
            return None
        return dict(zip(RUN_STATUSES, totals, strict=True))

    async def _task_page(self, page: int, limit: int = PAGE, **filters: Any
                         ) -> tuple[list[Task], int]:
        params = {k: v for k, v in filters.items() if v is not None}
        body = await self._call("GET", "/tasks", params={**params, "page": page, "limit": limit})
        tasks = [task_from_json(item) for item in body.get("data") or []]
        return tasks, int((body.get("pagination") or {}).get("total") or 0)

    async def _oldest(self, need: int, **filters: Any) -> list[Task]:
        """The ``need`` oldest tasks matching ``filters``, oldest first. The API lists newest
        first, so they are on the last pages: read from the last page backwards."""
        first, total = await self._task_page(1, **filters)
        if total <= len(first):
            return list(reversed(first))[:need]
        out: list[Task] = []
        page = -(-total // PAGE)
        while page >= 1 and len(out) < need:
            batch = first if page == 1 else (await self._task_page(page, **filters))[0]
            out.extend(reversed(batch))
            page -= 1
        return out[:need]

    async def _active(self, limit: int, queue: Mapping[str, Any]) -> list[Task]:
        """``TaskService.active``: unfinished tasks, most urgent first (priority, then
        oldest), assembled from per-priority, per-status lists."""
        by_status: Mapping[str, int] = queue["by_status"]
        by_priority: Mapping[str, Mapping[str, int]] = queue["by_priority"]
        out: list[Task] = []
        for priority in PRIORITIES:
            room = limit - len(out)
            if room <= 0:
                break
            counts = by_priority.get(priority) or {}
            statuses = [s for s in ACTIVE_STATUSES if by_status.get(s)
                        and (counts.get("processing") if s == "in_progress"
                             else counts.get("waiting"))]
            lists = await asyncio.gather(*(self._oldest(room, status=s, priority=priority)
                                           for s in statuses))
            seen = {t.id for t in out}
            merged = [t for batch in lists for t in batch if t.id not in seen]
            merged.sort(key=lambda t: (t.created_at, t.id))  # the engine's order, ties by id
            out.extend(merged[:room])
        return out

    async def tasks(self, view: TaskView) -> TaskPage:
        simple = view.priority is None and view.type is None and view.agent_id is None \
            and view.run_id is None
        if view.status is None and simple:
            queue = await self._queue_stats()
            active = await self._active(view.limit, queue)
            room = max(view.limit - len(active), 0)
            recent: list[Task] = []
            page = 1
            while room and len(recent) < room and page <= 5:
                batch, _ = await self._task_page(page)
                recent.extend(t for t in batch if t.status in TERMINAL_TASK_STATUSES)
                if len(batch) < PAGE:
                    break
                page += 1
            return TaskPage(active + recent[:room], int(queue["total_tasks"]))
        out: list[Task] = []
        total = 0
        page = 1
        while len(out) < view.limit:
            batch, total = await self._task_page(
                page, status=view.status, priority=view.priority, type=view.type,
                agent_id=view.agent_id, run_id=view.run_id)
            out.extend(batch)
            if len(batch) < PAGE:
                break
            page += 1
        if view.status and simple:
            key = "in_progress" if view.status == "running" else view.status
            by_status = (await self._queue_stats())["by_status"]
            total = int(by_status.get(key, total))
        out.sort(key=lambda t: (t.status in TERMINAL_TASK_STATUSES, t.priority, -t.created_at,
                               t.id))  # ids break ties: both backends show one order
        return TaskPage(out[: view.limit], total)

    async def task(self, task_id: str, *, fresh: bool = False) -> Task:
        body = await self._call("GET", f"/tasks/{_seg(task_id)}", fresh=fresh)
        return task_from_json(body.get("task") or body.get("data"))

    async def agents(self) -> list[Agent]:
        now = self.clock.now()
        out: list[Agent] = []
        page = 1
        while True:
            body = await self._call("GET", "/agents", params={"page": page, "limit": PAGE})
            batch = body.get("data") or []
            out.extend(agent_from_json(item, now) for item in batch)
            pages = int((body.get("pagination") or {}).get("pages") or 0)
            if len(batch) < PAGE or page >= pages:
                return out
            page += 1

    async def agent(self, agent_id: str) -> Agent:
        body = await self._call("GET", f"/agents/{_seg(agent_id)}")
        return agent_from_json(body["data"], self.clock.now())

    async def pending_approvals(self) -> list[Approval]:
        body = await self._call("GET", "/approvals/pending")
        return [approval_from_json(item) for item in body.get("approvals") or []]

    async def approval_history(self, limit: int = 50) -> list[Approval]:
        body = await self._call("GET", "/approvals/history",
                                params={"limit": max(1, min(limit, 1000))})
        return [approval_from_json(item) for item in body.get("history") or []]

    async def approval(self, approval_id: str, *, fresh: bool = False) -> Approval:
        body = await self._call("GET", f"/approvals/{_seg(approval_id)}", fresh=fresh)
        return approval_from_json(body["approval"])

    async def recent_events(self, limit: int = 200, *, types: tuple[str, ...] = (),
                            run_id: str | None = None, task_id: str | None = None) -> list[Event]:
        """The newest ``limit`` matching events, oldest first.

        The API pages forward from a seq; the newest ones are found by reading windows
        backwards from the current position, each four times wider than the last, until
        enough matched or the start is reached (a few requests even on a long history).
        """
        if limit <= 0:
            return []
        filters: dict[str, Any] = {"type": list(types) or None, "run_id": run_id,
                                   "task_id": task_id}
        hi = await self._position()
        found: list[Event] = []
        span = max(limit, 256)
        while hi > 0 and len(found) < limit:
            lo = max(hi - span, 0)
            chunk: list[Event] = []
            after = lo
            while True:
                body = await self._call("GET", "/events",
                                        params={**filters, "after": after, "limit": EVENT_PAGE})
                data = body.get("data") or []
                chunk.extend(e for e in (event_from_json(item) for item in data) if e.seq <= hi)
                if len(data) < EVENT_PAGE or int(data[-1]["seq"]) >= hi:
                    break
                after = int(body.get("next_after") or data[-1]["seq"])
            found = chunk + found
            hi = lo
            span *= 4
        return found[-limit:]

    async def runs(self, *, status: str | None = None, orchestration_id: str | None = None,
                   limit: int = 500) -> list[Run]:
        out: list[Run] = []
        page = 1
        size = max(1, min(limit, PAGE))
        while len(out) < limit:
            try:
                body = await self._call("GET", "/orchestrations/runs", params={
                    "status": status, "orchestration": orchestration_id, "page": page,
                    "limit": size})
            except BackendError as exc:
                if exc.status in (404, 405, 501) and page == 1:
                    raise NotAvailable() from None
                raise
            batch = body.get("data") or []
            out.extend(run_from_json(item) for item in batch)
            if len(batch) < size:
                break
            page += 1
        return out[:limit]

    async def run(self, run_id: str, *, fresh: bool = False) -> Run:
        return run_from_json(await self._call("GET", f"/orchestrations/runs/{_seg(run_id)}",
                                              fresh=fresh))

    async def orchestrations(self) -> list[OrchestrationInfo]:
        try:
            listed = await self._call("GET", "/orchestrations")
        except BackendError as exc:
            if exc.status in (404, 405, 501):
                raise NotAvailable() from None
            raise
        items = listed if isinstance(listed, list) else listed.get("data") or []

        async def detail(orch_id: str) -> dict[str, Any]:
            try:
                return await self._call("GET", f"/orchestrations/{_seg(orch_id)}")
            except BackendError as exc:
                if exc.status == 404:  # removed between the list and now
                    return {}
                raise

        details = await asyncio.gather(*(detail(str(item.get("id"))) for item in items))
        out: list[OrchestrationInfo] = []
        seen_sources: dict[str, int] = {}
        for item, full in zip(items, details, strict=True):
            info = OrchestrationInfo(
                id=str(item.get("id", "?")),
                name=str(item.get("name") or item.get("id") or ""),
                description=str(item.get("description") or ""),
                steps=int(item.get("steps") or 0),
                source=str(full.get("source") or ""),
                version=str(item.get("version") or ""),
            )
            seen_sources[info.source] = len(out)
            out.append(info)
        try:
            problems_body = await self._call("GET", "/orchestrations/problems")
        except BackendError as exc:
            if exc.status not in (404, 405):
                raise
            problems_body = {}
        by_file: dict[str, list[str]] = {}
        for raw in problems_body.get("problems") or []:
            problem = _convert(raw, DefinitionProblem)
            by_file.setdefault(str(problem.file or "?"), []).append(_problem_text(problem))
        for file, texts in by_file.items():
            index = seen_sources.get(file)
            if index is not None:  # a broken edit of a file whose last good version runs
                base = out[index]
                out[index] = OrchestrationInfo(
                    id=base.id, name=base.name, description=base.description, steps=base.steps,
                    source=base.source, version=base.version, problems=tuple(texts))
            else:
                name = file.rsplit("/", 1)[-1]
                out.append(OrchestrationInfo(id=name, name=name, source=file,
                                             problems=tuple(texts)))
        return out

    # -- actions ------------------------------------------------------------------------------
    # The API answers an action with a status; the record is then read back. An action that
    # took effect must never be reported as failed, so if the read-back fails (rate limited,
    # a restart in between) the answer is the last known record with the action's outcome.

    async def _read_back(self, read: Awaitable[T], fallback: Callable[[], T]) -> T:
        try:
            return await read
        except BackendError as exc:
            log.info("reading back after an action failed (%s); answering from the action",
                     exc.detail)
            return fallback()

    def _approval_after(self, approval_id: str, status: str, *, response: Any = None,
                        reason: str | None = None) -> Approval:
        base = _or_none(approval_from_json, self._last_known("approval_id", approval_id, "kind")
                        ) or Approval(approval_id=approval_id, kind="task", priority="P2")
        return msgspec.structs.replace(base, status=status, decided_by=self.actor_name,
                                       decided_at=self.clock.now(), response=response,
                                       rejection_reason=reason)

    def _task_after(self, task_id: str, ack: Any) -> Task:
        base = _or_none(task_from_json, self._last_known("task_id", task_id, "assigned_agent")
                        ) or Task(id=task_id, type="", priority="P2", status="pending",
                                  assigned_agent="")
        # a status ack (cancel, retry) or a priority ack (set_priority): each has one of them
        return msgspec.structs.replace(base, status=getattr(ack, "status", None) or base.status,
                                       priority=getattr(ack, "priority", None) or base.priority)

    def _run_after(self, run_id: str, status: str, *, orchestration_id: str = "",
                   message: str | None = None) -> Run:
        base = _or_none(run_from_json, self._last_known("run_id", run_id, "orchestration_id")
                        ) or Run(run_id=run_id, orchestration_id=orchestration_id,
                                 orchestration_name=orchestration_id, status=status,
                                 message=message)
        return msgspec.structs.replace(base, status=status)

    async def approve(self, approval_id: str, *, response: Any = None) -> Approval:
        decision = await self._wrap(self._client.approvals.approve(_seg(approval_id), response))
        return await self._read_back(
            self.approval(approval_id, fresh=True),
            lambda: self._approval_after(approval_id, decision.status, response=response))

    async def reject(self, approval_id: str, *, reason: str | None = None) -> Approval:
        decision = await self._wrap(self._client.approvals.reject(_seg(approval_id), reason))
        return await self._read_back(
            self.approval(approval_id, fresh=True),
            lambda: self._approval_after(approval_id, decision.status, reason=reason))

    async def cancel_task(self, task_id: str, reason: str | None = None) -> Task:
        ack = await self._wrap(self._client.tasks.cancel(_seg(task_id), reason))
        return await self._read_back(self.task(task_id, fresh=True),
                                     lambda: self._task_after(task_id, ack))

    async def retry_task(self, task_id: str) -> Task:
        ack = await self._wrap(self._client.tasks.retry(_seg(task_id)))
        return await self._read_back(self.task(task_id, fresh=True),
                                     lambda: self._task_after(task_id, ack))

    async def set_task_priority(self, task_id: str, priority: str) -> Task:
        ack = await self._wrap(self._client.tasks.set_priority(_seg(task_id), priority))
        return await self._read_back(self.task(task_id, fresh=True),
                                     lambda: self._task_after(task_id, ack))

    async def start_run(self, orchestration_id: str, message: str) -> Run:
        body = await self._call("POST", f"/orchestrations/{_seg(orchestration_id)}/run",
                                json={"message": message, "wait": SYNC_WAIT})
        run_id = str(body["run_id"])
        return await self._read_back(
            self.run(run_id, fresh=True),
            lambda: self._run_after(run_id, str(body.get("status") or "running"),
                                    orchestration_id=orchestration_id, message=message))

    async def _run_action(self, run_id: str, action: str, json: Any = None) -> Run:
        body = await self._call("POST", f"/orchestrations/runs/{_seg(run_id)}/{action}",
                                json=json)
        return await self._read_back(
            self.run(run_id, fresh=True),
            lambda: self._run_after(run_id, str(body.get("status") or "running")))

    async def resume_run(self, run_id: str, response: Any) -> Run:
        return await self._run_action(run_id, "resume", {"response": response,
                                                         "wait": SYNC_WAIT})

    async def cancel_run(self, run_id: str) -> Run:
        return await self._run_action(run_id, "cancel")

    async def retry_run(self, run_id: str) -> Run:
        return await self._run_action(run_id, "retry")

    # -- live -------------------------------------------------------------------------------
    async def stream(self, after_seq: int | None = None, *, coalesce: float = 0.1
                     ) -> AsyncIterator[StreamItem]:
        """Events after ``after_seq`` (None: from now) over SSE, in coalesced batches, with
        connection-state items; see the module docstring for the reconnect rules."""
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=10_000)
        reader = asyncio.create_task(self._read_stream(after_seq, queue),
                                     name=f"switchboard-remote-stream {self.address}")
        self._readers.add(reader)
        reader.add_done_callback(self._readers.discard)
        delivered = after_seq
        held: tuple[str, Any] | None = None
        try:
            while True:
                kind, value = held if held is not None else await queue.get()
                held = None
                if kind == "state":
                    state, seq = value
                    self.state = state
                    if delivered is None:
                        delivered = seq  # None until the server told us where "now" is
                    self.last_seq = max(self.last_seq, delivered or 0)
                    yield StreamItem([], state, self.last_seq if delivered is None else delivered)
                    continue
                if kind == "error":
                    self.state = ConnectionState.DISCONNECTED
                    raise value
                if kind == "end":  # the backend was closed
                    self.state = ConnectionState.DISCONNECTED
                    yield StreamItem([], self.state, delivered or self.last_seq)
                    return
                batch: list[Event] = [value]
                if coalesce > 0:
                    await asyncio.sleep(coalesce)
                while not queue.empty():
                    item = queue.get_nowait()
                    if item[0] != "event":
                        held = item  # a state change ends the batch; it follows it
                        break
                    batch.append(item[1])
                delivered = batch[-1].seq
                self.last_seq = max(self.last_seq, delivered)
                self._invalidate()  # what the screens reload now must not predate these
                yield StreamItem(batch, self.state, delivered)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _read_stream(self, after: int | None,
                           queue: asyncio.Queue[tuple[str, Any]]) -> None:
        """Connect, read, reconnect: puts ("event", Event), ("state", (state, seq)), on a
        failure that retrying cannot fix ("error", BackendError), and ("end", None) once the
        backend is closed."""
        loop = asyncio.get_running_loop()
        put = queue.put
        last = after
        state: ConnectionState | None = None
        failing_since: float | None = None
        attempt = 0

        async def announce(new: ConnectionState) -> None:
            nonlocal state, failing_since, attempt
            if new == ConnectionState.CONNECTED:
                failing_since, attempt = None, 0
            if new != state:
                state = new
                await put(("state", (new, last)))

        try:
            while not self._closed:
                try:
                    if last is None:
                        last = await self._position()
                    async for event in self._connect_once(last, announce):
                        if event.seq <= last:
                            continue  # already delivered (a replay overlapping the last one)
                        last = event.seq
                        await put(("event", event))
                    reason = "the server ended the stream"
                except BackendError as exc:
                    if exc.status in FATAL_STREAM_STATUSES:
                        await announce(ConnectionState.DISCONNECTED)
                        await put(("error", BackendError(
                            f"live updates from {self.address} stopped: {exc.detail}",
                            status=exc.status)))
                        return
                    reason = exc.detail
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                if self._closed:
                    return
                now = loop.time()
                failing_since = now if failing_since is None else failing_since
                if state == ConnectionState.CONNECTED:
                    log.info("event stream from %s lost (%s); resuming after seq %s",
                             self.address, reason, last)
                if now - failing_since >= self.disconnected_after:
                    await announce(ConnectionState.DISCONNECTED)
                else:
                    await announce(ConnectionState.RECONNECTING)
                delay = min(self.max_backoff, self.backoff * (2 ** min(attempt, 16)))
                attempt += 1
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never vanish: the consumer raises it
            log.exception("event stream reader failed")
            await put(("error", exc))
        finally:
            if self._closed:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(("end", None))

    async def _connect_once(self, last: int,
                            announce: Callable[[ConnectionState], Awaitable[None]]
                            ) -> AsyncIterator[Event]:
        """One SSE connection resuming after ``last``: yields its events until it ends."""
        transport = self._client.transport
        headers = transport.auth_headers()
        headers["Accept"] = "text/event-stream"
        headers["Last-Event-ID"] = str(last)
        timeout = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=self.read_timeout)
        async with transport.session.get(transport.url("/events/stream"), headers=headers,
                                         timeout=timeout) as resp:
            if resp.status >= 400:
                detail, _ = _detail_of(resp.status, await resp.read())
                raise BackendError(detail, status=resp.status)
            await announce(ConnectionState.CONNECTED)
            async for message in iter_sse(resp):
                if message.event == DROPPED:
                    return  # too slow for the server: reconnect from our own last seq
                if message.id is None or not message.data:
                    continue
                try:
                    yield event_from_json(_decode(message.data))
                except (BackendError, msgspec.DecodeError) as exc:
                    # keep the seq (no gap, no reconnect loop on one bad frame); show it raw
                    log.error("undecodable event %s from %s: %s", message.id, self.address, exc)
                    yield Event(seq=int(message.id), event_type=message.event, timestamp=0.0,
                                payload={"undecodable": message.data[:500]})


__all__ = [
    "RemoteBackend",
    "agent_from_json",
    "approval_from_json",
    "backend_error",
    "event_from_json",
    "run_from_json",
    "task_from_json",
]
