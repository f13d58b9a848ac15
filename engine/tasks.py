"""Tasks: creation and routing, the P0/P1 approval gate, dispatch with leases, outcomes.

Every change is one write op committed through the store's group commit before the caller
hears about it. Dispatch is pull-based (workers claim), with long-poll waiters per agent
type woken right after a task for that type is committed as ``assigned``.

This service owns the ``tasks`` and ``task_logs`` tables. What a change does to other
services' tables (an agent's running count, a P0 task's approval, the per-minute series)
goes through their in-transaction methods (``engine.ports``), in the same write op.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from switchboard.engine import audit, ownership
from switchboard.engine.actors import SYSTEM, Actor
from switchboard.engine.clock import Clock, parse_iso
from switchboard.engine.config import Config
from switchboard.engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from switchboard.engine.events import EventBus, EventFilter
from switchboard.engine.ids import new_id
from switchboard.engine.models import (
    TASK_STATUSES,
    TASK_TRANSITIONS,
    TERMINAL_TASK_STATUSES,
    Task,
    TaskLog,
    TaskStatus,
    normalize_priority,
)
from switchboard.engine.ports import Peers
from switchboard.engine.rows import encode, task_from_row, task_insert_params
from switchboard.engine.store.base import ReadConn, Store, Tx, replayable
from switchboard.engine.store.queries import F, Many, Q

log = logging.getLogger("switchboard.tasks")

LOG_LEVELS = ("debug", "info", "warning", "error")
UNFINISHED = tuple(s for s in TaskStatus if s not in TERMINAL_TASK_STATUSES)
KIND_FILTERS = frozenset({F.task_status, F.task_priority, F.task_type})
"""Filters a page's total can be read from kept counts (``Q.task_count_by_kind``)."""


@dataclass
class TaskSpec:
    """A request to create a task (validated by ``TaskService.create``)."""

    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    priority: str = "P2"
    source: str | None = None
    sla_target: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    agent_id: str | None = None
    idempotency_key: str | None = None
    schedule: dict[str, Any] | None = None
    max_attempts: int | None = None
    run_id: str | None = None
    step_id: str | None = None
    approval_reason: str | None = None


@dataclass(frozen=True)
class TaskQuery:
    """Seed 001's list filters."""

    agent_id: str | None = None
    status: str | None = None
    priority: str | None = None
    type: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    run_id: str | None = None
    page: int = 1
    limit: int = 20
    statuses: tuple[str, ...] = ()
    """Any of these statuses (a dialect's word covering several of ours, e.g. seed 001's
    ``pending`` = pending, awaiting_approval, assigned); ANDed with ``status``."""


def _task_event_payload(task: Task, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task_id": task.id, "type": task.type, "status": task.status,
        "priority": task.priority, "assigned_agent": task.assigned_agent,
    }
    body.update(extra)
    return body


def load_task(conn: ReadConn, task_id: str, *, with_logs: bool = False) -> Task:
    row = conn.one(Q.task_by_id, {"id": task_id})
    if row is None:
        raise NotFound(f"task {task_id!r} not found")
    logs = None
    if with_logs:
        logs = [TaskLog(timestamp=r[0], level=r[1], message=r[2])
                for r in conn.all(Q.task_logs, {"task_id": task_id})]
    return task_from_row(row, logs)


def load_task_with_logs(conn: ReadConn, task_id: str) -> Task:
    """A task and its logs from one statement (``Q.task_with_logs``: one row per log line,
    the task's columns first), so a read needs no transaction around two statements."""
    rows = conn.all(Q.task_with_logs, {"id": task_id})
    if not rows:
        raise NotFound(f"task {task_id!r} not found")
    logs = [TaskLog(timestamp=r[-3], level=r[-2], message=r[-1])
            for r in rows if r[-2] is not None]
    return task_from_row(rows[0][:-3], logs)


def _log(tx: Tx, task_id: str, level: str, message: str) -> None:
    tx.run(Q.task_log_insert, {"task_id": task_id, "timestamp": tx.now, "level": level,
                               "message": message})


def _check_transition(task: Task, target: str) -> None:
    if target not in TASK_TRANSITIONS[task.status]:
        allowed = ", ".join(sorted(TASK_TRANSITIONS[task.status])) or "none (final)"
        raise Conflict(
            f"task {task.id} is {task.status}; cannot move to {target} (allowed: {allowed})"
        )


