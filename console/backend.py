"""The console's one way to the engine: the ``Backend`` interface and its in-process version.

Why one interface: every screen must work both inside ``switchboard up`` (same event loop as
the engine) and in ``switchboard attach URL`` (over the HTTP API and its event stream). Screens
only ever talk to a ``Backend``; they never import engine services.

What crosses the interface: the wire contract's records (``server.contract``: ``Task``,
``Agent``, ``Approval``, ``Event``, ``Run``, and the operator views ``Overview``,
``TaskViewPage``, ``OrchestrationInfo``). The in-process backend builds them with the
server's own converters (``server.convert``) from the engine's view queries and records; the
remote backend receives them from the SDK. One shape, built once, so the screens cannot tell
the two apart. Every failure a screen should show is a ``BackendError`` with ``detail``
written for the operator (and ``status``/``field`` when known).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from switchboard.engine.actors import Actor
from switchboard.engine.engine import Engine
from switchboard.engine.errors import EngineError, ValidationFailed
from switchboard.engine.events import DROPPED
from switchboard.engine.views import EventQuery, FindKind, TaskFilter
from switchboard.server import convert
from switchboard.server.contract import (
    Agent,
    Approval,
    Event,
    IdMatches,
    OrchestrationInfo,
    Overview,
    Run,
    Task,
    TaskViewPage,
)

T = TypeVar("T")

TaskPage = TaskViewPage
"""A page of a task view (``tasks`` and ``total``, the count of all that match)."""
MAX_LIST = 100
"""The most agents or runs one read returns (the API's page size)."""


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
class TaskView:
    """Which tasks a screen wants. ``status=None`` means the operator's default: every
    unfinished task (most urgent first) followed by the most recently created finished ones.
    ``text``: words that must each appear in a task's id or the fields an operator reads."""

    status: str | None = None
    priority: str | None = None
    type: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    text: str = ""
    limit: int = 500


@dataclass(frozen=True)
class DecisionResult:
    """What one approve/reject did. ``status`` is the approval's status afterwards:
    ``pending`` means the vote counted toward a quorum but did not decide it (``progress``
    says how far: "1 of 2"), which must never be reported as "approved"."""

    approval_id: str
    status: str
    progress: str = ""

    @property
    def final(self) -> bool:
        return self.status != "pending"

    def words(self, action: str) -> str:
        """``approved``; ``approved 1 of 2, still pending`` for a vote short of a quorum;
        ``rejected``/``rejection counted, still pending`` likewise (``action``: approve or
        reject, what was asked)."""
        if self.final:
            return self.status
        if action == "approve":
            return f"approved {self.progress}, still pending".replace("  ", " ")
        return "rejection counted, still pending"


@dataclass(frozen=True)
class StreamItem:
    """One coalesced batch from the live stream (possibly empty: a state change)."""

    events: list[Event]
    state: ConnectionState
    last_seq: int


@dataclass
class Capabilities:
    runs: bool = True
    embedded: bool = False  # True: quitting the console stops the engine


class Backend(abc.ABC):
    """Everything the console's screens read and do. See the module docstring.

    Actions answer nothing: what they changed reaches the screens as events, and a screen
    reloads what it shows after one.
    """

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
    async def tasks(self, view: TaskView) -> TaskViewPage: ...

    @abc.abstractmethod
    async def task(self, task_id: str) -> Task:
        """One task with its logs."""

    @abc.abstractmethod
    async def agents(self) -> list[Agent]:
        """Up to ``MAX_LIST`` agents."""

    @abc.abstractmethod
    async def agent(self, agent_id: str) -> Agent: ...

    @abc.abstractmethod
    async def pending_approvals(self, *, mine: bool = False) -> list[Approval]:
        """Every pending approval, most critical first, then oldest first; ``mine``: only
        those this console's principal may decide as an assignee or listed decider (not as
        an admin breaking glass), the inbox's "mine" view (issue 14)."""

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
                   limit: int = MAX_LIST) -> list[Run]:
        """Newest first, at most ``MAX_LIST``."""

    @abc.abstractmethod
    async def run(self, run_id: str) -> Run: ...

    @abc.abstractmethod
    async def orchestrations(self) -> list[OrchestrationInfo]: ...

    @abc.abstractmethod
    async def find(self, kind: FindKind, text: str, *, limit: int = 10) -> IdMatches:
        """Ids of ``kind`` containing ``text``, newest first, over the whole store."""

    # -- actions ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def approve(self, approval_id: str, *, response: Any = None) -> DecisionResult: ...

    @abc.abstractmethod
    async def reject(self, approval_id: str, *, reason: str | None = None
                     ) -> DecisionResult: ...

    async def submit_gate(self, approval_id: str, response: dict[str, Any]) -> DecisionResult:
        """Answer a human gate's form: an approval carrying the form's values."""
        return await self.approve(approval_id, response=response)

    @abc.abstractmethod
    async def cancel_task(self, task_id: str, reason: str | None = None) -> None: ...

    @abc.abstractmethod
    async def retry_task(self, task_id: str) -> None: ...

    @abc.abstractmethod
    async def set_task_priority(self, task_id: str, priority: str) -> None: ...

    @abc.abstractmethod
    async def start_run(self, orchestration_id: str, message: str) -> str:
        """Start a run; its id."""

    @abc.abstractmethod
    async def resume_run(self, run_id: str, response: Any) -> None: ...

    @abc.abstractmethod
    async def cancel_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    async def retry_run(self, run_id: str) -> None: ...

    # -- live -------------------------------------------------------------------------------
    @abc.abstractmethod
    def stream(self, after_seq: int | None = None, *, coalesce: float = 0.1
               ) -> AsyncIterator[StreamItem]:
        """Committed events after ``after_seq`` (None: from now), in coalesced batches.

        The first item is an empty one announcing the connection state; on a reconnect an
        empty item with ``RECONNECTING`` is yielded, then the stream resumes from the last
        seq it delivered (no gap, no duplicate). Runs until closed or cancelled.
        """


