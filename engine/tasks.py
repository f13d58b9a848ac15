"""Tasks: creation and routing, the P0/P1 approval gate, dispatch with leases, outcomes.

Every change is one write op committed through the store's group commit before the caller
hears about it. Dispatch is pull-based (workers claim), with long-poll waiters per agent
type woken right after a task for that type is committed as ``assigned``.
"""

from __future__ import annotations

import asyncio
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
    Approval,
    Task,
    TaskLog,
    normalize_priority,
)
from switchboard.engine.rows import (
    APPROVAL_INSERT,
    TASK_COLUMNS,
    TASK_INSERT,
    approval_insert_params,
    encode,
    task_from_row,
    task_insert_params,
)
from switchboard.engine.store.base import ReadConn, Store, Tx

log = logging.getLogger("switchboard.tasks")

LOG_LEVELS = ("debug", "info", "warning", "error")




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


def _task_event_payload(task: Task, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task_id": task.id, "type": task.type, "status": task.status,
        "priority": task.priority, "assigned_agent": task.assigned_agent,
    }
    body.update(extra)
    return body


def load_task(tx: Tx | ReadConn, task_id: str, *, with_logs: bool = False) -> Task:
    row = tx.fetchone(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
    if row is None:
        raise NotFound(f"task {task_id!r} not found")
    logs = None
    if with_logs:
        logs = [
            TaskLog(timestamp=r[0], level=r[1], message=r[2])
            for r in tx.fetchall(
                "SELECT timestamp, level, message FROM task_logs WHERE task_id = ?"
                " ORDER BY timestamp, rowid", (task_id,)
            )
        ]
    return task_from_row(row, logs)


def _check_transition(task: Task, target: str) -> None:
    if target not in TASK_TRANSITIONS[task.status]:
        allowed = ", ".join(sorted(TASK_TRANSITIONS[task.status])) or "none (final)"
        raise Conflict(
            f"task {task.id} is {task.status}; cannot move to {target} (allowed: {allowed})"
        )


class TaskService:
    """The task queue. Construct through ``engine.Engine``."""

    def __init__(self, store: Store, bus: EventBus, config: Config, clock: Clock) -> None:
        self.store = store
        self.bus = bus
        self.config = config
        self.clock = clock
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
        approval_timeout = self.config.approvals.timeout_seconds

        def op(tx: Tx) -> tuple[Task, bool]:
            if spec.idempotency_key:
                row = tx.fetchone(
                    "SELECT id FROM tasks WHERE idempotency_key = ?", (spec.idempotency_key,)
                )
                if row is not None:
                    return load_task(tx, row[0]), False
            routed = agent_type
            if spec.agent_id is not None:
                agent = tx.fetchone("SELECT type FROM agents WHERE id = ?", (spec.agent_id,))
                if agent is None:
                    raise ValidationFailed("agent_id", f"no agent {spec.agent_id!r}")
                routed = agent[0]
            assert routed is not None
            now = tx.now
            future = available_at > now + 0.001
            status = "awaiting_approval" if needs_approval else ("pending" if future else "assigned")
            task = Task(
                id=new_id("task"), type=spec.type, priority=priority, status=status,
                assigned_agent=routed, payload=spec.payload, source=spec.source,
                sla_target=spec.sla_target, metadata=spec.metadata, agent_id=spec.agent_id,
                max_attempts=spec.max_attempts or self.config.tasks.max_attempts,
                idempotency_key=spec.idempotency_key, schedule=schedule, run_id=spec.run_id,
                step_id=spec.step_id, available_at=max(available_at, now), created_at=now,
                updated_at=now, created_by=actor.name,
            )
            approval = None
            if needs_approval:
                approval = Approval(
                    approval_id=new_id("approval"), kind="task", priority=priority,
                    task_id=task.id, run_id=spec.run_id, step_id=spec.step_id,
                    reason=spec.approval_reason
                    or f"{priority} {spec.type} task requires human approval",
                    agent_context=_summarize_payload(spec.payload), created_at=now,
                    expires_at=(now + approval_timeout) if approval_timeout > 0 else None,
                    timeout_action=self.config.approvals.timeout_action,
                    requested_by=actor.name,
                )
                task.approval_id = approval.approval_id
            tx.execute(TASK_INSERT, task_insert_params(task))
            minute = int(now // 60)
            tx.execute(
                "INSERT INTO metrics_minute (minute, created) VALUES (?, 1)"
                " ON CONFLICT(minute) DO UPDATE SET created = created + 1", (minute,),
            )
            trace = task.trace_id
            tx.emit("task.created", _task_event_payload(task, created_by=actor.name),
                    task_id=task.id, run_id=task.run_id, trace_id=trace, priority=priority)
            if approval is not None:
                tx.execute(APPROVAL_INSERT, approval_insert_params(approval))
                tx.emit("approval.requested", approval.as_dict(), task_id=task.id,
                        run_id=task.run_id, trace_id=trace, priority=priority)
            elif status == "assigned":
                tx.emit("task.assigned", _task_event_payload(task), task_id=task.id,
                        run_id=task.run_id, trace_id=trace, priority=priority,
                        agent_id=task.agent_id)
                self._wake_after(tx, routed)
            return task, True

        return await self.store.write(op)

    # -- reads -----------------------------------------------------------------------------
    async def get(self, task_id: str) -> Task:
        return await self.store.read(lambda c: load_task(c, task_id, with_logs=True), inline=True)

    async def list(self, query: TaskQuery) -> tuple[list[Task], int]:
        """Filtered, newest first, paged (limit 1..100). -> (page of tasks, total matching)."""
        clauses: list[str] = []
        params: list[Any] = []
        if query.status:
            status = "in_progress" if query.status == "running" else query.status
            if status not in TASK_STATUSES:
                raise ValidationFailed(
                    "status", f"unknown {query.status!r}; use {', '.join(TASK_STATUSES)}, running"
                )
            clauses.append("status = ?")
            params.append(status)
        if query.priority:
            try:
                clauses.append("priority = ?")
                params.append(normalize_priority(query.priority))
            except ValueError as exc:
                raise ValidationFailed("priority", str(exc)) from None
        if query.agent_id:
            clauses.append("(agent_id = ? OR claimed_by = ?)")
            params.extend([query.agent_id, query.agent_id])
        if query.type:
            clauses.append("type = ?")
            params.append(query.type)
        if query.run_id:
            clauses.append("run_id = ?")
            params.append(query.run_id)
        if query.created_after is not None:
            clauses.append("created_at > ?")
            params.append(query.created_after)
        if query.created_before is not None:
            clauses.append("created_at < ?")
            params.append(query.created_before)
        if not 1 <= query.limit <= 100:
            raise ValidationFailed("limit", "must be between 1 and 100")
        if query.page < 1:
            raise ValidationFailed("page", "must be 1 or more")
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        offset = (query.page - 1) * query.limit

        def read(conn: ReadConn) -> tuple[list[Task], int]:
            total = conn.fetchone(f"SELECT COUNT(*) FROM tasks{where}", params)
            rows = conn.fetchall(
                f"SELECT {TASK_COLUMNS} FROM tasks{where} ORDER BY created_at DESC, id DESC"
                " LIMIT ? OFFSET ?", [*params, query.limit, offset],
            )
            return [task_from_row(r) for r in rows], int(total[0] if total else 0)

        return await self.store.read(read)

    async def active(self, limit: int = 10_000) -> list[Task]:
        """Non-final tasks, most urgent first (for consoles)."""
        def read(conn: ReadConn) -> list[Task]:
            rows = conn.fetchall(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE status IN"
                " ('pending','awaiting_approval','assigned','in_progress')"
                " ORDER BY priority, created_at, id LIMIT ?", (limit,),
            )
            return [task_from_row(r) for r in rows]
        return await self.store.read(read)

    # -- dispatch --------------------------------------------------------------------------
    def _claim_op(self, agent_id: str, actor: Actor) -> Callable[[Tx], Task | None]:
        lease_seconds = self.config.tasks.lease_seconds

        def op(tx: Tx) -> Task | None:
            agent = tx.fetchone(
                "SELECT type, running, max_concurrent_tasks, owner FROM agents WHERE id = ?",
                (agent_id,),
            )
            if agent is None:
                raise NotFound(f"agent {agent_id!r} not found; register it first")
            agent_type, running, max_running, owner = agent
            ownership.act_as_agent(tx, actor, agent_id, owner, "claim", audit_override=False)
            if running >= max_running:
                return None
            row = tx.fetchone(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE status = 'assigned'"
                " AND assigned_agent = ? AND available_at <= ?"
                " AND (agent_id IS NULL OR agent_id = ?)"
                " ORDER BY priority, available_at, qseq LIMIT 1",
                (agent_type, tx.now, agent_id),
            )
            if row is None:
                return None
            task = task_from_row(row)
            now = tx.now
            task.status = "in_progress"
            task.claimed_by = agent_id
            task.claimed_principal = actor.name
            task.lease_id = secrets.token_hex(8)
            task.lease_expires_at = now + lease_seconds
            task.attempts += 1
            task.started_at = now
            task.updated_at = now
            tx.execute(
                "UPDATE tasks SET status='in_progress', claimed_by=?, claimed_principal=?,"
                " lease_id=?, lease_expires_at=?, attempts=?, started_at=?, updated_at=?"
                " WHERE id=?",
                (agent_id, actor.name, task.lease_id, task.lease_expires_at, task.attempts,
                 now, now, task.id),
            )
            tx.execute("UPDATE agents SET running = running + 1 WHERE id = ?", (agent_id,))
            ownership.record_agent_override(tx, actor, agent_id, owner, "claim", task_id=task.id)
            tx.emit("task.started", _task_event_payload(task, attempt=task.attempts),
                    task_id=task.id, run_id=task.run_id, agent_id=agent_id,
                    source_agent=agent_id, trace_id=task.trace_id, priority=task.priority)
            return task

        return op

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
        agent = await self.store.read(
            lambda c: c.fetchone("SELECT type FROM agents WHERE id = ? AND deleted = 0",
                                 (agent_id,)), inline=True)
        if agent is None:
            raise NotFound(f"agent {agent_id!r} not found; register it first")
        agent_type = str(agent[0])
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
            tx.execute("UPDATE tasks SET lease_expires_at=? WHERE id=?", (expires, task_id))
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
            tx.execute(
                "UPDATE tasks SET progress=?, lease_expires_at=?, updated_at=? WHERE id=?",
                (progress, task.lease_expires_at, tx.now, task_id),
            )
            if message:
                tx.execute("INSERT INTO task_logs VALUES (?,?,?,?)",
                           (task_id, tx.now, "info", message))
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
            tx.execute("INSERT INTO task_logs VALUES (?,?,?,?)", (task_id, tx.now, level, message))
            tx.emit("task.log", {"task_id": task_id, "level": level, "message": message},
                    task_id=task_id, run_id=task.run_id, agent_id=task.claimed_by)
            return TaskLog(timestamp=tx.now, level=level, message=message)

        return await self.store.write(op)

    # -- outcomes --------------------------------------------------------------------------
    def _finish(self, tx: Tx, task: Task, status: str, *, result: Any = None,
                error: str | None = None, actor: str | None = None) -> Task:
        now = tx.now
        if task.status == "in_progress" and task.claimed_by:
            tx.execute("UPDATE agents SET running = MAX(running - 1, 0) WHERE id = ?",
                       (task.claimed_by,))
        if task.started_at is None and status in ("completed", "failed"):
            task.started_at = now
        task.status = status
        task.result = result if result is not None else task.result
        task.error = error
        task.completed_at = now
        task.updated_at = now
        if status == "completed":
            task.progress = 100
        tx.execute(
            "UPDATE tasks SET status=?, result=?, error=?, completed_at=?, updated_at=?,"
            " progress=?, started_at=?, lease_id=NULL, lease_expires_at=NULL WHERE id=?",
            (status, None if task.result is None else encode(task.result), error, now, now,
             task.progress, task.started_at, task.id),
        )
        task.lease_id = None
        task.lease_expires_at = None
        if status in ("completed", "failed"):
            duration_ms = (now - (task.started_at or now)) * 1000.0
            minute = int(now // 60)
            if status == "completed":
                tx.execute(
                    "INSERT INTO metrics_minute (minute, completed, response_ms_sum)"
                    " VALUES (?, 1, ?) ON CONFLICT(minute) DO UPDATE SET"
                    " completed = completed + 1, response_ms_sum = response_ms_sum + ?",
                    (minute, duration_ms, duration_ms),
                )
            else:
                tx.execute(
                    "INSERT INTO metrics_minute (minute, failed) VALUES (?, 1)"
                    " ON CONFLICT(minute) DO UPDATE SET failed = failed + 1", (minute,),
                )
            if task.claimed_by:
                if status == "completed":
                    tx.execute(
                        "UPDATE agents SET tasks_completed = tasks_completed + 1,"
                        " response_ms_total = response_ms_total + ? WHERE id = ?",
                        (duration_ms, task.claimed_by),
                    )
                else:
                    tx.execute("UPDATE agents SET tasks_failed = tasks_failed + 1 WHERE id = ?",
                               (task.claimed_by,))
        event_type = {"completed": "task.completed", "failed": "task.failed",
                      "cancelled": "task.cancelled", "rejected": "task.rejected"}[status]
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

    def _requeue(self, tx: Tx, task: Task, reason: str) -> Task:
        cfg = self.config.tasks
        delay = min(cfg.backoff_base_seconds * (2 ** max(task.attempts - 1, 0)),
                    cfg.backoff_max_seconds)
        if task.status == "in_progress" and task.claimed_by:
            tx.execute("UPDATE agents SET running = MAX(running - 1, 0) WHERE id = ?",
                       (task.claimed_by,))
        previous = task.claimed_by
        task.status = "assigned"
        task.available_at = tx.now + delay
        task.updated_at = tx.now
        task.claimed_by = task.claimed_principal = None
        tx.execute(
            "UPDATE tasks SET status='assigned', claimed_by=NULL, claimed_principal=NULL,"
            " lease_id=NULL, lease_expires_at=NULL, available_at=?, updated_at=?, progress=0"
            " WHERE id=?",
            (task.available_at, tx.now, task.id),
        )
        tx.execute("INSERT INTO task_logs VALUES (?,?,?,?)",
                   (task.id, tx.now, "warning", f"requeued: {reason}"))
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
        who = actor or SYSTEM

        def op(tx: Tx) -> Task:
            task = self._held(tx, task_id, lease_id, who, "complete")
            if (task.status == "completed" and lease_id is None
                    and (who.is_admin or ownership.is_holder(task, who))):
                return task  # a repeated report (its reply was lost) is harmless
            _check_transition(task, "completed")
            return self._finish(tx, task, "completed", result=result,
                                actor=actor.name if actor else None)

        return await self.store.write(op)

    async def fail(self, task_id: str, error: str, *, lease_id: str | None = None,
                   retry: bool = False, actor: Actor | None = None) -> Task:
        """Mark failed; ``retry=True`` requeues with backoff while attempts remain.

        By the holder (lease or principal) or an admin; a task nobody holds can be failed
        directly only by an admin (a worker claims it first)."""
        who = actor or SYSTEM

        def op(tx: Tx) -> Task:
            task = self._held(tx, task_id, lease_id, who, "fail")
            _check_transition(task, "failed")
            ownership.check_unheld_fail(task, who)
            if retry and task.status == "in_progress" and task.attempts < task.max_attempts:
                return self._requeue(tx, task, f"failed, will retry: {error}")
            return self._finish(tx, task, "failed", error=error,
                                actor=actor.name if actor else None)

        return await self.store.write(op)

    async def release(self, task_id: str, lease_id: str | None = None, *,
                      actor: Actor = SYSTEM) -> Task:
        """A worker hands a task back (shutting down): it is requeued without backoff and
        has no holder until claimed again."""
        def op(tx: Tx) -> Task:
            task = self._held_in_progress(tx, task_id, lease_id, actor, "release")
            task.attempts = max(task.attempts - 1, 0)
            tx.execute("UPDATE tasks SET attempts=? WHERE id=?", (task.attempts, task_id))
            return self._requeue_now(tx, task, "handed back by its worker")

        return await self.store.write(op)

    def _requeue_now(self, tx: Tx, task: Task, reason: str) -> Task:
        if task.claimed_by:
            tx.execute("UPDATE agents SET running = MAX(running - 1, 0) WHERE id = ?",
                       (task.claimed_by,))
        previous = task.claimed_by
        task.status, task.claimed_by, task.available_at = "assigned", None, tx.now
        task.claimed_principal = None
        tx.execute(
            "UPDATE tasks SET status='assigned', claimed_by=NULL, claimed_principal=NULL,"
            " lease_id=NULL, lease_expires_at=NULL, available_at=?, updated_at=? WHERE id=?",
            (tx.now, tx.now, task.id),
        )
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
        if status not in ("in_progress", "completed", "failed"):
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
            if task.status == status and (task.status == "in_progress" or actor.is_admin
                                          or ownership.is_holder(task, actor)):
                return task  # repeating your own status report is harmless
            _check_transition(task, status)
            if status == "failed":
                ownership.check_unheld_fail(task, actor)
            if status == "in_progress":
                now = tx.now
                task.status, task.started_at, task.updated_at = "in_progress", now, now
                task.attempts += 1
                task.lease_id = secrets.token_hex(8)
                task.lease_expires_at = now + lease_seconds
                task.claimed_principal = actor.name
                tx.execute(
                    "UPDATE tasks SET status='in_progress', started_at=?, updated_at=?,"
                    " attempts=?, lease_id=?, lease_expires_at=?, claimed_principal=?"
                    " WHERE id=?",
                    (now, now, task.attempts, task.lease_id, task.lease_expires_at,
                     actor.name, task_id),
                )
                tx.emit("task.started", _task_event_payload(task, by=actor.name),
                        task_id=task_id, run_id=task.run_id, source_agent=actor.name,
                        trace_id=task.trace_id, priority=task.priority)
                return task
            if status == "completed":
                return self._finish(tx, task, "completed", result=result, actor=actor.name)
            return self._finish(tx, task, "failed", error=error or "failed", actor=actor.name)

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
            _check_transition(task, "cancelled")
            orphan = (task.run_id is not None and not actor.is_admin
                      and _run_status(tx, task.run_id) == "cancelled")
            if not orphan:
                ownership.check_cancel(task, actor, lease_id)
            before = {"status": task.status, "holder": task.claimed_principal}
            if task.approval_id and task.status == "awaiting_approval":
                pending = tx.fetchone(
                    "SELECT status FROM approvals WHERE approval_id=? AND status='pending'",
                    (task.approval_id,))
                if pending is not None:
                    tx.execute(
                        "UPDATE approvals SET status='cancelled', decided_by=?, decided_at=?"
                        " WHERE approval_id=? AND status='pending'",
                        (actor.name, tx.now, task.approval_id),
                    )
                    audit.record(tx, actor, "approval.cancel", "approval", task.approval_id,
                                 before={"status": "pending"}, after={"status": "cancelled"},
                                 reason=reason)
                    tx.emit("approval.decided", {"approval_id": task.approval_id,
                                                 "status": "cancelled", "decided_by": actor.name},
                            task_id=task_id, priority=task.priority)
            audit.record(tx, actor, "task.cancel", "task", task_id, before=before,
                         after={"status": "cancelled"}, reason=reason)
            return self._finish(tx, task, "cancelled", error=reason or f"cancelled by {actor.name}",
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
            _check_transition(task, "assigned")
            before, now = task.status, tx.now
            approval = None
            if task.priority in gated:
                approval = self._new_approval(tx, task, actor, "retried")
            task.status = "awaiting_approval" if approval is not None else "assigned"
            task.error, task.attempts, task.progress = None, 0, 0
            task.completed_at, task.available_at, task.updated_at = None, now, now
            task.claimed_by = None
            tx.execute(
                "UPDATE tasks SET status=?, error=NULL, attempts=0, completed_at=NULL,"
                " available_at=?, updated_at=?, claimed_by=NULL, claimed_principal=NULL,"
                " progress=0, approval_id=? WHERE id=?",
                (task.status, now, now, task.approval_id, task_id),
            )
            tx.execute("INSERT INTO task_logs VALUES (?,?,?,?)",
                       (task_id, now, "info", f"retried by {actor.name}"))
            if approval is not None:
                self._insert_approval(tx, task, approval)
            else:
                tx.emit("task.assigned", _task_event_payload(task, retried_by=actor.name),
                        task_id=task_id, run_id=task.run_id, priority=task.priority)
                self._wake_after(tx, task.assigned_agent)
            audit.record(tx, actor, "task.retry", "task", task_id, before={"status": before},
                         after={"status": task.status, "approval_id": approval.approval_id
                                if approval is not None else None})
            return task

        return await self.store.write(op)

    def _new_approval(self, tx: Tx, task: Task, actor: Actor, why: str) -> Approval:
        """A fresh approval for ``task``, requested by ``actor`` (who then cannot approve
        it); the caller stores it with ``_insert_approval`` after updating the task row."""
        approvals = self.config.approvals
        approval = Approval(
            approval_id=new_id("approval"), kind="task", priority=task.priority,
            task_id=task.id, run_id=task.run_id, step_id=task.step_id,
            reason=f"{task.priority} {task.type} task {why} by {actor.name} requires human"
            " approval",
            agent_context=_summarize_payload(task.payload), created_at=tx.now,
            expires_at=(tx.now + approvals.timeout_seconds)
            if approvals.timeout_seconds > 0 else None,
            timeout_action=approvals.timeout_action, requested_by=actor.name,
        )
        task.approval_id = approval.approval_id
        return approval

    def _insert_approval(self, tx: Tx, task: Task, approval: Approval) -> None:
        tx.execute(APPROVAL_INSERT, approval_insert_params(approval))
        tx.emit("approval.requested", approval.as_dict(), task_id=task.id, run_id=task.run_id,
                trace_id=task.trace_id, priority=task.priority)

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
            tx.execute("UPDATE tasks SET priority=?, updated_at=? WHERE id=?",
                       (value, tx.now, task_id))
            if (value in self.config.tasks.approval_priorities
                    and task.status in ("pending", "assigned")):
                # raised into an approval priority while queued: behind a new approval
                # (issue 9: nothing P0/P1 is queued without an approved decision)
                approval = self._new_approval(tx, task, actor, f"raised from {old}")
                task.status = "awaiting_approval"
                tx.execute("UPDATE tasks SET status='awaiting_approval', approval_id=? WHERE id=?",
                           (approval.approval_id, task_id))
                self._insert_approval(tx, task, approval)
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

    # -- maintenance (called by the engine's loop) ----------------------------------------
    def maintenance_op(self, tx: Tx) -> dict[str, int]:
        """Expire leases, promote due scheduled tasks, flag SLA breaches. One write op."""
        now = tx.now
        counts = {"requeued": 0, "dead_lettered": 0, "promoted": 0, "sla_breached": 0}
        for row in tx.fetchall(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE status='in_progress'"
            " AND lease_expires_at < ? LIMIT 1000", (now,)
        ):
            task = task_from_row(row)
            if task.attempts >= task.max_attempts:
                self._finish(tx, task, "failed", error=(
                    f"lease expired on attempt {task.attempts} of {task.max_attempts};"
                    " dead-lettered"))
                counts["dead_lettered"] += 1
            else:
                self._requeue(tx, task, f"lease expired (worker {task.claimed_by} lost)")
                counts["requeued"] += 1
        for row in tx.fetchall(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE status='pending' AND available_at <= ?"
            " LIMIT 1000", (now,)
        ):
            task = task_from_row(row)
            task.status = "assigned"
            tx.execute("UPDATE tasks SET status='assigned', updated_at=? WHERE id=?",
                       (now, task.id))
            tx.emit("task.assigned", _task_event_payload(task), task_id=task.id,
                    run_id=task.run_id, priority=task.priority, trace_id=task.trace_id)
            self._wake_after(tx, task.assigned_agent)
            counts["promoted"] += 1
        for row in tx.fetchall(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE sla_target IS NOT NULL AND sla_breached = 0"
            " AND status NOT IN ('completed','failed','rejected','cancelled')"
            " AND created_at + sla_target < ? LIMIT 1000", (now,)
        ):
            task = task_from_row(row)
            tx.execute("UPDATE tasks SET sla_breached = 1 WHERE id = ?", (task.id,))
            tx.emit("sla.breached", _task_event_payload(
                task, sla_target=task.sla_target, overdue=round(now - task.created_at
                                                                - (task.sla_target or 0), 3)),
                task_id=task.id, run_id=task.run_id, priority=task.priority,
                trace_id=task.trace_id)
            counts["sla_breached"] += 1
        return counts


def _run_status(tx: Tx, run_id: str) -> str | None:
    row = tx.fetchone("SELECT status FROM runs WHERE run_id = ?", (run_id,))
    return None if row is None else str(row[0])


def _summarize_payload(payload: dict[str, Any]) -> str | None:
    if not payload:
        return None
    text = encode(payload).decode()
    return text if len(text) <= 2000 else text[:1997] + "..."
