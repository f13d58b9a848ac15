"""Orchestrations and runs (seed 000): list, get, run (sync or streamed), resume, cancel,
retry, and a run's event stream that resumes by seq.

Two ways to follow a run, on purpose:

- ``orchestrations.run_stream(...)`` / ``runs.resume_stream(...)`` read the POST's own SSE
  answer (seed 000's event names, each frame's id the event seq). That request cannot be
  replayed (a second POST would start a second run), so if the connection drops, the
  stream continues on ``runs.stream`` after the last seq it saw, once it knows the run id.
- ``runs.stream(run_id)`` reads ``GET /orchestrations/runs/{id}/stream`` from the first
  event (or ``after``), reconnecting with ``Last-Event-ID`` across server restarts, until
  ``done`` (the run paused at a gate or ended).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec

from switchboard.server.contract import (
    OrchestrationDetail,
    OrchestrationSummary,
    Run,
    RunPage,
    RunResult,
)
from switchboard.server.sdk.client.errors import TransportError
from switchboard.server.sdk.client.http import Response, Transport
from switchboard.server.sdk.client.models import Page, RunEvent
from switchboard.server.sdk.client.resources.events import EventsResource
from switchboard.server.sdk.client.sse import ResumableStream, iter_sse


def _run_body(message: str | None, parameters: dict[str, Any] | None,
              wait: float | None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if parameters is not None:
        body["parameters"] = parameters
    if wait is not None:
        body["wait"] = wait
    return body


def _run_event(name: str, raw: str, event_id: str | None, run_id: str | None) -> RunEvent:
    """An SSE frame of a run stream as a RunEvent (``id`` is the event seq)."""
    data: Any = msgspec.json.decode(raw) if raw else {}
    if not isinstance(data, dict):
        data = {"value": data}
    seq = int(event_id) if event_id and event_id.isdigit() else None
    return RunEvent(event=name, data=data, seq=seq, run_id=run_id or data.get("run_id"))


def _gate(approval_id: str | None, step_id: str | None) -> dict[str, str]:
    """The optional names of the gate a resume answers."""
    named = {"approval_id": approval_id, "step_id": step_id}
    return {key: value for key, value in named.items() if value is not None}


class RunsResource:
    def __init__(self, transport: Transport, events: EventsResource) -> None:
        self._t = transport
        self._events = events

    async def list(self, *, status: str | None = None, orchestration_id: str | None = None,
                   page: int = 1, limit: int = 20) -> Page[Run]:
        body = await self._t.request_as(RunPage, "GET", "/orchestrations/runs", params={
            "status": status, "orchestration": orchestration_id, "page": page,
            "limit": limit})
        return Page(body.data, body.pagination)

    async def get(self, run_id: str) -> Run:
        return await self._t.request_as(Run, "GET", f"/orchestrations/runs/{run_id}")

    async def resume(self, run_id: str, response: dict[str, Any] | str, *,
                     wait: float | None = None, approval_id: str | None = None,
                     step_id: str | None = None) -> RunResult:
        """Answer a paused run's human gate and wait (like seed 000) for the next stop.

        Past ``wait`` seconds (server default 30) the answer is ``running``: follow it with
        ``wait()`` or ``stream()``. ``approval_id`` (the pause's) or ``step_id`` name the gate
        this answers: the server refuses it with ``Conflict`` once that gate is closed, so a
        repeated call never answers the next gate.
        """
        body: dict[str, Any] = {"response": response, **_gate(approval_id, step_id)}
        if wait is not None:
            body["wait"] = wait
        return await self._t.request_as(RunResult, "POST",
                                        f"/orchestrations/runs/{run_id}/resume", json=body,
                                        timeout=self._sync_timeout(wait))

    def resume_stream(self, run_id: str, response: dict[str, Any] | str, *,
                      approval_id: str | None = None, step_id: str | None = None
                      ) -> AsyncIterator[RunEvent]:
        """Answer the gate and stream what follows (seed 000's ``/resume/stream``)."""
        return _post_stream(self._t, self, f"/orchestrations/runs/{run_id}/resume/stream",
                            {"response": response, **_gate(approval_id, step_id)}, run_id)

    async def cancel(self, run_id: str) -> RunResult:
        return await self._t.request_as(RunResult, "POST", f"/orchestrations/runs/{run_id}/cancel")

    async def retry(self, run_id: str) -> RunResult:
        return await self._t.request_as(RunResult, "POST", f"/orchestrations/runs/{run_id}/retry")

    async def stream(self, run_id: str, *, after: int = 0,
                     reconnect_for: float | None = 300.0) -> AsyncIterator[RunEvent]:
        """A run's events (seed 000 names) from ``after``, ending with ``done`` once the run
        pauses at a gate or ends; reconnects with ``Last-Event-ID`` and resumes by seq."""
        source = ResumableStream(self._t, f"/orchestrations/runs/{run_id}/stream",
                                 initial_id=str(after), reconnect_for=reconnect_for,
                                 read_timeout=90.0)
        try:
            async for message in source:
                item = _run_event(message.event, message.data, message.id, run_id)
                yield item
                if item.event == "done":
                    return
        finally:
            source.close()

    async def wait(self, run_id: str) -> Run:
        """The run once it has finished or paused at a gate (from now: an earlier, already
        answered gate does not count)."""
        position = await self._events.position()
        run = await self.get(run_id)
        while not (run.done or run.paused):
            async for item in self.stream(run_id, after=position):
                position = max(position, item.seq or 0)
            run = await self.get(run_id)
        return run

    def _sync_timeout(self, wait: float | None = None) -> float:
        return max(self._t.timeout, (wait or 30.0) + 30.0)


class OrchestrationsResource:
    def __init__(self, transport: Transport, runs: RunsResource) -> None:
        self._t = transport
        self._runs = runs

    async def list(self) -> list[OrchestrationSummary]:
        """Configured orchestrations (``steps`` is the number of steps here)."""
        return await self._t.request_as(list[OrchestrationSummary], "GET", "/orchestrations")

    async def get(self, orchestration_id: str) -> OrchestrationDetail:
        """The whole definition: every step, the state schema, limits, version."""
        return await self._t.request_as(OrchestrationDetail, "GET",
                                        f"/orchestrations/{orchestration_id}")

    async def run(self, orchestration_id: str, message: str | None = None, *,
                  parameters: dict[str, Any] | None = None, wait: float | None = None
                  ) -> RunResult:
        """Start a run and wait for it to complete, pause at a gate, or fail (seed 000).

        ``parameters`` are initial state values; past ``wait`` seconds (server default 30)
        the answer is ``running`` with the run id to follow.
        """
        body = _run_body(message, parameters, wait)
        return await self._t.request_as(RunResult, "POST",
                                        f"/orchestrations/{orchestration_id}/run", json=body,
                                        timeout=self._runs._sync_timeout(wait))

    def run_stream(self, orchestration_id: str, message: str | None = None, *,
                   parameters: dict[str, Any] | None = None) -> AsyncIterator[RunEvent]:
        """Start a run and stream its events (seed 000's names), ending with ``done``."""
        return _post_stream(self._t, self._runs, f"/orchestrations/{orchestration_id}/run/stream",
                            _run_body(message, parameters, None), None)


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
                item = _run_event(message.event, message.data, message.id, run_id)
                run_id = item.run_id
                last_seq = item.seq if item.seq is not None else last_seq
                yield item
                if item.event == "done":
                    return
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
        if run_id is None:
            raise TransportError(f"POST {path}: {type(exc).__name__}: {exc}", method="POST",
                                 path=path) from exc
    if run_id is None:
        return
    # the POST's stream broke (or ended without "done"): follow the run's resumable stream
    async for item in runs.stream(run_id, after=last_seq or 0):
        yield item
