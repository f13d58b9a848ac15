"""Tasks: seed 003's create/get/status and seed 001's list, plus the worker protocol
(claim, progress, logs, complete, fail, release, lease) and operator actions.

Responses carry both seeds' shapes where they differ (``task`` and ``data``), so seed 001's
and seed 003's clients both work unchanged.

Who may act on which task (issue 9; the rules live in ``engine.ownership``): a claim needs
an agent id the caller owns; worker-side changes to an ``in_progress`` task (progress, logs,
complete, fail, release, lease, PATCH status, cancel) are accepted only from its holder,
identified by the current ``lease_id`` or as the principal that claimed it or PATCHed it to
``in_progress``; anyone else gets 403, a stale lease 409. Admins may override, and each
override is audited (``task.override``). ``lease_id`` appears only in claim responses,
which only the claiming agent sees; task reads, lists and events never carry it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from switchboard.engine.clock import iso
from switchboard.engine.tasks import TaskQuery, TaskSpec
from switchboard.server import contract, convert
from switchboard.server.jsonio import QueryModel, StrictModel, json_response, read_json
from switchboard.server.resources.common import (
    PageQuery,
    actor_of,
    engine_of,
    now_of,
    pagination,
)
from switchboard.server.routing import RouteTable

routes = RouteTable(tag="tasks")

MAX_CLAIM_WAIT = 30.0


class Schedule(StrictModel):
    type: Literal["immediate", "scheduled", "at", "delayed"] = "immediate"
    at: str | None = Field(None, description="ISO-8601 time, for scheduled tasks.")
    delay_seconds: float | None = Field(None, ge=0)


class CreateTask(StrictModel):
    """Seed 003's body (``type``, ``payload``, ``priority``, ``source``, ``sla_target``,
    ``metadata``) plus seed 001's (``agent_id``, ``schedule``)."""

    type: str = Field(min_length=1, max_length=100)
    payload: dict[str, Any] = {}
    priority: str = Field("P2", description="P0-P3 or critical/high/medium/low.")
    source: str | None = Field(None, max_length=200)
    sla_target: float | None = Field(None, gt=0, description="Seconds.")
    metadata: dict[str, Any] = {}
    agent_id: str | None = None
    schedule: Schedule | None = None
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
    max_attempts: int | None = Field(None, ge=1, le=100)


@routes.post("/tasks", role="agent", body=CreateTask, response=contract.TaskEnvelope, status=201,
             responses={200: "an existing task with the same idempotency key",
                        400: "invalid type, priority or schedule"})
async def create_task(request: web.Request, body: CreateTask) -> web.Response:
    """Create a task and route it to its agent type (P0/P1 wait for an approval)."""
    envelope, created = await create(request, body)
    return json_response(envelope, status=201 if created else 200)


async def create(request: web.Request, body: CreateTask) -> tuple[contract.TaskEnvelope, bool]:
    """Create (or find by idempotency key) the task -> (answer, whether it is new). Shared
    with the dialects, which answer the same envelope in their own words."""
    engine = engine_of(request)
    key = body.idempotency_key or request.headers.get("Idempotency-Key") or None
    spec = TaskSpec(
        type=body.type, payload=body.payload, priority=body.priority, source=body.source,
        sla_target=body.sla_target, metadata=body.metadata, agent_id=body.agent_id,
        idempotency_key=key,
        schedule=body.schedule.model_dump(exclude_none=True) if body.schedule else None,
        max_attempts=body.max_attempts,
    )
    task, created = await engine.tasks.create(spec, actor_of(request))
    if task.status == "awaiting_approval":
        message = f"Task created; {task.priority} awaits approval {task.approval_id}"
    elif task.status == "pending":
        message = f"Task created and scheduled for {task.assigned_agent}"
    else:
        message = f"Task created and assigned to {task.assigned_agent}"
    if not created:
        message = "Task already exists for this idempotency key"
    data = convert.task(task, now_of(request))
    return contract.TaskEnvelope(task_id=task.id, message=message, task=data, data=data), created


class TaskListQuery(PageQuery):
    agent_id: str | None = None
    status: str | None = Field(None, description="pending, awaiting_approval, assigned, "
                               "in_progress (or running), completed, failed, rejected, cancelled")
    priority: str | None = Field(None, description="P0-P3 or critical/high/medium/low")
    type: str | None = None
    run_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@routes.get("/tasks", role="user", query=TaskListQuery, response=contract.TaskPage)
async def list_tasks(request: web.Request, query: TaskListQuery) -> contract.TaskPage:
    """List tasks, newest first, with seed 001's filters and pagination."""
    engine = engine_of(request)
    tasks, total = await engine.tasks.list(TaskQuery(
        agent_id=query.agent_id, status=query.status, priority=query.priority, type=query.type,
        run_id=query.run_id,
        created_after=_epoch(query.created_after), created_before=_epoch(query.created_before),
        page=query.page, limit=query.limit))
    now = now_of(request)
    return contract.TaskPage(data=[convert.task(t, now, with_logs=False) for t in tasks],
                             pagination=pagination(query.page, query.limit, total))


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value.timestamp()


