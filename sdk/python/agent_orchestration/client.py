"""``Client`` and ``AsyncClient``: seed 001's ``client.agents`` and ``client.tasks``.

Agents already speak seed 001 on every base, so ``agents`` is the Switchboard SDK's own
resource. Tasks decode into seed 001's task record (``Task``: ``status`` pending, running,
completed or failed; ``priority`` low..critical), read from ``/v1``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from switchboard.server.contract.seed001 import (
    Seed001Status,
    Seed001Task,
    Seed001TaskEnvelope,
    Seed001TaskPage,
)
from switchboard.server.sdk.client.client import AsyncClient as SwitchboardClient
from switchboard.server.sdk.client.http import Transport
from switchboard.server.sdk.client.models import Page
from switchboard.server.sdk.client.resources.agents import AgentsResource
from switchboard.server.sdk.client.resources.events import EventsResource
from switchboard.server.sdk.client.sync import _LoopThread, _SyncResource

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
FINAL = frozenset({Seed001Status.COMPLETED, Seed001Status.FAILED})


def seed_base_url(base_url: str) -> str:
    """A bare host gets seed 001's base (``/v1``); an explicit path is kept as given."""
    parts = urlsplit(base_url.strip())
    if parts.scheme in ("http", "https") and not parts.path.strip("/"):
        return urlunsplit((parts.scheme, parts.netloc, "/v1", "", ""))
    return base_url


class TasksResource:
    """Seed 001's tasks: ``create``, ``get``, ``list`` and ``watch``, in its words."""

    def __init__(self, transport: Transport, events: EventsResource) -> None:
        self._t = transport
        self._events = events

    async def create(self, *, type: str, agent_id: str | None = None,
                     payload: dict[str, Any] | None = None, priority: str = "medium",
                     schedule: dict[str, Any] | None = None, **extra: Any) -> Seed001Task:
        """Create a task (seed 001's body: ``agent_id``, ``type``, ``payload``, ``priority``
        as a word, ``schedule``); further fields (``metadata``, ``idempotency_key``...)
        go to the server as given."""
        body: dict[str, Any] = {"type": type, "payload": payload or {}, "priority": priority,
                                **{k: v for k, v in extra.items() if v is not None}}
        if agent_id is not None:
            body["agent_id"] = agent_id
        if schedule is not None:
            body["schedule"] = schedule
        envelope = await self._t.request_as(Seed001TaskEnvelope, "POST", "/tasks", json=body,
                                            idempotent="idempotency_key" in body)
        return envelope.data

    async def get(self, task_id: str) -> Seed001Task:
        """One task with its progress, logs and result."""
        return (await self._t.request_as(Seed001TaskEnvelope, "GET", f"/tasks/{task_id}")).data

    async def list(self, *, agent_id: str | None = None, status: str | None = None,
                   priority: str | None = None, type: str | None = None,
                   created_after: datetime | None = None,
                   created_before: datetime | None = None, page: int = 1,
                   limit: int = 20) -> Page[Seed001Task]:
        """Newest first, with seed 001's filters; a list that also has ``.pagination``."""
        body = await self._t.request_as(Seed001TaskPage, "GET", "/tasks", params={
            "agent_id": agent_id, "status": status, "priority": priority, "type": type,
            "created_after": created_after, "created_before": created_before, "page": page,
            "limit": limit})
        return Page(body.data, body.pagination)

    async def watch(self, task_id: str, callback: Callable[[Seed001Task], Any] | None = None,
                    *, reconnect_for: float | None = 300.0) -> AsyncIterator[Seed001Task]:
        """The task now, then after every change, until it is completed or failed.

        ``callback`` (as seed 001's JavaScript ``tasks.watch(id, cb)``) is called with each
        snapshot too. Changes arrive over the event stream, so nothing is polled."""
        position = await self._events.position()
        task = await self.get(task_id)
        if callback is not None:
            callback(task)
        yield task
        if task.status in FINAL:
            return
        stream = self._events.stream(position, task_id=task_id, types="task.",
                                     reconnect_for=reconnect_for)
        try:
            async for _event in stream:
                latest = await self.get(task_id)
                if (latest.status, latest.progress, latest.result) == (
                        task.status, task.progress, task.result):
                    continue
                task = latest
                if callback is not None:
                    callback(task)
                yield task
                if task.status in FINAL:
                    return
        finally:
            await stream.aclose()

    async def wait(self, task_id: str, timeout: float | None = None) -> Seed001Task:
        """The task once completed or failed (``TimeoutError`` after ``timeout`` s)."""
        async def last() -> Seed001Task:
            final: Seed001Task | None = None
            async for final in self.watch(task_id):  # noqa: B007
                pass
            assert final is not None
            return final

        return await asyncio.wait_for(last(), timeout)


class AsyncClient:
    """The asyncio client: ``AsyncClient(api_key=..., base_url=".../v1")``."""

    def __init__(self, api_key: str | None = None, base_url: str = DEFAULT_BASE_URL,
                 **options: Any) -> None:
        self._client = SwitchboardClient(seed_base_url(base_url), api_key=api_key, **options)
        self.agents: AgentsResource = self._client.agents
        self.tasks = TasksResource(self._client.transport, self._client.events)

    @classmethod
    def from_env(cls, **options: Any) -> AsyncClient:
        """``AGENT_ORCHESTRATION_API_KEY`` (seed 001's variable) and an optional
        ``AGENT_ORCHESTRATION_BASE_URL``."""
        options.setdefault("api_key", os.environ.get("AGENT_ORCHESTRATION_API_KEY"))
        options.setdefault("base_url", os.environ.get("AGENT_ORCHESTRATION_BASE_URL",
                                                      DEFAULT_BASE_URL))
        return cls(**options)

    @property
    def base_url(self) -> str:
        return self._client.base_url

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Client:
    """The blocking client of seed 001's example: every method returns its result, and
    ``tasks.watch`` is a plain generator (or calls ``callback`` with each snapshot)."""

    def __init__(self, api_key: str | None = None, base_url: str = DEFAULT_BASE_URL,
                 **options: Any) -> None:
        self._portal = _LoopThread()

        async def build() -> AsyncClient:
            return AsyncClient(api_key=api_key, base_url=base_url, **options)

        try:
            self._async = self._portal.run(build())
        except BaseException:
            self._portal.stop()
            raise
        self.agents: Any = _SyncResource(self._async.agents, self._portal)
        self.tasks: Any = _SyncResource(self._async.tasks, self._portal)

    @property
    def base_url(self) -> str:
        return self._async.base_url

    def watch(self, task_id: str, callback: Callable[[Seed001Task], Any] | None = None
              ) -> Iterator[Seed001Task]:
        """Same as ``client.tasks.watch``."""
        return self.tasks.watch(task_id, callback)  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._portal.loop.is_running():
            self._portal.run(self._async.close())
        self._portal.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"
