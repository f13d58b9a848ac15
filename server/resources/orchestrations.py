"""Orchestrations and runs, exactly as seed 000 shows them.

``/run`` and ``/resume`` are synchronous: they answer ``completed``, ``paused`` (with
``human_input_required``, also when the run waits on a P0/P1 task's approval) or ``failed``
— or, still working past the ``wait`` bound, 202 with the run id and a ``Location`` to
follow (``server.resources.run_outcome``). The ``/stream`` variants send seed 000's nine
SSE event names; every frame carries ``id: <seq>`` and
``GET /orchestrations/runs/{run_id}/stream`` resumes from ``Last-Event-ID`` so a client that
lost its connection loses nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from switchboard.engine.errors import NotFound
from switchboard.engine.events import DROPPED, EventFilter
from switchboard.engine.models import Event
from switchboard.engine.orchestrations.definitions import Orchestration
from switchboard.server import contract, convert
from switchboard.server.errors import ApiError
from switchboard.server.jsonio import QueryModel, StrictModel
from switchboard.server.resources.common import PageQuery, actor_of, engine_of, pagination
from switchboard.server.resources.run_outcome import (
    STILL_RUNNING,
    answer_task_approval,
    run_answer,
)
from switchboard.server.routing import RouteTable
from switchboard.server.sse import last_event_id, stream_events

routes = RouteTable(tag="orchestrations")

FINAL = ("paused", "completed", "failed", "cancelled")


def seed_event(event: Event) -> tuple[str, dict[str, Any]] | None:
    """A run event as seed 000's SSE (name, data); None for bookkeeping events."""
    p = event.payload
    name = event.event_type.removeprefix("run.")
    if name == "step_started":
        return "step_start", {"run_id": event.run_id, "step_id": p.get("step_id"),
                              "step_name": p.get("step_name"), "type": p.get("type")}
    if name == "step_completed":
        return "step_complete", {"run_id": event.run_id, "step_id": p.get("step_id"),
                                 "step_name": p.get("step_name"), "type": p.get("type"),
                                 "status": p.get("status"), "output": p.get("output"),
                                 "error": p.get("error"), "turns": p.get("turns"),
                                 "cost_usd": p.get("cost_usd")}
    if name == "agent_turn":
        return "agent_turn", {"run_id": event.run_id, **_without(p, "orchestration_id")}
    if name == "tool_execution":
        return "tool_execution", {"run_id": event.run_id, "step_id": p.get("step_id"),
                                  "tool_name": p.get("tool_name"), "args": p.get("args")}
    if name == "tool_result":
        return "tool_result", {"run_id": event.run_id, "step_id": p.get("step_id"),
                               "tool_name": p.get("tool_name"), "preview": p.get("preview"),
                               "ok": p.get("ok")}
    if name == "paused":
        hir = dict(p.get("human_input_required") or {})
        hir["run_id"] = event.run_id
        return "human_input_required", hir
    if name == "completed":
        return "orchestration_complete", {"run_id": event.run_id, "status": "completed",
                                          "response": p.get("response"),
                                          "final_state": p.get("final_state")}
    if name in ("failed", "cancelled"):
        return "orchestration_error", {"run_id": event.run_id, "status": name,
                                       "error": p.get("error") or f"run {name}"}
    return None


def _without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys}


ENDS = ("human_input_required", "orchestration_complete", "orchestration_error")


async def run_stream_items(request: web.Request, run_id: str,
                           after: int) -> AsyncIterator[tuple[int | None, str, Any]]:
    """Seed 000 frames for one run from ``after``, ending with ``done`` at a pause or end."""
    engine = engine_of(request)
    sub = await engine.bus.subscribe(after, EventFilter(types=("run.",), run_id=run_id))
    try:
        last = after
        run = await engine.runs.get(run_id)
        if run.status in FINAL and not await _has_more(engine, run_id, after):
            # nothing after this seq and the run is already at rest: say so and stop
            yield last, "done", {"run_id": run_id, "status": run.status}
            return
        while True:
            event = await sub.next(timeout=30.0)
            if event is None:
                run = await engine.runs.get(run_id)
                if run.status in FINAL and not await _has_more(engine, run_id, last):
                    yield last, "done", {"run_id": run_id, "status": run.status}
                    return
                continue
            if event.event_type == DROPPED:
                sub.close()
                sub = await engine.bus.subscribe(last, EventFilter(types=("run.",),
                                                                   run_id=run_id))
                continue
            last = event.seq
            mapped = seed_event(event)
            if mapped is None:
                continue
            name, data = mapped
            yield event.seq, name, data
            if name in ENDS:
                status = "paused" if name == "human_input_required" else data.get("status")
                yield event.seq, "done", {"run_id": run_id, "status": status}
                return
    finally:
        sub.close()


