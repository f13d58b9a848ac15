"""The console's one way to the engine: the ``Backend`` interface and its in-process version.

Why one interface: every screen must work both inside ``switchboard up`` (same event loop as
the engine) and in ``switchboard attach URL`` (over the HTTP API and its event stream). Screens
only ever talk to a ``Backend``; they never import engine services.

What crosses the interface:
- records are the engine's msgspec Structs (``Task``, ``Agent``, ``Approval``, ``Event``,
  ``Run``) — plain data with epoch-second timestamps. A remote backend decodes the API's JSON
  into the same Structs (``msgspec.convert``, ISO strings -> epoch), so the screens cannot
  tell the difference;
- the few shapes the engine has no record for (``Overview``, ``OrchestrationInfo``,
  ``TaskPage``, ``StreamItem``) are frozen dataclasses defined here;
- every failure a screen should show is a ``BackendError`` with ``detail`` written for the
  operator (and ``status``/``field`` when the server gave them). Engine errors and HTTP errors
  both become one.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from switchboard.engine.actors import Actor
from switchboard.engine.errors import EngineError
from switchboard.engine.events import DROPPED
from switchboard.engine.models import (
    PRIORITIES,
    RUN_STATUSES,
    TASK_STATUSES,
    TERMINAL_TASK_STATUSES,
    Agent,
    Approval,
    Event,
    Run,
    Task,
)
from switchboard.engine.tasks import TaskQuery

log = logging.getLogger("switchboard.console")

T = TypeVar("T")

ACTIVE_TASK_STATUSES = tuple(s for s in TASK_STATUSES if s not in TERMINAL_TASK_STATUSES)


class ConnectionState(StrEnum):
    """How the console is connected to its engine (shown in words in the header)."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"
    UNAUTHORIZED = "unauthorized"  # the server refused the credential (bad or expired)