class ClaimBody(StrictModel):
    agent_id: str
    wait: float = Field(0.0, ge=0, le=MAX_CLAIM_WAIT, description="Long-poll seconds.")


HOLDER_REFUSALS: dict[int, str] = {
    403: "the task is in progress and held by another principal (send its lease_id, or "
         "act as the principal that claimed it; admins may override, audited)",
    409: "the lease was lost (the task was requeued or finished) or the status forbids it",
}


@routes.post("/tasks/claim", role="agent", body=ClaimBody, response=contract.ClaimedTask,
             responses={204: "no task became available within `wait`",
                        403: "the agent id belongs to another principal"})
async def claim_task(request: web.Request, body: ClaimBody) -> web.StreamResponse:
    """Lease the next task for this agent's type (highest priority, oldest first).

    ``agent_id`` must be the caller's (an unowned, admin-created id is bound to the caller);
    the caller becomes the task's holder. The response carries the ``lease_id``."""
    engine = engine_of(request)
    task = await engine.tasks.claim(body.agent_id, wait=body.wait, actor=actor_of(request))
    if task is None:
        return web.Response(status=204)
    data = convert.task(task, now_of(request), lease=True)
    return json_response(contract.ClaimedTask(task_id=task.id, lease_id=task.lease_id,
                                              task=data, data=data))


@routes.get("/tasks/{task_id}", role="user", response=contract.TaskEnvelope)
async def get_task(request: web.Request) -> contract.TaskEnvelope:
    """A task with its logs, progress and (when running) estimated completion."""
    task = await engine_of(request).tasks.get(request.match_info["task_id"])
    data = convert.task(task, now_of(request))
    return contract.TaskEnvelope(task_id=task.id, task=data, data=data)


class StatusQuery(QueryModel):
    status: Literal["in_progress", "completed", "failed"]
    error: str | None = Field(None, max_length=4000)


def status_ack(task_id: str, status: str) -> contract.TaskStatusAck:
    return contract.TaskStatusAck(task_id=task_id, status=contract.TaskStatus(status))


@routes.patch("/tasks/{task_id}/status", role="agent", query=StatusQuery,
              response=contract.TaskStatusAck, responses=HOLDER_REFUSALS)
async def update_status(request: web.Request, query: StatusQuery) -> contract.TaskStatusAck:
    """Seed 003: set in_progress, completed or failed (with ``error``).

    ``in_progress`` makes the caller the task's holder (no lease in this flow); after that
    only the holder or an admin may change its status. Failing a task nobody holds is for
    admins only."""
    result: Any = None
    if request.can_read_body:
        body = await read_json(request)
        if isinstance(body, dict):
            result = body.get("result")
    task = await engine_of(request).tasks.set_status(
        request.match_info["task_id"], query.status, error=query.error, result=result,
        actor=actor_of(request))
    return status_ack(task.id, task.status)


class LeaseBody(StrictModel):
    lease_id: str | None = Field(
        None, description="From the claim; refused (409) once lost. Without it the caller "
                          "must be the principal holding the task.")


class ProgressBody(LeaseBody):
    progress: int = Field(ge=0, le=100)
    message: str | None = Field(None, max_length=4000)


@routes.post("/tasks/{task_id}/progress", role="agent", body=ProgressBody,
             response=contract.TaskProgressAck, responses=HOLDER_REFUSALS)
async def report_progress(request: web.Request, body: ProgressBody) -> contract.TaskProgressAck:
    """Progress 0-100 (extends the lease); an optional message becomes a log line.
    By the task's holder only (admins may override, audited)."""
    task = await engine_of(request).tasks.progress(
        request.match_info["task_id"], body.progress, lease_id=body.lease_id,
        message=body.message, actor=actor_of(request))
    return contract.TaskProgressAck(task_id=task.id, progress=task.progress,
                                    lease_expires_at=iso(task.lease_expires_at))


class LogBody(LeaseBody):
    level: Literal["debug", "info", "warning", "error"] = "info"
    message: str = Field(min_length=1, max_length=8000)


@routes.post("/tasks/{task_id}/logs", role="agent", body=LogBody, status=201,
             response=contract.TaskLogAck, responses=HOLDER_REFUSALS)
async def add_log(request: web.Request, body: LogBody) -> contract.TaskLogAck:
    """Append a log line to a task: while it is in progress, by its holder; otherwise by
    its creator or its last holder. Admins may always (an override of a holder is audited)."""
    line = await engine_of(request).tasks.add_log(request.match_info["task_id"], body.level,
                                                  body.message, lease_id=body.lease_id,
                                                  actor=actor_of(request))
    return contract.TaskLogAck(log=convert.task_log(line))