async def _has_more(engine: Any, run_id: str, after: int) -> bool:
    events = await engine.bus.history(after, EventFilter(types=("run.",), run_id=run_id),
                                      limit=1)
    return bool(events)


def _get_orchestration(request: web.Request, orch_id: str) -> Orchestration:
    orch = engine_of(request).orchestrations.get(orch_id)
    if orch is None:
        raise NotFound(f"orchestration {orch_id!r} not found")
    return orch


class RunBody(StrictModel):
    message: str | None = Field(None, max_length=100_000,
                                description="Initial input; fills the first state key.")
    parameters: dict[str, Any] | None = Field(None, description="Initial state values.")
    wait: float | None = Field(None, gt=0, le=3600,
                               description="Seconds to wait before answering `running`.")


class ResumeBody(StrictModel):
    response: dict[str, Any] | str = Field(
        description="Field values of the gate (or a plain string for simple text inputs).")
    approval_id: str | None = Field(
        None, min_length=1, max_length=200,
        description="The gate this answers (`approval_id` of the pause); 409 once it is no "
                    "longer open, so a duplicated resume never lands on the next gate.")
    step_id: str | None = Field(
        None, min_length=1, max_length=200,
        description="The gate's step id; 409 unless the run is paused at that step.")
    wait: float | None = Field(None, gt=0, le=3600)


def _wait_bound(request: web.Request, wait: float | None) -> float:
    return wait or engine_of(request).config.server.sync_run_wait_seconds


# -- runs (registered before /orchestrations/{orch_id} so "runs" is not taken for an id) -----

class RunListQuery(PageQuery):
    status: Literal["running", "paused", "completed", "failed", "cancelled"] | None = None
    orchestration: str | None = Field(None, description="Only runs of this orchestration id.")


@routes.get("/orchestrations/runs", role="user", query=RunListQuery, response=contract.RunPage)
async def list_runs(request: web.Request, query: RunListQuery) -> contract.RunPage:
    """Runs, newest first, filtered by status and orchestration."""
    runs_service = engine_of(request).runs
    runs = await runs_service.list(query.status, query.orchestration, limit=query.limit,
                                   offset=(query.page - 1) * query.limit)
    total = await runs_service.count(query.status) if not query.orchestration else len(runs)
    return contract.RunPage(data=[convert.run(r) for r in runs],
                            pagination=pagination(query.page, query.limit, total))


@routes.get("/orchestrations/runs/{run_id}", role="user", response=contract.Run)
async def get_run(request: web.Request) -> contract.Run:
    """One run: status, shared state, step history, pending gate, cost."""
    return convert.run(await engine_of(request).runs.get(request.match_info["run_id"]))


_RESUME_ERRORS = {403: "the gate does not admit the caller", 404: "no such run or approval",
                  409: "the run is not paused, or the named gate is no longer open",
                  400: "an answer failed validation"}
_RUN_ANSWERS = {202: STILL_RUNNING}


@routes.post("/orchestrations/runs/{run_id}/resume", role="user", body=ResumeBody,
             response=contract.RunResult, responses={**_RESUME_ERRORS, **_RUN_ANSWERS})
async def resume(request: web.Request, body: ResumeBody) -> web.Response:
    """Submit the human input and resume (synchronous, like /run).

    Who may answer is the gate's: its ``allowed_roles``/``allowed_users`` (exact
    membership), agents and admins when it lists nobody, any admin as break-glass (so the
    route itself admits every role). Name the gate with ``approval_id`` (or ``step_id``) to
    make a retried request safe: exactly one answer per gate is applied, the rest get 409.

    A run that waits on a P0/P1 task's approval (answered ``paused`` by ``/run``) takes
    ``{"decision": "approve"|"reject", "notes": ...}`` here: that decides the approval, for
    agents and admins, as ``POST /approvals/{id}/approve`` or ``/reject`` would.
    """
    engine = engine_of(request)
    run_id = request.match_info["run_id"]
    current = await engine.runs.get(run_id)
    if not await answer_task_approval(request, current, body.response, body.approval_id):
        await engine.runs.resume(run_id, body.response, actor_of(request),
                                 approval_id=body.approval_id, step_id=body.step_id)
    run = await engine.runs.wait(run_id, _wait_bound(request, body.wait))
    return await run_answer(request, run)


@routes.post("/orchestrations/runs/{run_id}/resume/stream", role="user", body=ResumeBody,
             media_type="text/event-stream", response=contract.RunStreamFrame,
             responses=_RESUME_ERRORS)
async def resume_stream(request: web.Request, body: ResumeBody) -> web.StreamResponse:
    """Submit the human input and stream the rest of the run (SSE, seed 000 events); the
    same rules as ``/resume``, refused before the stream starts."""
    engine = engine_of(request)
    run_id = request.match_info["run_id"]
    after = engine.bus.last_seq
    await engine.runs.resume(run_id, body.response, actor_of(request),
                             approval_id=body.approval_id, step_id=body.step_id)
    return await stream_events(request, run_stream_items(request, run_id, after))


