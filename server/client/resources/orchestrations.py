"""Orchestrations and runs (seed 000): list, get, run (sync or streamed), resume, cancel,
retry, and a run's event stream that resumes by seq.

Two ways to follow a run, on purpose:

- ``orchestrations.run_stream(...)`` / ``runs.resume_stream(...)`` read the POST's own SSE
  answer (seed 000's event names). That request cannot be replayed (a second POST would
  start a second run), so if the connection drops, the stream continues from the durable
  event bus (``runs.stream``) after the last seq it saw, once it knows the run id.
- ``runs.stream(run_id)`` reads the durable bus filtered by run: from the first event (or
  ``after``), reconnecting and resuming across server restarts, until the run ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec

from server.client.errors import TransportError
from server.client.http import Response, Transport
from server.client.models import Orchestration, Page, Run, RunEvent
from server.client.resources._util import convert, page_of, unwrap
from server.client.resources.events import EventsResource
from server.client.sse import iter_sse

# engine run event (after "run.") -> seed 000's SSE event name
SEED_EVENT_NAMES = {
    "step_started": "step_start",
    "step_completed": "step_complete",
    "paused": "human_input_required",
    "completed": "orchestration_complete",
    "failed": "orchestration_error",
    "cancelled": "orchestration_error",
}
FINAL_EVENTS = frozenset({"orchestration_complete", "orchestration_error", "done"})


def seed_event_name(event_type: str) -> str:
    """``run.step_started`` -> ``step_start`` (seed 000); unlisted names lose the prefix."""
    name = event_type.removeprefix("run.")
    return SEED_EVENT_NAMES.get(name, name)


def _run(body: Any) -> Run:
    return convert(unwrap(body, "run", "data"), Run)


class RunsResource:
    def __init__(self, transport: Transport, events: EventsResource) -> None:
        self._t = transport
        self._events = events

    async def list(self, *, status: str | None = None, orchestration_id: str | None = None,
                   page: int = 1, limit: int = 20) -> Page[Run]:
        body = (await self._t.request("GET", "/orchestrations/runs", params={
            "status": status, "orchestration_id": orchestration_id, "page": page,
            "limit": limit})).json()
        return page_of(body, Run)

    async def get(self, run_id: str) -> Run:
        return _run((await self._t.request("GET", f"/orchestrations/runs/{run_id}")).json())

    async def resume(self, run_id: str, response: dict[str, Any] | str) -> Run:
        """Answer a paused run's human gate and wait (like seed 000) for the next stop."""
        body = await self._t.request("POST", f"/orchestrations/runs/{run_id}/resume",
                                     json={"response": response}, timeout=self._sync_timeout())
        return _run(body.json())

    def resume_stream(self, run_id: str, response: dict[str, Any] | str
                      ) -> AsyncIterator[RunEvent]:
        """Answer the gate and stream what follows (seed 000's ``/resume/stream``)."""
        return _post_stream(self._t, self, f"/orchestrations/runs/{run_id}/resume/stream",
                            {"response": response}, run_id)

    async def cancel(self, run_id: str) -> Run:
        return _run((await self._t.request("POST", f"/orchestrations/runs/{run_id}/cancel"))
                    .json())

    async def retry(self, run_id: str) -> Run:
        return _run((await self._t.request("POST", f"/orchestrations/runs/{run_id}/retry"))
                    .json())

    async def stream(self, run_id: str, *, after: int = 0, stop_on_pause: bool = True,
                     reconnect_for: float | None = 300.0) -> AsyncIterator[RunEvent]:
        """A run's events from the durable bus (seed 000 names), from ``after`` on.

        Ends after the run's final event (and, with ``stop_on_pause``, at a human gate).
        """
        stream = self._events.stream(after, run_id=run_id, types="run.",
                                     reconnect_for=reconnect_for)
        try:
            async for event in stream:
                item = RunEvent(event=seed_event_name(event.event_type), data=event.payload,
                                seq=event.seq, run_id=event.run_id)
                yield item
                if item.event in FINAL_EVENTS or (
                        stop_on_pause and item.event == "human_input_required"):
                    return
        finally:
            await stream.aclose()

    async def wait(self, run_id: str, *, stop_on_pause: bool = True) -> Run:
        """The run once it has finished (or paused, with ``stop_on_pause``)."""
        run = await self.get(run_id)
        if run.done or (stop_on_pause and run.paused):
            return run
        async for _ in self.stream(run_id, stop_on_pause=stop_on_pause):
            pass
        return await self.get(run_id)

    def _sync_timeout(self) -> float:
        return max(self._t.timeout, 120.0)


class OrchestrationsResource:
    def __init__(self, transport: Transport, runs: RunsResource) -> None:
        self._t = transport
        self._runs = runs

    async def list(self) -> list[Orchestration]:
        """Configured orchestrations (``steps`` is the number of steps here)."""
        body = (await self._t.request("GET", "/orchestrations")).json()
        items = unwrap(body, "data", "orchestrations")
        return [convert(item, Orchestration) for item in items or []]

    async def get(self, orchestration_id: str) -> Orchestration:
        body = (await self._t.request("GET", f"/orchestrations/{orchestration_id}")).json()
        return convert(unwrap(body, "data", "orchestration"), Orchestration)

    async def run(self, orchestration_id: str, message: str | None = None, **extra: Any) -> Run:
        """Start a run and wait for it to complete, pause at a gate, or fail (seed 000)."""
        body = await self._t.request("POST", f"/orchestrations/{orchestration_id}/run",
                                     json={"message": message, **extra},
                                     timeout=self._runs._sync_timeout())
        return _run(body.json())

    def run_stream(self, orchestration_id: str, message: str | None = None, **extra: Any
                   ) -> AsyncIterator[RunEvent]:
        """Start a run and stream its events (seed 000's names), ending with ``done``."""
        return _post_stream(self._t, self._runs, f"/orchestrations/{orchestration_id}/run/stream",
                            {"message": message, **extra}, None)


async def _post_stream(transport: Transport, runs: RunsResource, path: str, body: dict[str, Any],
                       run_id: str | None) -> AsyncIterator[RunEvent]:
    """Read a POST's SSE answer; if it breaks before the end, continue from the bus."""
    last_seq: int | None = None
    headers = transport.auth_headers()
    headers["Accept"] = "text/event-stream"
    timeout = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=120.0)
    try:
        async with transport.session.post(transport.url(path), data=msgspec.json.encode(body),
                                          headers={**headers,
                                                   "Content-Type": "application/json"},
                                          timeout=timeout) as resp:
            if resp.status >= 400:
                raise Transport._error("POST", path,
                                       Response(resp.status, await resp.read(), resp.headers))
            async for message in iter_sse(resp):
                data = message.json() if message.data else {}
                if not isinstance(data, dict):
                    data = {"value": data}
                run_id = run_id or data.get("run_id")
                seq = int(message.id) if message.id and message.id.isdigit() else None
                last_seq = seq if seq is not None else last_seq
                yield RunEvent(event=message.event, data=data, seq=seq, run_id=run_id)
                if message.event == "done":
                    return
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
        if run_id is None:
            raise TransportError(f"POST {path}: {type(exc).__name__}: {exc}", method="POST",
                                 path=path) from exc
    if run_id is None:
        return
    # the POST's stream broke (or ended without "done"): follow the run on the durable bus
    async for item in runs.stream(run_id, after=last_seq or 0, stop_on_pause=True):
        yield item
        if item.event in FINAL_EVENTS or item.event == "human_input_required":
            break
    yield RunEvent(event="done", data={"run_id": run_id}, run_id=run_id)