class TaskService:
    """The task queue. Construct through ``engine.Engine``."""

    def __init__(self, store: Store, bus: EventBus, config: Config, clock: Clock,
                 peers: Peers) -> None:
        self.store = store
        self.bus = bus
        self.config = config
        self.clock = clock
        self.peers = peers
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._background: set[asyncio.Future[Task]] = set()

    # -- routing ---------------------------------------------------------------------------
    def route(self, task_type: str) -> str | None:
        return self.config.routing.table.get(task_type) or (
            self.config.routing.default_agent_type or None
        )

    def _wake(self, agent_type: str, count: int = 1) -> None:
        waiters = self._waiters.get(agent_type)
        while waiters and count > 0:
            future = waiters.pop(0)
            if not future.done():
                future.set_result(None)
                count -= 1

    def _wake_after(self, tx: Tx, agent_type: str) -> None:
        tx.after_commit(lambda: self._wake(agent_type))

    # -- create ----------------------------------------------------------------------------
    def _validate(self, spec: TaskSpec, now: float) -> tuple[str, float, dict[str, Any] | None]:
        if not isinstance(spec.type, str) or not spec.type.strip():
            raise ValidationFailed("type", "must be a non-empty string")
        try:
            priority = normalize_priority(spec.priority)
        except (ValueError, AttributeError) as exc:
            raise ValidationFailed("priority", str(exc)) from None
        if spec.sla_target is not None and spec.sla_target <= 0:
            raise ValidationFailed("sla_target", "must be a positive number of seconds")
        if spec.max_attempts is not None and not 1 <= spec.max_attempts <= 100:
            raise ValidationFailed("max_attempts", "must be between 1 and 100")
        available = now
        schedule = spec.schedule
        if schedule is not None:
            kind = schedule.get("type", "immediate")
            if kind == "immediate":
                pass
            elif kind in ("scheduled", "at", "delayed"):
                if "at" in schedule:
                    try:
                        available = parse_iso(str(schedule["at"]))
                    except ValueError:
                        raise ValidationFailed(
                            "schedule.at", "must be an ISO-8601 time like 2026-01-01T10:00:00Z"
                        ) from None
                elif "delay_seconds" in schedule:
                    delay = schedule["delay_seconds"]
                    if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
                        raise ValidationFailed("schedule.delay_seconds", "must be >= 0")
                    available = now + float(delay)
                else:
                    raise ValidationFailed(
                        "schedule", f"type {kind!r} needs 'at' (ISO time) or 'delay_seconds'"
                    )
            else:
                raise ValidationFailed(
                    "schedule.type", f"unknown {kind!r}; use immediate, scheduled or delayed"
                )
        size = len(encode(spec.payload))
        if size > self.config.tasks.max_payload_bytes:
            raise ValidationFailed(
                "payload", f"{size} bytes is over the {self.config.tasks.max_payload_bytes} limit"
            )
        return priority, available, schedule

    async def create(self, spec: TaskSpec, actor: Actor = SYSTEM) -> tuple[Task, bool]:
        """Create (or, for a known idempotency key, return) a task. -> (task, created)."""
        priority, available_at, schedule = self._validate(spec, self.clock.now())
        agent_type = self.route(spec.type)
        if agent_type is None and spec.agent_id is None:
            known = ", ".join(sorted(self.config.routing.table))
            raise ValidationFailed(
                "type", f"unknown task type {spec.type!r}; known types: {known}"
            )
        needs_approval = priority in self.config.tasks.approval_priorities

        def op(tx: Tx) -> tuple[Task, bool]:
            if spec.idempotency_key:
                row = tx.one(Q.task_id_by_key, {"key": spec.idempotency_key})
                if row is not None:
                    return load_task(tx, row[0]), False
            routed = agent_type
            if spec.agent_id is not None:
                routed = self.peers.agents.type_of(tx, spec.agent_id)
                if routed is None:
                    raise ValidationFailed("agent_id", f"no agent {spec.agent_id!r}")
            assert routed is not None
            now = tx.now
            future = available_at > now + 0.001
            status = (TaskStatus.AWAITING_APPROVAL if needs_approval
                      else TaskStatus.PENDING if future else TaskStatus.ASSIGNED)
            task = Task(
                id=new_id("task"), type=spec.type, priority=priority, status=status,
                assigned_agent=routed, payload=spec.payload, source=spec.source,
                sla_target=spec.sla_target, metadata=spec.metadata, agent_id=spec.agent_id,
                max_attempts=spec.max_attempts or self.config.tasks.max_attempts,
                idempotency_key=spec.idempotency_key, schedule=schedule, run_id=spec.run_id,
                step_id=spec.step_id, available_at=max(available_at, now), created_at=now,
                updated_at=now, created_by=actor.name,
                approval_id=new_id("approval") if needs_approval else None,
            )
            if not tx.run(Q.task_insert, task_insert_params(task)):
                # a replica committed this key after our lookup (PostgreSQL's insert does
                # nothing on that conflict): the same answer as a key found above
                row = tx.one(Q.task_id_by_key, {"key": spec.idempotency_key})
                assert row is not None
                return load_task(tx, row[0]), False
            self.peers.metrics.note_created(tx)
            tx.emit("task.created", _task_event_payload(task, created_by=actor.name),
                    task_id=task.id, run_id=task.run_id, trace_id=task.trace_id,
                    priority=priority)
            if needs_approval:
                self.peers.approvals.open_for_task(
                    tx, task, requested_by=actor.name, reason=spec.approval_reason
                    or f"{priority} {spec.type} task requires human approval")
            elif status == "assigned":
                tx.emit("task.assigned", _task_event_payload(task), task_id=task.id,
                        run_id=task.run_id, trace_id=task.trace_id, priority=priority,
                        agent_id=task.agent_id)
                self._wake_after(tx, routed)
            return task, True

        return await self.store.write(replayable(op))

    # -- reads -----------------------------------------------------------------------------
    async def get(self, task_id: str) -> Task:
        return await self.store.read(lambda c: load_task_with_logs(c, task_id), inline=True,
                                     single=True)

    async def list(self, query: TaskQuery) -> tuple[list[Task], int]:
        """Filtered, newest first, paged (limit 1..100). -> (page of tasks, total matching)."""
        where, params = task_filters(query.status, query.priority, query.agent_id, query.type,
                                     query.run_id)
        if query.created_after is not None:
            where.append(F.task_created_after)
            params["created_after"] = query.created_after
        if query.created_before is not None:
            where.append(F.task_created_before)
            params["created_before"] = query.created_before
        if query.statuses:
            unknown = [s for s in query.statuses if s not in TASK_STATUSES]
            if unknown:
                raise ValidationFailed("status", f"unknown {unknown[0]!r}; use "
                                       f"{', '.join(TASK_STATUSES)}")
            where.append(F.task_statuses)
            params["statuses"] = Many(query.statuses)
        if not 1 <= query.limit <= 100:
            raise ValidationFailed("limit", "must be between 1 and 100")
        if query.page < 1:
            raise ValidationFailed("page", "must be 1 or more")
        params["limit"], params["offset"] = query.limit, (query.page - 1) * query.limit

        by_kind = KIND_FILTERS.issuperset(where)
        kind = {name: params.get(name) for name in ("status", "priority", "type")}

        def read(conn: ReadConn) -> tuple[list[Task], int]:
            total = (conn.one(Q.task_count_by_kind, kind) if by_kind
                     else conn.one(Q.task_count, params, where=where))
            rows = conn.all(Q.task_page, params, where=where)
            return [task_from_row(r) for r in rows], int(total[0] if total else 0)

        return await self.store.read(read)

    async def active(self, limit: int = 10_000) -> builtins.list[Task]:
        """Non-final tasks, most urgent first (for consoles)."""
        def read(conn: ReadConn) -> list[Task]:
            return [task_from_row(r) for r in conn.all(Q.task_active, {"limit": limit})]
        return await self.store.read(read)

    # -- dispatch --------------------------------------------------------------------------
    def _claim_op(self, agent_id: str, actor: Actor) -> Callable[[Tx], Task | None]:
        lease_seconds = self.config.tasks.lease_seconds

        def op(tx: Tx) -> Task | None:
            agents = self.peers.agents
            slot = agents.claim_slot(tx, agent_id)
            agents.act_as(tx, actor, agent_id, slot.owner, "claim", audit_override=False)
            if slot.running >= slot.max_running:
                return None
            now = tx.now
            row = tx.one(Q.task_claim, {
                "agent_type": slot.type, "now": now, "agent_id": agent_id,
                "principal": actor.name, "lease_id": secrets.token_hex(8),
                "lease_expires_at": now + lease_seconds})
            if row is None:
                return None
            task = task_from_row(row)
            agents.note_claimed(tx, agent_id)
            ownership.record_agent_override(tx, actor, agent_id, slot.owner, "claim",
                                            task_id=task.id)
            tx.emit("task.started", _task_event_payload(task, attempt=task.attempts),
                    task_id=task.id, run_id=task.run_id, agent_id=agent_id,
                    source_agent=agent_id, trace_id=task.trace_id, priority=task.priority)
            return task

        return replayable(op)

    async def claim(self, agent_id: str, wait: float = 0.0, *,
                    actor: Actor = SYSTEM) -> Task | None:
        """The next task for this agent's type, leased to it; waits up to ``wait`` seconds.

        ``actor`` must own ``agent_id`` (an unowned id is bound to the first agent principal
        that claims with it; see ``engine.ownership``); it becomes the task's holder
        (``claimed_principal``), checked in the same write op as the claim.

        The waiter is registered *before* each claim attempt, so a task committed between
        an empty attempt and the wait still wakes it (no lost wake-up)."""
        if wait <= 0:
            return await self._claim_once(agent_id, actor)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        found = await self.store.read(lambda c: self.peers.agents.type_of(c, agent_id),
                                      inline=True)
        if found is None:
            raise NotFound(f"agent {agent_id!r} not found; register it first")
        agent_type: str = found
        while True:
            future: asyncio.Future[None] = loop.create_future()
            waiters = self._waiters.setdefault(agent_type, [])
            waiters.append(future)
            leaving = True
            try:
                task = await self._claim_once(agent_id, actor)
                if task is not None:
                    return task
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                # re-check at least once a second: scheduled tasks become due without a wake
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(future, min(remaining, 1.0))
                leaving = False
            finally:
                if future in waiters:
                    waiters.remove(future)
                elif leaving and future.done() and not future.cancelled():
                    self._wake(agent_type)  # pass on a wake-up this claim did not need

    async def _claim_once(self, agent_id: str, actor: Actor) -> Task | None:
        """One claim attempt that a cancelled caller cannot strand: the write is already
        queued when the caller is cancelled (a WebSocket closing under a waiting claim), so
        it may commit all the same; the store then hands the lease to ``_hand_back``."""
        return await self.store.write(self._claim_op(agent_id, actor),
                                      on_abandoned=self._hand_back)

    def _hand_back(self, task: Task | None) -> None:
        """Requeue a task claimed for nobody, rather than leave it until the lease runs out."""
        if task is None or task.lease_id is None:
            return
        job = asyncio.ensure_future(self.release(task.id, task.lease_id))
        self._background.add(job)
        job.add_done_callback(self._hand_back_done)

    def _hand_back_done(self, job: asyncio.Future[Task]) -> None:
        self._background.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.warning("handing back a claim nobody received failed (its lease will expire): "
                        "%s", job.exception())

    def _held(self, tx: Tx, task_id: str, lease_id: str | None, actor: Actor,
              action: str) -> Task:
        """The task, if ``actor`` may make a worker-side change to it (``engine.ownership``):
        a stale lease is 409, someone else's in-progress task 403 (admins: audited)."""
        task = load_task(tx, task_id)
        ownership.check_holder(tx, task, actor, lease_id, action)
        return task

    def _held_in_progress(self, tx: Tx, task_id: str, lease_id: str | None, actor: Actor,
                          action: str) -> Task:
        task = self._held(tx, task_id, lease_id, actor, action)
        if task.status != "in_progress":
            what = "extend" if action == "lease" else "hand back"
            raise Conflict(f"task {task_id} is {task.status}: there is no lease to {what}")
        return task

    async def extend_lease(self, task_id: str, lease_id: str | None = None, *,
                           actor: Actor = SYSTEM) -> float:
        """Push the lease's expiry out; by its holder (lease or principal) or an admin."""
        lease_seconds = self.config.tasks.lease_seconds

        def op(tx: Tx) -> float:
            self._held_in_progress(tx, task_id, lease_id, actor, "lease")
            expires = tx.now + lease_seconds
            tx.run(Q.task_extend_lease, {"id": task_id, "lease_expires_at": expires})
            return expires

        return await self.store.write(op)

    async def progress(
        self, task_id: str, progress: int, *, lease_id: str | None = None,
        message: str | None = None, actor: Actor = SYSTEM,
    ) -> Task:
        """Report 0-100 progress (extends the lease); by the task's holder or an admin."""
        if not isinstance(progress, int) or isinstance(progress, bool) or not 0 <= progress <= 100:
            raise ValidationFailed("progress", "must be an integer from 0 to 100")
        lease_seconds = self.config.tasks.lease_seconds

        def op(tx: Tx) -> Task:
            task = self._held(tx, task_id, lease_id, actor, "progress")
            if task.status != "in_progress":
                raise Conflict(f"task {task_id} is {task.status}; progress needs in_progress")
            task.progress = progress
            task.lease_expires_at = tx.now + lease_seconds
            task.updated_at = tx.now
            tx.run(Q.task_set_progress, {"id": task_id, "progress": progress,
                                         "lease_expires_at": task.lease_expires_at,
                                         "now": tx.now})
            if message:
                _log(tx, task_id, "info", message)
            tx.emit("task.progress", {"task_id": task_id, "progress": progress,
                                      "message": message}, task_id=task_id, run_id=task.run_id,
                    agent_id=task.claimed_by, source_agent=task.claimed_by,
                    priority=task.priority)
            return task

        return await self.store.write(op)

    async def add_log(self, task_id: str, level: str, message: str, *,
                      lease_id: str | None = None, actor: Actor = SYSTEM) -> TaskLog:
        """Append a log line: while in progress by its holder (or an admin); otherwise by its
        creator, its last holder or an admin (``engine.ownership.check_log``)."""
        if level not in LOG_LEVELS:
            raise ValidationFailed("level", f"use one of {', '.join(LOG_LEVELS)}")
        if not message:
            raise ValidationFailed("message", "must not be empty")

        def op(tx: Tx) -> TaskLog:
            task = self._held(tx, task_id, lease_id, actor, "log")
            ownership.check_log(task, actor)
            _log(tx, task_id, level, message)
            tx.emit("task.log", {"task_id": task_id, "level": level, "message": message},
                    task_id=task_id, run_id=task.run_id, agent_id=task.claimed_by)
            return TaskLog(timestamp=tx.now, level=level, message=message)

        return await self.store.write(op)

    # -- outcomes --------------------------------------------------------------------------
    def _finish(self, tx: Tx, task: Task, status: TaskStatus, *, result: Any = None,
                error: str | None = None, actor: str | None = None) -> Task:
        now = tx.now
        was_running = task.status == TaskStatus.IN_PROGRESS
        if task.started_at is None and status in (TaskStatus.COMPLETED, TaskStatus.FAILED):
            task.started_at = now
        task.status = status
        task.result = result if result is not None else task.result
        task.error = error
        task.completed_at = now
        task.updated_at = now
        if status == "completed":
            task.progress = 100
        tx.run(Q.task_mark_finished, {
            "id": task.id, "status": status, "error": error, "now": now,
            "result": None if task.result is None else encode(task.result),
            "progress": task.progress, "started_at": task.started_at})
        task.lease_id = None
        task.lease_expires_at = None
        return self._finished(tx, task, status, was_running=was_running, error=error,
                              actor=actor)

    def _finished(self, tx: Tx, task: Task, status: TaskStatus, *, was_running: bool,
                  error: str | None, actor: str | None) -> Task:
        """What follows a task's final row: the counters and its event."""
        now = tx.now
        duration_ms = (now - (task.started_at or now)) * 1000.0
        if status in (TaskStatus.COMPLETED, TaskStatus.FAILED):
            self.peers.metrics.note_finished(tx, status, duration_ms=duration_ms)
        if task.claimed_by:
            self.peers.agents.note_finished(tx, task.claimed_by, status,
                                            duration_ms=duration_ms, was_running=was_running)
        event_type = f"task.{status.value}"
        extra: dict[str, Any] = {"by": actor} if actor else {}
        if status == "completed":
            extra["result"] = task.result
            extra["duration"] = task.duration
        if error:
            extra["error"] = error
        tx.emit(event_type, _task_event_payload(task, **extra), task_id=task.id,
                run_id=task.run_id, agent_id=task.claimed_by, source_agent=task.claimed_by,
                trace_id=task.trace_id, priority=task.priority)
        return task

    def _requeue_row(self, tx: Tx, task: Task, available_at: float, *,
                     release: bool = True) -> str | None:
        """Back to ``assigned`` with no holder: the task row and its agent's count.
        Returns the agent that held it."""
        previous = task.claimed_by
        if release and task.status == TaskStatus.IN_PROGRESS and previous:
            self.peers.agents.note_released(tx, previous)
        task.status = TaskStatus.ASSIGNED
        task.available_at = available_at
        task.updated_at = tx.now
        task.claimed_by = task.claimed_principal = None
        task.lease_id = task.lease_expires_at = None
        tx.run(Q.task_requeue, {"id": task.id, "available_at": available_at, "now": tx.now,
                                "progress": task.progress, "attempts": task.attempts})
        return previous

    def _requeue(self, tx: Tx, task: Task, reason: str) -> Task:
        cfg = self.config.tasks
        delay = min(cfg.backoff_base_seconds * (2 ** max(task.attempts - 1, 0)),
                    cfg.backoff_max_seconds)
        task.progress = 0
        previous = self._requeue_row(tx, task, tx.now + delay)
        _log(tx, task.id, "warning", f"requeued: {reason}")
        tx.emit("task.requeued", _task_event_payload(task, reason=reason, attempt=task.attempts,
                                                     retry_in=delay, previous_agent=previous),
                task_id=task.id, run_id=task.run_id, agent_id=previous,
                trace_id=task.trace_id, priority=task.priority)
        agent_type = task.assigned_agent
        tx.after_commit(lambda: asyncio.get_running_loop().call_later(
            delay, self._wake, agent_type))
        return task

    async def complete(self, task_id: str, result: Any = None, *,
                       lease_id: str | None = None, actor: Actor | None = None) -> Task:
        """Mark done, by the task's holder: its ``lease_id`` (a lost lease is refused with
        409) or the principal that claimed it; an admin overrides (audited)."""
        return await self.store.write(self._complete_op(task_id, result, lease_id, actor))

    async def complete_and_claim(self, task_id: str, result: Any, *, lease_id: str,
                                 agent_id: str, actor: Actor) -> tuple[Task, Task | None]:
        """A worker slot's completion and its next claim in one write op: one commit and
        one round trip instead of two, so the slot does not sit idle while its report
        travels. The completion is checked exactly as ``complete`` checks it (the lease),
        the claim as ``claim`` does (``actor`` must own ``agent_id``); either refusal
        refuses both (nothing changes). The agent's running count drops before the claim
        looks at it, so a full agent can take its next task. Never waits for work: the
        completion's acknowledgement must not sit in a long poll (with nothing to claim,
        the caller claims again, waiting, on its own).
        -> (the completed task, the next task or None)."""
        finish = self._complete_op(task_id, result, lease_id, actor)
        claim = self._claim_op(agent_id, actor)

        def op(tx: Tx) -> tuple[Task, Task | None]:
            return finish(tx), claim(tx)

        done, task = await self.store.write(
            replayable(op), on_abandoned=lambda pair: self._hand_back(pair[1]))
        return done, task

    def _complete_op(self, task_id: str, result: Any, lease_id: str | None,
                     actor: Actor | None) -> Callable[[Tx], Task]:
        who = actor or SYSTEM
        by = actor.name if actor else None
        encoded = None if result is None else encode(result)

        def op(tx: Tx) -> Task:
            if lease_id is not None:
                # the holder's usual report, in one statement: in progress under this lease
                row = tx.one(Q.task_complete_held, {"id": task_id, "lease_id": lease_id,
                                                    "result": encoded, "now": tx.now})
                if row is not None:
                    return self._finished(tx, task_from_row(row), TaskStatus.COMPLETED,
                                          was_running=True, error=None, actor=by)
            task = self._held(tx, task_id, lease_id, who, "complete")
            if (task.status == TaskStatus.COMPLETED and lease_id is None
                    and (who.is_admin or ownership.is_holder(task, who))):
                return task  # a repeated report (its reply was lost) is harmless
            _check_transition(task, TaskStatus.COMPLETED)
            return self._finish(tx, task, TaskStatus.COMPLETED, result=result, actor=by)

        return replayable(op)

    async def fail(self, task_id: str, error: str, *, lease_id: str | None = None,
                   retry: bool = False, actor: Actor | None = None) -> Task:
        """Mark failed; ``retry=True`` requeues with backoff while attempts remain.

        By the holder (lease or principal) or an admin; a task nobody holds can be failed
        directly only by an admin (a worker claims it first)."""
        who = actor or SYSTEM

        def op(tx: Tx) -> Task:
            task = self._held(tx, task_id, lease_id, who, "fail")
            _check_transition(task, TaskStatus.FAILED)
            ownership.check_unheld_fail(task, who)
            if retry and task.status == TaskStatus.IN_PROGRESS and task.attempts < task.max_attempts:
                return self._requeue(tx, task, f"failed, will retry: {error}")
            return self._finish(tx, task, TaskStatus.FAILED, error=error,
                                actor=actor.name if actor else None)

        return await self.store.write(op)

    async def release(self, task_id: str, lease_id: str | None = None, *,
                      actor: Actor = SYSTEM) -> Task:
        """A worker hands a task back (shutting down): it is requeued without backoff and
        has no holder until claimed again."""
        def op(tx: Tx) -> Task:
            task = self._held_in_progress(tx, task_id, lease_id, actor, "release")
            task.attempts = max(task.attempts - 1, 0)
            return self._requeue_now(tx, task, "handed back by its worker")

        return await self.store.write(op)

    def _requeue_now(self, tx: Tx, task: Task, reason: str) -> Task:
        previous = self._requeue_row(tx, task, tx.now)
        tx.emit("task.requeued", _task_event_payload(task, reason=reason,
                                                     previous_agent=previous),
                task_id=task.id, run_id=task.run_id, agent_id=previous, priority=task.priority)
        self._wake_after(tx, task.assigned_agent)
        return task

    async def set_status(self, task_id: str, status: str, *, error: str | None = None,
                         result: Any = None, actor: Actor = SYSTEM) -> Task:
        """Seed 003's ``PATCH /tasks/{id}/status``: in_progress, completed or failed.

        Moving a task to ``in_progress`` makes ``actor`` its holder (no lease is sent in
        this flow, so the principal identifies it); after that only the holder or an admin
        (audited) may change its status. A repeated report is a no-op for whoever made it.
        """
        if status not in (TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED, TaskStatus.FAILED):
            raise ValidationFailed("status", "must be in_progress, completed or failed")
        lease_seconds = self.config.tasks.lease_seconds

        def op(tx: Tx) -> Task:
            task = load_task(tx, task_id)
            if task.status == "awaiting_approval":
                # only a decision on its approval moves a gated task (issue 9)
                raise Conflict(
                    f"task {task_id} is awaiting approval {task.approval_id}; only a decision"
                    " on that approval can move it")
            ownership.check_holder(tx, task, actor, None, "status")
            if task.status == status and (task.status == TaskStatus.IN_PROGRESS or actor.is_admin
                                          or ownership.is_holder(task, actor)):
                return task  # repeating your own status report is harmless
            _check_transition(task, status)
            if status == "failed":
                ownership.check_unheld_fail(task, actor)
            if status == "in_progress":
                now = tx.now
                task.status, task.started_at, task.updated_at = TaskStatus.IN_PROGRESS, now, now
                task.attempts += 1
                task.lease_id = secrets.token_hex(8)
                task.lease_expires_at = now + lease_seconds
                task.claimed_principal = actor.name
                tx.run(Q.task_mark_started, {
                    "id": task_id, "now": now, "attempts": task.attempts,
                    "lease_id": task.lease_id, "lease_expires_at": task.lease_expires_at,
                    "principal": actor.name})
                tx.emit("task.started", _task_event_payload(task, by=actor.name),
                        task_id=task_id, run_id=task.run_id, source_agent=actor.name,
                        trace_id=task.trace_id, priority=task.priority)
                return task
            if status == "completed":
                return self._finish(tx, task, TaskStatus.COMPLETED, result=result, actor=actor.name)
            return self._finish(tx, task, TaskStatus.FAILED, error=error or "failed", actor=actor.name)

        return await self.store.write(op)

    async def cancel(self, task_id: str, actor: Actor = SYSTEM, reason: str | None = None, *,
                     lease_id: str | None = None) -> Task:
        """Cancel an unfinished task (and its pending approval). Audited: ``task.cancel``,
        plus ``approval.cancel`` when a pending approval is cancelled with it.

        Who may (``engine.ownership.check_cancel``): before it is claimed (pending,
        awaiting_approval, assigned) its creator or an admin; once in progress its holder
        (lease or principal) or an admin. The tasks of a cancelled run are orphans that the
        run's cancellation cascades to (with the actor that cancelled the run, under the
        run's own rules): once the run is cancelled, any caller may cancel them.
        """
        def op(tx: Tx) -> Task:
            task = load_task(tx, task_id)
            _check_transition(task, TaskStatus.CANCELLED)
            orphan = (task.run_id is not None and not actor.is_admin
                      and self.peers.runs.status_of(tx, task.run_id) == "cancelled")
            if not orphan:
                ownership.check_cancel(task, actor, lease_id)
            before = {"status": task.status, "holder": task.claimed_principal}
            if task.approval_id and task.status == "awaiting_approval":
                self.peers.approvals.cancel_for_task(tx, task, actor, reason)
            audit.record(tx, actor, "task.cancel", "task", task_id, before=before,
                         after={"status": TaskStatus.CANCELLED}, reason=reason)
            return self._finish(tx, task, TaskStatus.CANCELLED, error=reason or f"cancelled by {actor.name}",
                                actor=actor.name)

        return await self.store.write(op)

    async def retry(self, task_id: str, actor: Actor = SYSTEM) -> Task:
        """Operator retry of a failed or cancelled task, with its attempts reset.

        Only the task's creator or an admin may retry it (Forbidden otherwise). A task whose
        priority needs an approval goes back to ``awaiting_approval`` under a *new* approval
        requested by the retrier (``approval.requested``): a retry is a new request, so the
        decision that let an earlier attempt run does not carry over, and the retrier cannot
        approve it (separation of duties, engine.approvals). Others go back to the queue.
        One audit row, ``task.retry``, in the same transaction.
        """
        gated = self.config.tasks.approval_priorities

        def op(tx: Tx) -> Task:
            task = load_task(tx, task_id)
            if not actor.is_admin and actor.name != task.created_by:
                raise Forbidden(
                    f"task {task_id} may be retried only by its creator"
                    f" ({task.created_by or 'unknown'}) or an admin; you are {actor.name}")
            _check_transition(task, TaskStatus.ASSIGNED)
            before, now = task.status, tx.now
            gate = task.priority in gated
            if gate:
                task.approval_id = new_id("approval")
            task.status = TaskStatus.AWAITING_APPROVAL if gate else TaskStatus.ASSIGNED
            task.error, task.attempts, task.progress = None, 0, 0
            task.completed_at, task.available_at, task.updated_at = None, now, now
            task.claimed_by = task.claimed_principal = None
            tx.run(Q.task_reset_for_retry, {"id": task_id, "status": task.status, "now": now,
                                            "approval_id": task.approval_id})
            _log(tx, task_id, "info", f"retried by {actor.name}")
            if gate:
                self.peers.approvals.open_for_task(
                    tx, task, requested_by=actor.name,
                    reason=_gate_reason(task, f"retried by {actor.name}"))
            else:
                tx.emit("task.assigned", _task_event_payload(task, retried_by=actor.name),
                        task_id=task_id, run_id=task.run_id, priority=task.priority)
                self._wake_after(tx, task.assigned_agent)
            audit.record(tx, actor, "task.retry", "task", task_id, before={"status": before},
                         after={"status": task.status,
                                "approval_id": task.approval_id if gate else None})
            return task

        return await self.store.write(op)

    async def set_priority(self, task_id: str, priority: str, actor: Actor = SYSTEM) -> Task:
        try:
            value = normalize_priority(priority)
        except ValueError as exc:
            raise ValidationFailed("priority", str(exc)) from None

        def op(tx: Tx) -> Task:
            task = load_task(tx, task_id)
            if task.status in TERMINAL_TASK_STATUSES:
                raise Conflict(f"task {task_id} is {task.status}; its priority is final")
            old, task.priority = task.priority, value
            params: dict[str, Any] = {"id": task_id, "priority": value, "now": tx.now,
                                      "status": task.status, "approval_id": task.approval_id}
            gate = (value in self.config.tasks.approval_priorities
                    and task.status in (TaskStatus.PENDING, TaskStatus.ASSIGNED))
            if gate:
                # raised into an approval priority while queued: behind a new approval
                # (issue 9: nothing P0/P1 is queued without an approved decision)
                task.status, task.approval_id = TaskStatus.AWAITING_APPROVAL, new_id("approval")
                params.update(status=task.status, approval_id=task.approval_id)
            tx.run(Q.task_set_priority, params)
            if gate:
                self.peers.approvals.open_for_task(
                    tx, task, requested_by=actor.name,
                    reason=_gate_reason(task, f"raised from {old} by {actor.name}"))
            tx.emit("task.priority_changed", _task_event_payload(task, old=old, by=actor.name),
                    task_id=task_id, run_id=task.run_id, priority=value)
            return task

        return await self.store.write(op)

    async def wait_for(self, task_id: str, timeout: float | None = None) -> Task:
        """Wait until the task is final (used by orchestration task steps)."""
        sub = await self.bus.subscribe(None, EventFilter(task_id=task_id))
        try:
            task = await self.get(task_id)
            loop = asyncio.get_running_loop()
            deadline = None if timeout is None else loop.time() + timeout
            while task.status not in TERMINAL_TASK_STATUSES:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"task {task_id} still {task.status}")
                event = await sub.next(timeout=remaining)
                if event is not None and event.event_type == "subscription.dropped":
                    sub.close()
                    sub = await self.bus.subscribe(None, EventFilter(task_id=task_id))
                task = await self.get(task_id)
            return task
        finally:
            sub.close()

    # -- in-transaction API for the other services (engine.ports.TaskPeer) -----------------
    def load(self, conn: ReadConn, task_id: str) -> Task:
        return load_task(conn, task_id)

    def approved(self, tx: Tx, task: Task, actor: Actor) -> Task:
        target = TaskStatus.PENDING if task.available_at > tx.now + 0.001 else TaskStatus.ASSIGNED
        _check_transition(task, target)
        tx.run(Q.task_set_status, {"id": task.id, "status": target, "now": tx.now})
        task.status = target
        if target == "assigned":
            tx.emit("task.assigned", _task_event_payload(task, approved_by=actor.name),
                    task_id=task.id, run_id=task.run_id, priority=task.priority,
                    trace_id=task.trace_id)
            self._wake_after(tx, task.assigned_agent)
        return task

    def rejected(self, tx: Tx, task: Task, actor: Actor, reason: str | None) -> Task:
        _check_transition(task, TaskStatus.REJECTED)
        return self._finish(tx, task, TaskStatus.REJECTED,
                            error=f"rejected by {actor.name}: {reason or 'no reason'}",
                            actor=actor.name)

    def requeue_held_by(self, tx: Tx, agent_id: str, reason: str) -> builtins.list[str]:
        ids: list[str] = []
        for row in tx.all(Q.task_held_by, {"agent_id": agent_id}):
            task = task_from_row(row)
            # the agent itself is being deleted: no running count to hand back
            self._requeue_row(tx, task, tx.now, release=False)
            tx.emit("task.requeued", {"task_id": task.id, "reason": reason,
                                      "status": TaskStatus.ASSIGNED}, task_id=task.id,
                    agent_id=agent_id)
            self._wake_after(tx, task.assigned_agent)
            ids.append(task.id)
        return ids

    def extend_leases_of(self, tx: Tx, agent_id: str, expires_at: float) -> None:
        tx.run(Q.task_extend_leases_of, {"agent_id": agent_id, "lease_expires_at": expires_at})

    # -- maintenance (called by the engine's loop) ----------------------------------------
    def maintenance_op(self, tx: Tx) -> dict[str, int]:
        """Expire leases, promote due scheduled tasks, flag SLA breaches. One write op."""
        now = tx.now
        counts = {"requeued": 0, "dead_lettered": 0, "promoted": 0, "sla_breached": 0}
        for row in tx.all(Q.task_lease_expired, {"now": now}):
            task = task_from_row(row)
            if task.attempts >= task.max_attempts:
                self._finish(tx, task, TaskStatus.FAILED, error=(
                    f"lease expired on attempt {task.attempts} of {task.max_attempts};"
                    " dead-lettered"))
                counts["dead_lettered"] += 1
            else:
                self._requeue(tx, task, f"lease expired (worker {task.claimed_by} lost)")
                counts["requeued"] += 1
        for row in tx.all(Q.task_due, {"now": now}):
            task = task_from_row(row)
            task.status = TaskStatus.ASSIGNED
            tx.run(Q.task_set_status, {"id": task.id, "status": TaskStatus.ASSIGNED, "now": now})
            tx.emit("task.assigned", _task_event_payload(task), task_id=task.id,
                    run_id=task.run_id, priority=task.priority, trace_id=task.trace_id)
            self._wake_after(tx, task.assigned_agent)
            counts["promoted"] += 1
        for row in tx.all(Q.task_sla_overdue, {"now": now}):
            task = task_from_row(row)
            tx.run(Q.task_mark_sla_breached, {"id": task.id})
            tx.emit("sla.breached", _task_event_payload(
                task, sla_target=task.sla_target, overdue=round(now - task.created_at
                                                                - (task.sla_target or 0), 3)),
                task_id=task.id, run_id=task.run_id, priority=task.priority,
                trace_id=task.trace_id)
            counts["sla_breached"] += 1
        return counts