class CompleteBody(LeaseBody):
    result: Any = None


@routes.post("/tasks/{task_id}/complete", role="agent", body=CompleteBody,
             response=contract.TaskStatusAck, responses=HOLDER_REFUSALS)
async def complete_task(request: web.Request, body: CompleteBody) -> contract.TaskStatusAck:
    """The task's holder reports success with its result (admins may override, audited)."""
    task = await engine_of(request).tasks.complete(
        request.match_info["task_id"], body.result, lease_id=body.lease_id,
        actor=actor_of(request))
    return status_ack(task.id, task.status)


class FailBody(LeaseBody):
    error: str = Field(min_length=1, max_length=8000)
    retry: bool = Field(False, description="Requeue with backoff while attempts remain.")


@routes.post("/tasks/{task_id}/fail", role="agent", body=FailBody,
             response=contract.TaskStatusAck, responses=HOLDER_REFUSALS)
async def fail_task(request: web.Request, body: FailBody) -> contract.TaskStatusAck:
    """The task's holder reports failure (optionally asking for a retry). A task nobody
    holds can be failed only by an admin; a worker claims it first."""
    task = await engine_of(request).tasks.fail(
        request.match_info["task_id"], body.error, lease_id=body.lease_id, retry=body.retry,
        actor=actor_of(request))
    return status_ack(task.id, task.status)


@routes.post("/tasks/{task_id}/release", role="agent", body=LeaseBody,
             response=contract.TaskStatusAck, responses=HOLDER_REFUSALS)
async def release_task(request: web.Request, body: LeaseBody) -> contract.TaskStatusAck:
    """The holder hands a task back (e.g. shutting down); it is requeued at once with no
    holder."""
    task = await engine_of(request).tasks.release(request.match_info["task_id"], body.lease_id,
                                                  actor=actor_of(request))
    return status_ack(task.id, task.status)


@routes.post("/tasks/{task_id}/lease", role="agent", body=LeaseBody,
             response=contract.TaskLeaseAck, responses=HOLDER_REFUSALS)
async def extend_lease(request: web.Request, body: LeaseBody) -> contract.TaskLeaseAck:
    """The holder extends the lease of a task still being worked on."""
    expires = await engine_of(request).tasks.extend_lease(request.match_info["task_id"],
                                                           body.lease_id,
                                                           actor=actor_of(request))
    return contract.TaskLeaseAck(task_id=request.match_info["task_id"],
                                 lease_expires_at=iso(expires))


class CancelBody(LeaseBody):
    reason: str | None = Field(None, max_length=2000)


@routes.post("/tasks/{task_id}/cancel", role="agent", response=contract.TaskStatusAck,
             responses={403: "not yours to cancel: created by another principal (before it "
                             "is claimed) or held by another principal (once in progress)",
                        409: "the task has already finished"})
async def cancel_task(request: web.Request) -> contract.TaskStatusAck:
    """Cancel a task that has not finished (its pending approval is cancelled too).

    Who may: before a worker claims it (pending, awaiting_approval, assigned), the
    principal that created it; once in progress, only its holder (its ``lease_id`` or the
    principal that claimed it). Admins may cancel any unfinished task. Every cancel is
    audited (``task.cancel`` with the status before and the reason; ``approval.cancel`` for
    a pending approval cancelled with it)."""
    body = CancelBody()
    if request.can_read_body:
        body = await read_json(request, CancelBody)
    task = await engine_of(request).tasks.cancel(request.match_info["task_id"],
                                                 actor_of(request), body.reason,
                                                 lease_id=body.lease_id)
    return status_ack(task.id, task.status)


@routes.post("/tasks/{task_id}/retry", role="agent", response=contract.TaskStatusAck,
             responses={403: "only the task's creator or an admin may retry it",
                        409: "only failed or cancelled tasks can be retried"})
async def retry_task(request: web.Request) -> contract.TaskStatusAck:
    """Put a failed or cancelled task back in the queue with fresh attempts.

    A P0/P1 task goes back to ``awaiting_approval`` under a new approval instead (status in
    the answer); audited as ``task.retry``."""
    task = await engine_of(request).tasks.retry(request.match_info["task_id"], actor_of(request))
    return status_ack(task.id, task.status)


class PriorityBody(StrictModel):
    priority: str


@routes.patch("/tasks/{task_id}/priority", role="admin", body=PriorityBody,
              response=contract.TaskPriorityAck)
async def change_priority(request: web.Request, body: PriorityBody) -> contract.TaskPriorityAck:
    """Change the priority of an unfinished task (admin)."""
    task = await engine_of(request).tasks.set_priority(request.match_info["task_id"],
                                                       body.priority, actor_of(request))
    return contract.TaskPriorityAck(task_id=task.id, priority=contract.Priority(task.priority))
