"""Tasks: seed 003's create/get/status, seed 001's list, the worker protocol, and ``watch``.

``watch`` follows one task through the durable event stream: the current state first, then
a fresh snapshot for every change, until the task is final. The stream position is taken
*before* the first read, so no change can fall between the read and the stream; a dropped
connection or a server restart resumes after the last event (``events.stream``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import msgspec

from switchboard.server.contract import (
    ClaimedTask,
    LogLevel,
    Task,
    TaskEnvelope,
    TaskLeaseAck,
    TaskLog,
    TaskPage,
    TaskPriorityAck,
    TaskProgressAck,
    TaskStatusAck,
)
from switchboard.server.sdk.client.errors import NotFound, ServerError, TransportError
from switchboard.server.sdk.client.http import Transport
from switchboard.server.sdk.client.models import Page
from switchboard.server.sdk.client.resources.events import EventsResource


class TasksResource:
    def __init__(self, transport: Transport, events: EventsResource) -> None:
        self._t = transport
        self._events = events

    # -- seed 001 / 003 -----------------------------------------------------------------
    async def create(self, type: str, payload: dict[str, Any] | None = None, *,
                     priority: str = "P2", agent_id: str | None = None,
                     source: str | None = None, sla_target: float | None = None,
                     metadata: dict[str, Any] | None = None,
                     schedule: dict[str, Any] | None = None,
                     idempotency_key: str | None = None,
                     max_attempts: int | None = None, trace_id: str | None = None) -> Task:
        """Create a task; it is routed to its agent type (P0/P1 first wait for approval).

        With ``idempotency_key`` the call is retried on 5xx/timeouts too: the server
        returns the existing task for a key it has seen.
        """
        meta = dict(metadata or {})
        if trace_id is not None:
            meta["trace_id"] = trace_id
        body: dict[str, Any] = {"type": type, "payload": payload or {}, "priority": priority}
        for key, value in (("agent_id", agent_id), ("source", source),
                           ("sla_target", sla_target), ("schedule", schedule),
                           ("idempotency_key", idempotency_key),
                           ("max_attempts", max_attempts)):
            if value is not None:
                body[key] = value
        if meta:
            body["metadata"] = meta
        envelope = await self._t.request_as(TaskEnvelope, "POST", "/tasks", json=body,
                                            idempotent=idempotency_key is not None)
        return envelope.task

    async def get(self, task_id: str) -> Task:
        """One task with its logs, progress and result."""
        return (await self._t.request_as(TaskEnvelope, "GET", f"/tasks/{task_id}")).task

    async def list(self, *, status: str | None = None, priority: str | None = None,
                   agent_id: str | None = None, type: str | None = None,
                   run_id: str | None = None, created_after: datetime | None = None,
                   created_before: datetime | None = None, page: int = 1,
                   limit: int = 20) -> Page[Task]:
        """Newest first, seed 001's filters (``status="running"`` means in_progress)."""
        body = await self._t.request_as(TaskPage, "GET", "/tasks", params={
            "status": status, "priority": priority, "agent_id": agent_id, "type": type,
            "run_id": run_id, "created_after": created_after, "created_before": created_before,
            "page": page, "limit": limit})
        return Page(body.data, body.pagination)

    async def iterate(self, **filters: Any) -> AsyncIterator[Task]:
        """Every matching task, page by page (100 at a time)."""
        page = 1
        while True:
            batch = await self.list(page=page, limit=100, **filters)
            for task in batch:
                yield task
            if page >= batch.pagination.pages or not batch:
                return
            page += 1

    async def update_status(self, task_id: str, status: str, *, error: str | None = None,
                            result: Any = None) -> TaskStatusAck:
        """Seed 003's ``PATCH /tasks/{id}/status`` (in_progress, completed, failed)."""
        return await self._t.request_as(
            TaskStatusAck, "PATCH", f"/tasks/{task_id}/status",
            params={"status": status, "error": error},
            json=None if result is None else {"result": result}, idempotent=True)

    # -- worker protocol -------------------------------------------------------------------
    async def claim(self, agent_id: str, wait: float = 0.0) -> Task | None:
        """Lease the next task for ``agent_id``'s type (HTTP long-poll up to ``wait`` s).

        Returns the task with ``lease_id`` set, or None if none came within ``wait``.
        """
        response = await self._t.request("POST", "/tasks/claim",
                                         json={"agent_id": agent_id, "wait": wait},
                                         timeout=wait + 15.0)
        if response.status == 204 or not response.body:
            return None
        return msgspec.json.decode(response.body, type=ClaimedTask).task

    async def progress(self, task_id: str, progress: int, message: str | None = None, *,
                       lease_id: str | None = None) -> TaskProgressAck:
        """Report 0-100 progress (extends the lease); ``message`` becomes a log line."""
        body: dict[str, Any] = {"progress": progress, "lease_id": lease_id}
        if message:
            body["message"] = message
        return await self._t.request_as(TaskProgressAck, "POST", f"/tasks/{task_id}/progress",
                                        json=body, idempotent=True)

    async def log(self, task_id: str, message: str, level: str = "info", *,
                  lease_id: str | None = None) -> None:
        """Append a log line. A worker passes its ``lease_id`` so the line is accepted only
        while it still holds the task (otherwise the server identifies it by principal)."""
        body: dict[str, Any] = {"level": level, "message": message}
        if lease_id is not None:
            body["lease_id"] = lease_id
        await self._t.request("POST", f"/tasks/{task_id}/logs", json=body)

    async def complete(self, task_id: str, result: Any = None, *,
                       lease_id: str | None = None) -> TaskStatusAck:
        """Report success. With ``lease_id``, a lost lease is refused with ``Conflict``."""
        return await self._t.request_as(TaskStatusAck, "POST", f"/tasks/{task_id}/complete",
                                        json={"result": result, "lease_id": lease_id},
                                        idempotent=lease_id is not None)

    async def fail(self, task_id: str, error: str, *, lease_id: str | None = None,
                   retry: bool = False) -> TaskStatusAck:
        """Report failure; ``retry=True`` asks for a requeue while attempts remain."""
        return await self._t.request_as(TaskStatusAck, "POST", f"/tasks/{task_id}/fail",
                                        json={"error": error, "lease_id": lease_id,
                                              "retry": retry},
                                        idempotent=lease_id is not None)

    async def release(self, task_id: str, lease_id: str) -> TaskStatusAck:
        """Hand a claimed task back (shutting down): requeued at once, attempt not counted."""
        return await self._t.request_as(TaskStatusAck, "POST", f"/tasks/{task_id}/release",
                                        json={"lease_id": lease_id}, idempotent=True)

    async def extend_lease(self, task_id: str, lease_id: str) -> TaskLeaseAck:
        return await self._t.request_as(TaskLeaseAck, "POST", f"/tasks/{task_id}/lease",
                                        json={"lease_id": lease_id}, idempotent=True)

    # -- operator actions ------------------------------------------------------------------
    async def cancel(self, task_id: str, reason: str | None = None) -> TaskStatusAck:
        return await self._t.request_as(TaskStatusAck, "POST", f"/tasks/{task_id}/cancel",
                                        json={"reason": reason} if reason else None)

    async def retry(self, task_id: str) -> TaskStatusAck:
        return await self._t.request_as(TaskStatusAck, "POST", f"/tasks/{task_id}/retry")

    async def set_priority(self, task_id: str, priority: str) -> TaskPriorityAck:
        return await self._t.request_as(TaskPriorityAck, "PATCH", f"/tasks/{task_id}/priority",
                                        json={"priority": priority}, idempotent=True)

    # -- following a task -------------------------------------------------------------------
    async def watch(self, task_id: str, *, reconnect_for: float | None = 300.0,
                    poll_interval: float = 1.0) -> AsyncIterator[Task]:
        """Snapshots of a task: now, then after every change, ending once it is final.

        Progress events update the snapshot in place; any other change is re-read. Falls
        back to polling every ``poll_interval`` s on a server without an event stream.
        """
        position = await self._events.position()
        task = await self._patient_get(task_id, reconnect_for)
        yield task
        if task.done:
            return
        try:
            stream = self._events.stream(position, task_id=task_id, types="task.",
                                         reconnect_for=reconnect_for)
            try:
                async for event in stream:
                    if event.event_type == "task.progress" and task.status == "in_progress":
                        logs = list(task.log_lines)
                        message = event.payload.get("message")
                        if message:
                            logs.append(TaskLog(timestamp=event.timestamp, level=LogLevel.INFO,
                                                message=str(message)))
                        task = msgspec.structs.replace(
                            task, progress=int(event.payload.get("progress", task.progress)),
                            logs=logs)
                    else:
                        task = await self._patient_get(task_id, reconnect_for)
                    yield task
                    if task.done:
                        return
            finally:
                await stream.aclose()
        except NotFound:
            pass  # no event stream on this server: poll instead
        while not task.done:
            await asyncio.sleep(poll_interval)
            latest = await self._patient_get(task_id, reconnect_for)
            if latest.status != task.status or latest.progress != task.progress:
                yield latest
            task = latest

    async def wait(self, task_id: str, timeout: float | None = None) -> Task:
        """The task once final (``TimeoutError`` after ``timeout`` seconds)."""
        async def last() -> Task:
            final: Task | None = None
            async for final in self.watch(task_id):  # noqa: B007
                pass
            assert final is not None
            return final

        return await asyncio.wait_for(last(), timeout)

    async def _patient_get(self, task_id: str, patience: float | None) -> Task:
        """``get`` that rides out a restarting server for up to ``patience`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = None if patience is None else loop.time() + patience
        delay = 0.1
        while True:
            try:
                return await self.get(task_id)
            except (TransportError, ServerError):
                if deadline is not None and loop.time() > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