class BackendError(Exception):
    """Something the operator asked for did not happen; ``detail`` says why."""

    def __init__(self, detail: str, *, status: int = 400, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.field = field

    @property
    def conflict(self) -> bool:
        """The object changed under us (e.g. decided elsewhere)."""
        return self.status == 409


class NotAvailable(BackendError):
    """The feature is not present on this engine/server (e.g. orchestrations not loaded)."""

    def __init__(self, detail: str = "orchestrations not available") -> None:
        super().__init__(detail, status=501)


@dataclass(frozen=True)
class Overview:
    """Counts for the overview screen, from one consistent read where possible."""

    tasks_by_status: dict[str, int]
    tasks_by_priority: dict[str, dict[str, int]]  # "P0" -> {"waiting": n, "processing": n}
    total_tasks: int
    approvals_waiting: int
    approvals_by_priority: dict[str, int]
    agents_by_health: dict[str, int]
    agents_total: int
    runs_by_status: dict[str, int] | None  # None: orchestrations not available
    throughput: list[int]  # tasks completed per minute over the last hour, oldest first
    created: list[int]  # tasks created per minute over the last hour, oldest first


@dataclass(frozen=True)
class TaskView:
    """Which tasks a screen wants. ``status=None`` means the operator's default: every
    unfinished task (most urgent first) followed by the most recently created finished ones."""

    status: str | None = None
    priority: str | None = None
    type: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    limit: int = 500
    #: words that must each appear in a task's id or the fields an operator reads, searched
    #: over the whole store where the backend can (``Capabilities.search``)
    text: str = ""


@dataclass(frozen=True)
class TaskPage:
    tasks: list[Task]
    total: int  # how many match, of which ``tasks`` is the (capped) head


@dataclass(frozen=True)
class OrchestrationInfo:
    """One definition (or one broken file) as the orchestrations screen lists it."""

    id: str
    name: str
    description: str = ""
    steps: int = 0
    source: str = ""
    version: str = ""
    problems: tuple[str, ...] = ()  # non-empty: the file is broken (last good version may run)

    @property
    def valid(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class StreamItem:
    """One coalesced batch from the live stream (possibly empty: a state change)."""

    events: list[Event]
    state: ConnectionState
    last_seq: int


@dataclass
class Capabilities:
    runs: bool = False
    embedded: bool = False  # True: quitting the console stops the engine
    search: bool = False  # True: tasks(text=...) and find() search the whole store


class Backend(abc.ABC):
    """Everything the console's screens read and do. See the module docstring."""

    #: Where the engine is, for the header ("in-process", "127.0.0.1:8000", a URL).
    address: str = ""
    #: Who the console acts as (recorded on decisions).
    actor_name: str = "console"

    def __init__(self) -> None:
        self.state = ConnectionState.CONNECTING
        self.last_seq = 0
        self.capabilities = Capabilities()

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect (remote) or start what this backend owns. Called once by the app."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Disconnect / stop what this backend owns. Called once by the app."""

    # -- snapshot reads ---------------------------------------------------------------------
    @abc.abstractmethod
    async def overview(self) -> Overview: ...

    @abc.abstractmethod
    async def tasks(self, view: TaskView) -> TaskPage: ...

    @abc.abstractmethod
    async def task(self, task_id: str) -> Task:
        """One task with its logs."""

    @abc.abstractmethod
    async def agents(self) -> list[Agent]: ...

    @abc.abstractmethod
    async def agent(self, agent_id: str) -> Agent: ...

    @abc.abstractmethod
    async def pending_approvals(self) -> list[Approval]:
        """Every pending approval, most critical first, then oldest first."""

    @abc.abstractmethod
    async def approval_history(self, limit: int = 50) -> list[Approval]: ...

    @abc.abstractmethod
    async def approval(self, approval_id: str) -> Approval: ...

    @abc.abstractmethod
    async def recent_events(self, limit: int = 200, *, types: tuple[str, ...] = (),
                            run_id: str | None = None, task_id: str | None = None) -> list[Event]:
        """The newest ``limit`` events (matching the filter), oldest first."""

    @abc.abstractmethod
    async def runs(self, *, status: str | None = None, orchestration_id: str | None = None,
                   limit: int = 500) -> list[Run]:
        """Newest first. Raises NotAvailable without orchestrations."""

    @abc.abstractmethod
    async def run(self, run_id: str) -> Run: ...

    @abc.abstractmethod
    async def orchestrations(self) -> list[OrchestrationInfo]: ...

    async def find(self, kind: str, text: str, *, limit: int = 10) -> Any:
        """Ids of ``kind`` containing ``text`` over the whole store (``.ids``, ``.more``);
        NotAvailable where the backend cannot search (the caller falls back)."""
        raise NotAvailable("search by part of an id is not available")

    # -- actions ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def approve(self, approval_id: str, *, response: Any = None) -> Approval: ...

    @abc.abstractmethod
    async def reject(self, approval_id: str, *, reason: str | None = None) -> Approval: ...

    async def submit_gate(self, approval_id: str, response: dict[str, Any]) -> Approval:
        """Answer a human gate's form: an approval carrying the form's values."""
        return await self.approve(approval_id, response=response)

    @abc.abstractmethod
    async def cancel_task(self, task_id: str, reason: str | None = None) -> Task: ...

    @abc.abstractmethod
    async def retry_task(self, task_id: str) -> Task: ...

    @abc.abstractmethod
    async def set_task_priority(self, task_id: str, priority: str) -> Task: ...

    @abc.abstractmethod
    async def start_run(self, orchestration_id: str, message: str) -> Run: ...

    @abc.abstractmethod
    async def resume_run(self, run_id: str, response: Any) -> Run: ...

    @abc.abstractmethod
    async def cancel_run(self, run_id: str) -> Run: ...

    @abc.abstractmethod
    async def retry_run(self, run_id: str) -> Run: ...

    # -- live -------------------------------------------------------------------------------
    @abc.abstractmethod
    def stream(self, after_seq: int | None = None, *, coalesce: float = 0.1
               ) -> AsyncIterator[StreamItem]:
        """Committed events after ``after_seq`` (None: from now), in coalesced batches.

        The first item is an empty one announcing the connection state; on a reconnect an
        empty item with ``RECONNECTING`` is yielded, then the stream resumes from the last
        seq it delivered (no gap, no duplicate). Runs until closed or cancelled.
        """


def _engine_error(exc: EngineError) -> BackendError:
    return BackendError(exc.detail, status=getattr(exc, "status", 400),
                        field=getattr(exc, "field", None))


class InProcessBackend(Backend):
    """The backend of ``switchboard up``: direct calls into an ``Engine`` on the same loop.

    ``own_engine=True`` makes ``start``/``close`` start and stop the engine (tests and the
    snapshot harness, which run the app in its own event loop); the CLI starts the engine
    itself and leaves it False.
    """

    def __init__(self, engine: Any, actor: Actor | None = None, *, address: str = "in-process",
                 own_engine: bool = False) -> None:
        super().__init__()
        self.engine = engine
        self.actor = actor or Actor("console", "admin", "console")
        self.actor_name = self.actor.name
        self.address = address
        self.own_engine = own_engine
        self.capabilities = Capabilities(runs=self._runs_service() is not None, embedded=True,
                                         search=getattr(engine, "views", None) is not None)

    # -- helpers ----------------------------------------------------------------------------
    def _runs_service(self) -> Any:
        return getattr(self.engine, "runs", None)

    def _runs(self) -> Any:
        runs = self._runs_service()
        if runs is None:
            raise NotAvailable()
        return runs

    @staticmethod
    async def _call(coro: Awaitable[T]) -> T:
        try:
            return await coro
        except EngineError as exc:
            raise _engine_error(exc) from None

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self.own_engine and not self.engine.started:
            await self.engine.start()
        self.capabilities.runs = self._runs_service() is not None
        self.last_seq = self.engine.bus.last_seq

    async def close(self) -> None:
        self.state = ConnectionState.DISCONNECTED
        if self.own_engine:
            await self.engine.stop()

    # -- reads ------------------------------------------------------------------------------
    async def overview(self) -> Overview:
        engine = self.engine
        queue = await engine.stats.queue()
        pending = await engine.approvals.pending()
        agents = await engine.agents.all()
        by_health: dict[str, int] = {}
        for agent in agents:
            by_health[agent.health] = by_health.get(agent.health, 0) + 1
        by_priority_approvals = {p: 0 for p in PRIORITIES}
        for approval in pending:
            by_priority_approvals[approval.priority] = by_priority_approvals.get(approval.priority, 0) + 1
        runs_by_status: dict[str, int] | None = None
        runs = self._runs_service()
        if runs is not None:
            try:
                count = getattr(runs, "count", None)
                if count is not None:
                    runs_by_status = {state: await count(state) for state in RUN_STATUSES}
                else:
                    runs_by_status = {}
                    for run in await runs.list(limit=1000):
                        runs_by_status[run.status] = runs_by_status.get(run.status, 0) + 1
            except Exception:  # the runner is new: never let it take the overview down
                log.exception("reading runs for the overview failed")
                runs_by_status = None
        series = (await engine.stats.metrics("1h", "throughput"))["metrics"]["throughput"]
        return Overview(
            tasks_by_status=dict(queue["by_status"]),
            tasks_by_priority={p: dict(v) for p, v in queue["by_priority"].items()},
            total_tasks=int(queue["total_tasks"]),
            approvals_waiting=len(pending),
            approvals_by_priority=by_priority_approvals,
            agents_by_health=by_health,
            agents_total=len(agents),
            runs_by_status=runs_by_status,
            throughput=[int(point["value"] or 0) for point in series],
            created=[int(point.get("created") or 0) for point in series],
        )

    async def tasks(self, view: TaskView) -> TaskPage:
        if view.text and self.capabilities.search:
            from switchboard.engine.views import TaskFilter

            page = await self._call(self.engine.views.tasks(TaskFilter(
                status=view.status, priority=view.priority, type=view.type,
                agent_id=view.agent_id, run_id=view.run_id, text=view.text),
                limit=max(1, min(view.limit, 1000))))
            return TaskPage(list(page.tasks), int(page.total))
        tasks_service = self.engine.tasks
        queue = await self.engine.stats.queue()
        by_status: dict[str, int] = queue["by_status"]
        simple = view.priority is None and view.type is None and view.agent_id is None \
            and view.run_id is None
        if view.status is None and simple:
            active = await self._call(tasks_service.active(limit=view.limit))
            room = max(view.limit - len(active), 0)
            recent: list[Task] = []
            page = 1
            while room and len(recent) < room and page <= 5:
                batch, _ = await self._call(tasks_service.list(TaskQuery(page=page, limit=100)))
                recent.extend(t for t in batch if t.status in TERMINAL_TASK_STATUSES)
                if len(batch) < 100:
                    break
                page += 1
            return TaskPage(active + recent[:room], int(queue["total_tasks"]))
        # a narrower view: page through the engine's filtered list (newest first)
        out: list[Task] = []
        total = 0
        page = 1
        statuses = [view.status] if view.status else [None]
        for status in statuses:
            while len(out) < view.limit:
                batch, total = await self._call(tasks_service.list(TaskQuery(
                    status=status, priority=view.priority, type=view.type,
                    agent_id=view.agent_id, run_id=view.run_id, page=page, limit=100)))
                out.extend(batch)
                if len(batch) < 100:
                    break
                page += 1
        if view.status and simple:
            key = "in_progress" if view.status == "running" else view.status
            total = int(by_status.get(key, total))
        out.sort(key=lambda t: (t.status in TERMINAL_TASK_STATUSES, t.priority, -t.created_at,
                               t.id))  # ids break ties: both backends show one order
        return TaskPage(out[: view.limit], total)

    async def task(self, task_id: str) -> Task:
        return await self._call(self.engine.tasks.get(task_id))

    async def agents(self) -> list[Agent]:
        return await self._call(self.engine.agents.all())

    async def agent(self, agent_id: str) -> Agent:
        return await self._call(self.engine.agents.get(agent_id))

    async def pending_approvals(self) -> list[Approval]:
        return await self._call(self.engine.approvals.pending())

    async def approval_history(self, limit: int = 50) -> list[Approval]:
        return await self._call(self.engine.approvals.history(limit))

    async def approval(self, approval_id: str) -> Approval:
        return await self._call(self.engine.approvals.get(approval_id))

    async def recent_events(self, limit: int = 200, *, types: tuple[str, ...] = (),
                            run_id: str | None = None, task_id: str | None = None) -> list[Event]:
        from switchboard.engine.events import EventFilter

        flt = EventFilter(types=types, run_id=run_id, task_id=task_id)
        events = await self.engine.bus.history(0, flt, limit=limit, newest_first=True)
        events.reverse()
        return events

    async def runs(self, *, status: str | None = None, orchestration_id: str | None = None,
                   limit: int = 500) -> list[Run]:
        runs = self._runs()
        return list(await self._call(runs.list(status=status, orchestration_id=orchestration_id,
                                               limit=limit)))

    async def run(self, run_id: str) -> Run:
        return await self._call(self._runs().get(run_id))

    async def find(self, kind: str, text: str, *, limit: int = 10) -> Any:
        if not self.capabilities.search:
            raise NotAvailable("search by part of an id is not available")
        return await self._call(self.engine.views.find(kind, text, limit=limit))

    async def orchestrations(self) -> list[OrchestrationInfo]:
        registry = getattr(self.engine, "orchestrations", None)
        if registry is None:
            raise NotAvailable()
        out: list[OrchestrationInfo] = []
        seen_sources: dict[str, int] = {}
        for orch in registry.list():
            info = OrchestrationInfo(
                id=str(getattr(orch, "id", "?")),
                name=str(getattr(orch, "title", None) or getattr(orch, "name", "") or orch.id),
                description=str(getattr(orch, "description", "") or ""),
                steps=len(getattr(orch, "steps", ()) or ()),
                source=str(_file_of(registry, orch) or ""),
                version=str(getattr(orch, "version", "") or ""),
            )
            seen_sources[info.source] = len(out)
            out.append(info)
        problems_fn = getattr(registry, "problems", None)
        problems = problems_fn() if callable(problems_fn) else []
        by_file: dict[str, list[str]] = {}
        if isinstance(problems, dict):
            for file, items in problems.items():
                by_file.setdefault(str(file), []).extend(_problem_text(p) for p in items)
        else:
            for problem in problems or []:
                file = str(getattr(problem, "file", "") or "?")
                by_file.setdefault(file, []).append(_problem_text(problem))
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

    # -- actions ----------------------------------------------------------------------------
    async def approve(self, approval_id: str, *, response: Any = None) -> Approval:
        return await self._call(self.engine.approvals.approve(approval_id, self.actor,
                                                              response=response))

    async def reject(self, approval_id: str, *, reason: str | None = None) -> Approval:
        return await self._call(self.engine.approvals.reject(approval_id, self.actor,
                                                             reason=reason))

    async def cancel_task(self, task_id: str, reason: str | None = None) -> Task:
        return await self._call(self.engine.tasks.cancel(task_id, self.actor, reason))

    async def retry_task(self, task_id: str) -> Task:
        return await self._call(self.engine.tasks.retry(task_id, self.actor))

    async def set_task_priority(self, task_id: str, priority: str) -> Task:
        return await self._call(self.engine.tasks.set_priority(task_id, priority, self.actor))

    async def start_run(self, orchestration_id: str, message: str) -> Run:
        runs = self._runs()
        registry = getattr(self.engine, "orchestrations", None)
        orchestration = registry.get(orchestration_id) if registry is not None else None
        if orchestration is None:
            raise BackendError(f"orchestration {orchestration_id!r} not found", status=404)
        return await self._call(runs.start(orchestration, message, actor=self.actor))

    async def resume_run(self, run_id: str, response: Any) -> Run:
        return await self._call(self._runs().resume(run_id, response, self.actor))

    async def cancel_run(self, run_id: str) -> Run:
        return await self._call(self._runs().cancel(run_id, self.actor))

    async def retry_run(self, run_id: str) -> Run:
        return await self._call(self._runs().retry(run_id, self.actor))

    # -- live -------------------------------------------------------------------------------
    async def stream(self, after_seq: int | None = None, *, coalesce: float = 0.1
                     ) -> AsyncIterator[StreamItem]:
        bus = self.engine.bus
        sub = await bus.subscribe(after_seq, max_buffer=50_000)
        self.state = ConnectionState.CONNECTED
        self.last_seq = max(self.last_seq, sub.last_seq)
        yield StreamItem([], self.state, self.last_seq)
        try:
            while True:
                first = await sub.next(timeout=5.0)
                if first is None:
                    continue
                if first.event_type == DROPPED:
                    # we fell behind (the UI was blocked): resume from what we have
                    sub.close()
                    self.state = ConnectionState.RECONNECTING
                    yield StreamItem([], self.state, self.last_seq)
                    sub = await bus.subscribe(self.last_seq, max_buffer=50_000)
                    self.state = ConnectionState.CONNECTED
                    yield StreamItem([], self.state, self.last_seq)
                    continue
                batch = [first]
                if coalesce > 0:
                    await asyncio.sleep(coalesce)
                batch.extend(sub.drain_nowait())
                self.last_seq = max(self.last_seq, batch[-1].seq)
                yield StreamItem(batch, self.state, self.last_seq)
        finally:
            sub.close()


def _problem_text(problem: Any) -> str:
    path = getattr(problem, "path", None)
    message = getattr(problem, "message", None)
    if message is None:
        return str(problem)
    line = getattr(problem, "line", None)
    where = f"line {line}: " if line else ""
    return f"{where}{path or '<document>'}: {message}"


def _file_of(registry: Any, orch: Any) -> str:
    file_of = getattr(registry, "file_of", None)
    if callable(file_of):
        found = file_of(orch.id)
        if found:
            return str(found)
    return str(getattr(orch, "source", "") or "")


@dataclass
class CallbackService:
    """Something started and stopped with the app (the demo, a test's seeding step)."""

    start_fn: Callable[[], Awaitable[None]] | None = None
    stop_fn: Callable[[], Awaitable[None]] | None = None
    name: str = "service"
    _started: bool = field(default=False, init=False)

    async def start(self) -> None:
        if self.start_fn is not None:
            await self.start_fn()
        self._started = True

    async def stop(self) -> None:
        if self._started and self.stop_fn is not None:
            with contextlib.suppress(Exception):
                await self.stop_fn()
        self._started = False