def decision_result(record: Any) -> DecisionResult:
    """An engine approval record after a decision, as a ``DecisionResult``."""
    quorum = record.quorum > 1 or record.reject_quorum > 1
    return DecisionResult(record.approval_id, str(record.status),
                          record.progress if quorum else "")


def task_filter(view: TaskView) -> TaskFilter:
    return TaskFilter(status=view.status, priority=view.priority, type=view.type,
                      agent_id=view.agent_id, run_id=view.run_id, text=view.text)


class InProcessBackend(Backend):
    """The backend of ``switchboard up``: direct calls into an ``Engine`` on the same loop.

    ``own_engine=True`` makes ``start``/``close`` start and stop the engine (tests and the
    snapshot harness, which run the app in its own event loop); the CLI starts the engine
    itself and leaves it False.
    """

    def __init__(self, engine: Engine, actor: Actor | None = None, *,
                 address: str = "in-process", own_engine: bool = False) -> None:
        super().__init__()
        self.engine = engine
        self.actor = actor or Actor("console", "admin", "console")
        self.actor_name = self.actor.name
        self.address = address
        self.own_engine = own_engine
        self.capabilities = Capabilities(runs=True, embedded=True)

    @staticmethod
    async def _call(coro: Awaitable[T]) -> T:
        try:
            return await coro
        except EngineError as exc:
            field = exc.field if isinstance(exc, ValidationFailed) else None
            raise BackendError(exc.detail, status=exc.status, field=field) from None

    def _now(self) -> float:
        return self.engine.clock.now()

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self.own_engine and not self.engine.started:
            await self.engine.start()
        self.last_seq = self.engine.bus.last_seq

    async def close(self) -> None:
        self.state = ConnectionState.DISCONNECTED
        if self.own_engine:
            await self.engine.stop()

    # -- reads ------------------------------------------------------------------------------
    async def overview(self) -> Overview:
        return convert.overview(await self.engine.views.overview())

    async def tasks(self, view: TaskView) -> TaskViewPage:
        page = await self._call(self.engine.views.tasks(task_filter(view), limit=view.limit))
        return convert.task_view_page(page, self._now())

    async def task(self, task_id: str) -> Task:
        return convert.task(await self._call(self.engine.tasks.get(task_id)), self._now())

    async def agents(self) -> list[Agent]:
        now = self._now()
        return [convert.agent(a, now) for a in (await self.engine.agents.all())[:MAX_LIST]]

    async def agent(self, agent_id: str) -> Agent:
        return convert.agent(await self._call(self.engine.agents.get(agent_id)), self._now())

    async def pending_approvals(self, *, mine: bool = False) -> list[Approval]:
        service = self.engine.approvals
        records = await (service.pending_for(self.actor) if mine else service.pending())
        return [convert.approval(a) for a in records]

    async def approval_history(self, limit: int = 50) -> list[Approval]:
        records = await self._call(self.engine.approvals.history(limit))
        return [convert.approval(a) for a in records]

    async def approval(self, approval_id: str) -> Approval:
        return convert.approval(await self._call(self.engine.approvals.get(approval_id)))

    async def recent_events(self, limit: int = 200, *, types: tuple[str, ...] = (),
                            run_id: str | None = None, task_id: str | None = None) -> list[Event]:
        page = await self._call(self.engine.views.events(
            EventQuery(types=types, run_id=run_id, task_id=task_id), limit=limit))
        return [convert.event(e) for e in page.events]

    async def runs(self, *, status: str | None = None, orchestration_id: str | None = None,
                   limit: int = MAX_LIST) -> list[Run]:
        records = await self._call(self.engine.runs.list(
            status=status, orchestration_id=orchestration_id, limit=min(limit, MAX_LIST)))
        return [convert.run(r) for r in records]

    async def run(self, run_id: str) -> Run:
        return convert.run(await self._call(self.engine.runs.get(run_id)))

    async def orchestrations(self) -> list[OrchestrationInfo]:
        return [convert.orchestration_info(i) for i in self.engine.views.orchestrations()]

    async def find(self, kind: FindKind, text: str, *, limit: int = 10) -> IdMatches:
        return convert.id_matches(await self._call(self.engine.views.find(kind, text,
                                                                          limit=limit)))

    # -- actions ----------------------------------------------------------------------------
    async def approve(self, approval_id: str, *, response: Any = None) -> DecisionResult:
        return decision_result(await self._call(self.engine.approvals.approve(
            approval_id, self.actor, response=response)))

    async def reject(self, approval_id: str, *, reason: str | None = None) -> DecisionResult:
        return decision_result(await self._call(self.engine.approvals.reject(
            approval_id, self.actor, reason=reason)))

    async def cancel_task(self, task_id: str, reason: str | None = None) -> None:
        await self._call(self.engine.tasks.cancel(task_id, self.actor, reason))

    async def retry_task(self, task_id: str) -> None:
        await self._call(self.engine.tasks.retry(task_id, self.actor))

    async def set_task_priority(self, task_id: str, priority: str) -> None:
        await self._call(self.engine.tasks.set_priority(task_id, priority, self.actor))

    async def start_run(self, orchestration_id: str, message: str) -> str:
        orchestration = self.engine.orchestrations.get(orchestration_id)
        if orchestration is None:
            raise BackendError(f"orchestration {orchestration_id!r} not found", status=404)
        run = await self._call(self.engine.runs.start(orchestration, message, actor=self.actor))
        return run.run_id

    async def resume_run(self, run_id: str, response: Any) -> None:
        await self._call(self.engine.runs.resume(run_id, response, self.actor))

    async def cancel_run(self, run_id: str) -> None:
        await self._call(self.engine.runs.cancel(run_id, self.actor))

    async def retry_run(self, run_id: str) -> None:
        await self._call(self.engine.runs.retry(run_id, self.actor))

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
                yield StreamItem([convert.event(e) for e in batch], self.state, self.last_seq)
        finally:
            sub.close()


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