class StreamQuery(QueryModel):
    after: int | None = Field(None, ge=0, description="Replay events after this seq.")


@routes.get("/orchestrations/runs/{run_id}/stream", role="user", query=StreamQuery,
            media_type="text/event-stream", response=contract.RunStreamFrame)
async def watch_run(request: web.Request, query: StreamQuery) -> web.StreamResponse:
    """A run's events as SSE from ``Last-Event-ID`` / ``?after=`` (default: the start)."""
    run_id = request.match_info["run_id"]
    await engine_of(request).runs.get(run_id)  # 404 before the stream starts
    header = last_event_id(request)
    after = query.after or 0
    if header is not None:
        try:
            after = int(header)
        except ValueError:
            raise ApiError(400, "Last-Event-ID must be an event seq") from None
    return await stream_events(request, run_stream_items(request, run_id, after))


@routes.post("/orchestrations/runs/{run_id}/cancel", role="agent", response=contract.RunResult,
             responses={403: "the run waits on a gate the caller may not answer",
                        409: "the run already ended"})
async def cancel_run(request: web.Request) -> contract.RunResult:
    """Cancel a running or paused run (its gate and open tasks are cancelled too).

    A run paused at a gate can be cancelled only by someone who may answer that gate (an
    admin always, as break-glass); audited as ``run.cancel``."""
    run = await engine_of(request).runs.cancel(request.match_info["run_id"], actor_of(request))
    return convert.run_result(run)


@routes.post("/orchestrations/runs/{run_id}/retry", role="agent", response=contract.RunResult,
             responses={409: "only failed runs can be retried"})
async def retry_run(request: web.Request) -> contract.RunResult:
    """Run a failed run again from the step that failed (a gate step opens a new gate);
    audited as ``run.retry``."""
    engine = engine_of(request)
    run = await engine.runs.retry(request.match_info["run_id"], actor_of(request))
    return convert.run_result(run)


# -- orchestrations ---------------------------------------------------------------------------

@routes.get("/orchestrations", role="user", response=list[contract.OrchestrationSummary])
async def list_orchestrations(request: web.Request) -> list[contract.OrchestrationSummary]:
    """All configured orchestrations (seed 000: id, name, description, step count)."""
    return [convert.orchestration_summary(o) for o in engine_of(request).orchestrations.list()]


@routes.get("/orchestrations/problems", role="user", response=contract.DefinitionProblems)
async def definition_problems(request: web.Request) -> contract.DefinitionProblems:
    """Broken definition files and why (the last good version of each stays active)."""
    problems = engine_of(request).orchestrations.problems()
    return contract.DefinitionProblems(count=len(problems),
                                       problems=[convert.problem(p) for p in problems])


@routes.get("/orchestrations/{orch_id}", role="user", response=contract.OrchestrationDetail)
async def get_orchestration(request: web.Request) -> contract.OrchestrationDetail:
    """Full details of an orchestration, including every step definition."""
    return convert.orchestration_detail(_get_orchestration(request, request.match_info["orch_id"]))


@routes.post("/orchestrations/{orch_id}/run", role="agent", body=RunBody,
             response=contract.RunResult, responses=_RUN_ANSWERS)
async def run(request: web.Request, body: RunBody) -> web.Response:
    """Start a run and wait for it to complete, pause at a gate or fail (synchronous).

    ``paused`` also when a task step waits on its P0/P1 approval (``human_input_required``
    asks for the decision; answer with ``/resume``); 202 with a ``Location`` to follow when
    the run is still working as the wait ends."""
    engine = engine_of(request)
    orch = _get_orchestration(request, request.match_info["orch_id"])
    started = await engine.runs.start(orch, body.message, actor=actor_of(request),
                                      values=body.parameters)
    finished = await engine.runs.wait(started.run_id, _wait_bound(request, body.wait))
    return await run_answer(request, finished)


@routes.post("/orchestrations/{orch_id}/run/stream", role="agent", body=RunBody,
             media_type="text/event-stream", response=contract.RunStreamFrame)
async def run_stream(request: web.Request, body: RunBody) -> web.StreamResponse:
    """Start a run and stream it as SSE: step_start, step_complete, agent_turn,
    tool_execution, tool_result, human_input_required, orchestration_complete,
    orchestration_error, done."""
    engine = engine_of(request)
    orch = _get_orchestration(request, request.match_info["orch_id"])
    after = engine.bus.last_seq
    started = await engine.runs.start(orch, body.message, actor=actor_of(request),
                                      values=body.parameters)
    return await stream_events(request, run_stream_items(request, started.run_id, after))