def _gate_reason(task: Task, why: str) -> str:
    return f"{task.priority} {task.type} task {why} requires human approval"


def task_filters(status: str | None = None, priority: str | None = None,
                 agent_id: str | None = None, task_type: str | None = None,
                 run_id: str | None = None) -> tuple[list[F], dict[str, Any]]:
    """Seed 001's list filters as named filters and parameters (ValidationFailed naming
    the field for an unknown status or priority). Shared by the task list and the views."""
    where: list[F] = []
    params: dict[str, Any] = {"words": Many(())}
    if status:
        value = TaskStatus.IN_PROGRESS if status == "running" else status
        if value not in TASK_STATUSES:
            raise ValidationFailed(
                "status", f"unknown {status!r}; use {', '.join(TASK_STATUSES)}, running")
        where.append(F.task_status)
        params["status"] = value
    if priority:
        try:
            params["priority"] = normalize_priority(priority)
        except ValueError as exc:
            raise ValidationFailed("priority", str(exc)) from None
        where.append(F.task_priority)
    if agent_id:
        where.append(F.task_agent)
        params["agent_id"] = agent_id
    if task_type:
        where.append(F.task_type)
        params["type"] = task_type
    if run_id:
        where.append(F.task_run)
        params["run_id"] = run_id
    return where, params
