"""Engine view queries: what an operator's console shows, computed once, in the engine.

Why here and not in the console: the in-process console and a console attached over HTTP
must show the same thing, and the expensive link is the network. Each view is one read op
on one snapshot of the store (``Store.read``), so its numbers agree with each other (the
overview's task counts, approval counts and series are of the same instant, and name the
event ``last_seq`` they include: a client applies live events after it). The server serves
them under ``/api/v1/views/...``; the console converts them to its screens' rows.

Searches cover the whole store, not a recent window: a task page's ``text`` matches every
word against each task's id and the fields an operator reads, and ``find`` resolves the
short id the console shows (any part of an id) to the ids that contain it.

No view reveals a server file path: an orchestration's ``source`` is relative to the
definitions folder (issue 12).
"""

from __future__ import annotations

import os
from typing import Any, Final, Literal

import msgspec

from switchboard.engine.clock import Clock
from switchboard.engine.errors import ValidationFailed
from switchboard.engine.events import EventFilter, event_from_row
from switchboard.engine.models import PRIORITIES, RUN_STATUSES, TASK_STATUSES, Event, Task
from switchboard.engine.orchestrations.definitions import DefinitionProblem, Orchestration
from switchboard.engine.orchestrations.registry import DefinitionRegistry
from switchboard.engine.rows import task_from_row
from switchboard.engine.stats import StatsService
from switchboard.engine.store.base import ReadConn, Store
from switchboard.engine.store.queries import F, Many, Q
from switchboard.engine.tasks import UNFINISHED, task_filters

SERIES_MINUTES: Final = 60
MAX_TASK_PAGE: Final = 1000
MAX_EVENT_PAGE: Final = 1000
MAX_TEXT: Final = 200
MAX_WORDS: Final = 10
FindKind = Literal["task", "run", "agent", "approval"]
_FIND: Final[dict[str, Q]] = {"task": Q.view_task_ids, "run": Q.view_run_ids,
                              "agent": Q.view_agent_ids, "approval": Q.view_approval_ids}


class PriorityLoad(msgspec.Struct, frozen=True):
    """Tasks of one priority waiting for a worker (pending, awaiting approval, assigned)
    and being worked on (in progress)."""

    waiting: int = 0
    processing: int = 0


class Overview(msgspec.Struct, frozen=True, kw_only=True):
    """The overview screen, from one snapshot. Every status, priority and run status is a
    key (zero when none); series are per minute over the last hour, oldest first."""

    at: float
    """Engine time of the snapshot (epoch seconds)."""
    last_seq: int
    """The newest event the snapshot includes: apply live events after it."""
    tasks_by_status: dict[str, int]
    tasks_by_priority: dict[str, PriorityLoad]
    total_tasks: int
    approvals_waiting: int
    approvals_by_priority: dict[str, int]
    agents_by_health: dict[str, int]
    agents_total: int
    runs_by_status: dict[str, int]
    throughput: list[int]
    """Tasks completed per minute."""
    created: list[int]
    """Tasks created per minute."""
    failed: list[int]
    """Tasks failed per minute."""


class TaskFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which tasks a view shows. All given conditions hold at once.

    ``status`` is a task status or ``running`` (in progress); ``text`` is words that must
    each appear (case-insensitively) in a task's id, type, status, priority, agent type,
    claiming or target agent, source or run id. No status: the operator's default view.
    """

    status: str | None = None
    priority: str | None = None
    type: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    text: str = ""


class TaskPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of a task view: every unfinished task most urgent first (priority, then
    oldest), then the finished ones most recently created first."""

    tasks: list[Task]
    total: int
    """How many tasks match the filter (``tasks`` is ``limit`` of them from ``offset``)."""
    by_status: dict[str, int]
    """How many matching tasks are in each status."""
    offset: int
    limit: int
    last_seq: int


class OrchestrationInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One definition, or one file that does not load, as the orchestrations screen lists it.

    ``source`` is the file's path relative to the definitions folder. ``problems`` (each
    ``line N: path: message``) non-empty means the file is broken; when it defined ``id``
    before, that last good version stays current and runs."""

    id: str
    name: str
    description: str = ""
    steps: int = 0
    source: str = ""
    version: str = ""
    problems: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems


class EventQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which events to scroll through: type prefixes (any), ids, and words that must each
    appear in the event's type, seq, source, ids or payload."""

    types: tuple[str, ...] = ()
    task_id: str | None = None
    run_id: str | None = None
    agent_id: str | None = None
    text: str = ""


class EventPage(msgspec.Struct, frozen=True, kw_only=True):
    """Matching events just before a point, oldest first. ``before`` is what to pass to go
    further back (None: there is nothing older)."""

    events: list[Event]
    before: int | None


class IdMatches(msgspec.Struct, frozen=True, kw_only=True):
    """Ids of ``kind`` that contain ``text``, newest first; ``more`` when over ``limit``."""

    kind: str
    text: str
    ids: list[str]
    more: bool


class ViewService:
    """The console's reads. Attached as ``engine.views``."""

    def __init__(self, store: Store, clock: Clock, stats: StatsService,
                 definitions: DefinitionRegistry) -> None:
        self.store = store
        self.clock = clock
        self.stats = stats
        self.definitions = definitions

    # -- overview ---------------------------------------------------------------------------
    async def overview(self) -> Overview:
        """Counts and series for the overview screen, all of one snapshot."""
        now = self.clock.now()
        first_minute = int(now // 60) - SERIES_MINUTES + 1

        def read(conn: ReadConn) -> Overview:
            by_status = dict.fromkeys((s.value for s in TASK_STATUSES), 0)
            load = {p: [0, 0] for p in PRIORITIES}
            for status, priority, count in conn.all(Q.stats_tasks_by_status_priority):
                by_status[status] = by_status.get(status, 0) + count
                slot = load.setdefault(priority, [0, 0])
                if status == "in_progress":
                    slot[1] += count
                elif status in UNFINISHED:
                    slot[0] += count
            approvals = dict.fromkeys(PRIORITIES, 0)
            approvals.update(_counts(conn, Q.view_approvals_by_priority))
            health = _counts(conn, Q.view_agents_by_health)
            runs = dict.fromkeys((s.value for s in RUN_STATUSES), 0)
            runs.update(_counts(conn, Q.view_runs_by_status))
            series = self.stats.minute_series(conn, first_minute, SERIES_MINUTES)
            last = conn.one(Q.event_last_seq)
            return Overview(
                at=now, last_seq=int(last[0] or 0) if last else 0,
                tasks_by_status=by_status,
                tasks_by_priority={p: PriorityLoad(w, r) for p, (w, r) in load.items()},
                total_tasks=sum(by_status.values()),
                approvals_waiting=sum(approvals.values()), approvals_by_priority=approvals,
                agents_by_health=health, agents_total=sum(health.values()),
                runs_by_status=runs,
                throughput=[m.completed for m in series], created=[m.created for m in series],
                failed=[m.failed for m in series])

        return await self.store.read(read)

    # -- tasks ------------------------------------------------------------------------------
    async def tasks(self, flt: TaskFilter | None = None, *, offset: int = 0,
                    limit: int = 100) -> TaskPage:
        """A page of a task view over the whole store (see ``TaskPage`` for the order)."""
        flt = flt or TaskFilter()
        if not 1 <= limit <= MAX_TASK_PAGE:
            raise ValidationFailed("limit", f"must be between 1 and {MAX_TASK_PAGE}")
        if offset < 0:
            raise ValidationFailed("offset", "must be 0 or more")
        where, params = task_filters(flt.status, flt.priority, flt.agent_id, flt.type,
                                     flt.run_id)
        words = _words(flt.text)
        if words:
            where.append(F.task_words)
            params["words"] = Many(words)
        status = params.get("status")
        show_unfinished = status is None or status in UNFINISHED
        show_finished = status is None or status not in UNFINISHED

        def read(conn: ReadConn) -> TaskPage:
            counts = dict(_counts(conn, Q.view_task_counts, params, where))
            unfinished = sum(n for s, n in counts.items() if s in UNFINISHED)
            finished = sum(counts.values()) - unfinished
            rows: list[Any] = []
            if show_unfinished and offset < unfinished:
                rows += conn.all(Q.view_tasks_unfinished, {
                    **params, "limit": min(limit, unfinished - offset), "offset": offset},
                    where=where)
            room, skip = limit - len(rows), max(offset - unfinished, 0)
            if show_finished and room > 0 and skip < finished:
                rows += conn.all(Q.view_tasks_finished,
                                 {**params, "limit": room, "offset": skip}, where=where)
            last = conn.one(Q.event_last_seq)
            return TaskPage(tasks=[task_from_row(r) for r in rows],
                            total=unfinished + finished, by_status=counts, offset=offset,
                            limit=limit, last_seq=int(last[0] or 0) if last else 0)

        return await self.store.read(read)

    async def find(self, kind: FindKind, text: str, *, limit: int = 10) -> IdMatches:
        """Ids of ``kind`` containing ``text`` (the console's short id is an id's tail; a
        full id or any part of one works too), newest first: ``:task 3k7q`` resolves when
        exactly one matches."""
        query = _FIND.get(kind)
        if query is None:
            raise ValidationFailed("kind", f"use one of {', '.join(_FIND)}")
        needle = text.strip()
        if not needle:
            raise ValidationFailed("text", "give part of an id")
        if len(needle) > MAX_TEXT:
            raise ValidationFailed("text", f"must be at most {MAX_TEXT} characters")
        if not 1 <= limit <= 100:
            raise ValidationFailed("limit", "must be between 1 and 100")
        rows = await self.store.read(
            lambda conn: conn.all(query, {"text": needle, "limit": limit + 1}))
        ids = [str(r[0]) for r in rows]
        return IdMatches(kind=kind, text=needle, ids=ids[:limit], more=len(ids) > limit)

    # -- events -----------------------------------------------------------------------------
    async def events(self, query: EventQuery | None = None, *, before: int | None = None,
                     limit: int = 200) -> EventPage:
        """The newest ``limit`` matching events with a seq below ``before`` (None: the
        newest of all), oldest first: scrolling back through history."""
        query = query or EventQuery()
        if not 1 <= limit <= MAX_EVENT_PAGE:
            raise ValidationFailed("limit", f"must be between 1 and {MAX_EVENT_PAGE}")
        if before is not None and before < 1:
            raise ValidationFailed("before", "must be a seq of 1 or more")
        where, params = EventFilter(types=query.types, task_id=query.task_id,
                                    run_id=query.run_id, agent_id=query.agent_id).where()
        words = _words(query.text)
        if words:
            where.append(F.event_words)
            params["words"] = Many(words)
        params.update(after=0, before=before if before is not None else 2**62,
                      limit=limit + 1)
        rows = await self.store.read(lambda conn: conn.all(Q.event_before, params,
                                                           where=where))
        events = [event_from_row(r) for r in rows[:limit]]
        events.reverse()
        return EventPage(events=events,
                         before=events[0].seq if len(rows) > limit and events else None)

    # -- orchestrations ---------------------------------------------------------------------
    def orchestrations(self) -> list[OrchestrationInfo]:
        """Every current definition and every file that does not load, by id then file."""
        registry = self.definitions
        problems: dict[str, list[str]] = {}
        for problem in registry.problems():
            problems.setdefault(problem.file, []).append(self._hide_folder(
                _problem_text(problem)))
        out: list[OrchestrationInfo] = []
        claimed: set[str] = set()
        for orch in registry.list():
            file = registry.file_of(orch.id) or orch.source
            claimed.add(file)
            out.append(_info(orch, self._relative(file), tuple(problems.get(file, ()))))
        for file, texts in sorted(problems.items()):
            if file not in claimed:
                name = self._relative(file)
                out.append(OrchestrationInfo(id=name, name=name, source=name,
                                             problems=tuple(texts)))
        return out

    def _relative(self, file: str) -> str:
        """``file`` relative to the definitions folder (the folder itself: its name); its
        name alone if it is outside."""
        if not file:
            return ""
        folder = os.path.abspath(self.definitions.directory)
        relative = os.path.relpath(os.path.abspath(file), folder)
        if relative == ".":
            return os.path.basename(folder)
        return os.path.basename(file) if relative.startswith("..") else relative

    def _hide_folder(self, text: str) -> str:
        """A problem's text with the definitions folder's absolute path taken out."""
        folder = os.path.abspath(self.definitions.directory)
        return text.replace(folder + os.sep, "").replace(folder, os.path.basename(folder))


def _info(orch: Orchestration, source: str, problems: tuple[str, ...]) -> OrchestrationInfo:
    return OrchestrationInfo(id=orch.id, name=orch.title, description=orch.description,
                             steps=len(orch.steps), source=source, version=orch.version,
                             problems=problems)


def _problem_text(problem: DefinitionProblem) -> str:
    where = f"line {problem.line}: " if problem.line else ""
    return f"{where}{problem.path or '<document>'}: {problem.message}"


def _counts(conn: ReadConn, query: Q, params: dict[str, Any] | None = None,
            where: list[F] | None = None) -> dict[str, int]:
    return {str(key): int(count)
            for key, count in conn.all(query, params or {}, where=where or ())}


def _words(text: str) -> tuple[str, ...]:
    if len(text) > MAX_TEXT:
        raise ValidationFailed("text", f"must be at most {MAX_TEXT} characters")
    words = tuple(dict.fromkeys(word.lower() for word in text.split()))
    if len(words) > MAX_WORDS:
        raise ValidationFailed("text", f"use at most {MAX_WORDS} words")
    return words
