"""Seed 002's view of a run: ``/execute``'s SSE events and its JSON result.

Why a separate mapping from seed 000's: seed 002 names events differently
(``execution_start``, ``step_start``, ``step_output``, ``step_complete``,
``execution_complete``), reports ``status: success|failed`` and step ``duration``s, and its
Python client reads the event name from the *data* (``event.get("event")``), so every data
object carries ``"event": <name>`` too. A run paused at a human gate ends the stream with
``execution_paused``, which says how to resume (seed 000's resume endpoints) and where to
watch the rest (``GET /execute/runs/{run_id}/stream``, also resumable with Last-Event-ID).
This module has no routes; ``providers`` mounts them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from switchboard.engine.clock import iso
from switchboard.engine.events import DROPPED, EventFilter
from switchboard.engine.models import Event, Run, StepRecord
from switchboard.engine.orchestrations.definitions import Orchestration
from switchboard.engine.orchestrations.inline import ROLLBACK
from switchboard.server import API_BASE, convert
from switchboard.server.contract import providers as wire

STATUS = {"completed": "success", "failed": "failed", "cancelled": "cancelled",
          "paused": "paused", "running": "running"}
AT_REST = ("paused", "completed", "failed", "cancelled")
ENDING = ("run.completed", "run.failed", "run.cancelled")
Frame = tuple[int | None, str, dict[str, Any]]


def resume_help(run_id: str, hir: dict[str, Any] | None) -> dict[str, Any]:
    """How a client resumes a paused inline run: seed 000's endpoints and an example body."""
    fields = (hir or {}).get("fields") or []
    example = {f["name"]: (f.get("choices") or [f.get("default", "")])[0]
               if f.get("type") in ("select", "multiselect") else f.get("default", "")
               for f in fields if isinstance(f, dict) and "name" in f}
    return {"method": "POST", "url": f"{API_BASE}/orchestrations/runs/{run_id}/resume",
            "stream_url": f"{API_BASE}/orchestrations/runs/{run_id}/resume/stream",
            "body": {"response": example}}


def watch_url(run_id: str) -> str:
    return f"{API_BASE}/execute/runs/{run_id}/stream"


class ExecutionView:
    """One run seen through seed 002: step names and indexes come from the pinned
    definition; step durations from the step_started/step_completed event times."""

    def __init__(self, orch: Orchestration, run: Run) -> None:
        self.orch = orch
        self.run_id = run.run_id
        self.created_at = run.created_at
        self.index = {step.id: i for i, step in enumerate(orch.steps)}
        self.titles = {step.id: step.title for step in orch.steps}
        self._started: dict[str, float] = {}
        # when a replay starts mid-step (a resumed gate), the history knows when it began
        self._hints = {r.step_id: r.started_at for r in run.step_history
                       if r.started_at is not None}

    def _step(self, step_id: str | None) -> dict[str, Any]:
        key = step_id or ""
        return {"step": self.titles.get(key, key), "step_id": step_id,
                "index": self.index.get(key)}

    @staticmethod
    def _frame(seq: int | None, name: str, data: dict[str, Any]) -> Frame:
        return seq, name, {"event": name, **data}

    # -- events --------------------------------------------------------------------------
    def frames(self, event: Event) -> list[Frame]:
        """The seed 002 frames for one run event (none for bookkeeping events). Terminal
        events are handled by ``complete``/``paused``, which need the run."""
        kind = event.event_type.removeprefix("run.")
        p = event.payload
        seq = event.seq
        if kind == "started":
            return [self._frame(seq, "execution_start", {
                "workflow": self.orch.title, "workflow_id": self.orch.id,
                "run_id": self.run_id, "timestamp": iso(event.timestamp)})]
        if kind == "step_started":
            self._started[p.get("step_id") or ""] = event.timestamp
            return [self._frame(seq, "step_start", {**self._step(p.get("step_id")),
                                                     "type": p.get("type"),
                                                     "run_id": self.run_id})]
        if kind == "step_completed":
            step_id = p.get("step_id") or ""
            started = self._started.pop(step_id, None) or self._hints.get(step_id)
            duration = round(event.timestamp - started, 3) if started is not None else None
            out: list[Frame] = []
            if p.get("output") is not None:
                out.append(self._frame(None, "step_output", {**self._step(step_id),
                                                             "output": p.get("output"),
                                                             "run_id": self.run_id}))
            failed = p.get("status") == "failed"
            # only the last frame of an event carries its id: a client that reconnects after
            # step_output but before step_complete replays both rather than losing one
            out.append(self._frame(seq, "step_complete", {
                **self._step(step_id), "status": "failed" if failed else "success",
                "duration": duration if duration is not None else 0.0,
                "error": p.get("error"), "run_id": self.run_id}))
            return out
        if kind in ("failed", "cancelled"):
            # a step that fails the run gets no step_completed event of its own
            return [self._frame(None, "step_complete", {
                **self._step(step_id), "status": "failed",
                "duration": round(event.timestamp - started, 3),
                "error": p.get("error") or f"run {kind}", "run_id": self.run_id})
                for step_id, started in list(self._started.items())]
        if kind == "resumed":
            return [self._frame(seq, "execution_resumed", {
                **self._step(p.get("step_id")), "run_id": self.run_id,
                "answered_by": p.get("answered_by")})]
        return []

    def complete(self, run: Run, seq: int | None) -> Frame:
        """``execution_complete`` from the finished run (outputs need the whole history)."""
        return self._frame(seq, "execution_complete", self.summary(run, run.finished_at))

    def paused(self, hir: dict[str, Any] | None, approval_id: str | None, seq: int | None,
               now: float) -> Frame:
        hir = hir or {}
        return self._frame(seq, "execution_paused", {
            **self._step(hir.get("step_id")), "run_id": self.run_id, "status": "paused",
            "duration": round(now - self.created_at, 3), "human_input_required": hir,
            "approval_id": approval_id, "resume": resume_help(self.run_id, hir),
            "watch_url": watch_url(self.run_id),
            "message": "The run is waiting for a person: answer the gate through the resume "
                       "endpoint (or the approval inbox), then watch the rest at watch_url."})

    def terminal(self, run: Run, seq: int | None, now: float) -> Frame:
        if run.status == "paused":
            return self.paused(run.human_input_required, run.approval_id, seq, now)
        return self.complete(run, seq)

    # -- the JSON result -------------------------------------------------------------------
    def _record(self, record: StepRecord) -> wire.ExecutionStep:
        duration = (round(record.finished_at - record.started_at, 3)
                    if record.finished_at is not None and record.started_at is not None else None)
        key = record.step_id or ""
        return wire.ExecutionStep(
            step=self.titles.get(key, key), step_id=record.step_id, index=self.index.get(key),
            type=record.type, status="failed" if record.status == "failed" else "success",
            duration=duration, output=record.output, error=record.error)

    def summary(self, run: Run, end: float | None) -> dict[str, Any]:
        """Status, duration, per-step outputs (last visit wins, keyed by step id).

        A run that reached its end through a rollback (a failed step whose ``on_failure``
        led to the rollback step) is ``failed``, with the failed step's error and
        ``rollback``: the rollback step and how it went (issue 12: never "success")."""
        outputs = {r.step_id: r.output for r in run.step_history if r.status != "failed"}
        finished = end if end is not None else run.updated_at
        status = STATUS.get(run.status, run.status)
        error = run.error
        rollback = self._rollback(run)
        if rollback is not None and run.status == "completed":
            failed, outcome = rollback
            status = "failed"
            error = error or f"step {self.titles.get(failed.step_id or '', failed.step_id)!r} " \
                             f"failed: {failed.error or 'no detail'}; rolled back"
        out = {"run_id": run.run_id, "workflow": self.orch.title, "workflow_id": self.orch.id,
               "status": status, "duration": round(finished - run.created_at, 3),
               "outputs": outputs, "response": run.response, "final_state": run.shared_state,
               "error": error, "cost_usd": round(run.cost_usd, 6)}
        if rollback is not None:
            out["rollback"] = rollback[1]
        return out

    def _rollback(self, run: Run) -> tuple[StepRecord, dict[str, Any]] | None:
        """(the failed step, the rollback's outcome) when a failure was routed to a
        rollback step; None otherwise (``on_failure = "continue"`` is not a rollback)."""
        steps = {step.id: step for step in self.orch.steps}
        history = run.step_history
        for i, record in enumerate(history):
            if record.status != "failed":
                continue
            target = getattr(steps.get(record.step_id or ""), "on_failure", None)
            if not target or target not in steps or not ROLLBACK.search(
                    f"{target} {self.titles.get(target, '')}"):
                continue
            ran = next((r for r in history[i + 1:] if r.step_id == target), None)
            outcome: dict[str, Any] = {"step": self.titles.get(target, target),
                                       "step_id": target}
            if ran is None:
                outcome["status"] = "running" if run.status == "running" else "not_run"
            else:
                outcome["status"] = "failed" if ran.status == "failed" else "success"
                outcome["output"] = ran.output
                outcome["error"] = ran.error
            return record, outcome
        return None

    def result(self, run: Run, now: float) -> wire.ExecutionResult:
        """``/execute`` without streaming: the run as it stands after the wait."""
        summary = self.summary(run, run.finished_at if run.finished_at is not None else now)
        rollback = summary.pop("rollback", None)
        out = wire.ExecutionResult(**summary, steps=[self._record(r) for r in run.step_history])
        if rollback is not None:
            out.rollback = wire.RollbackOutcome(**rollback)
        if run.status == "paused":
            out.human_input_required = convert.human_input(run.human_input_required)
            out.approval_id = run.approval_id
            out.resume = wire.ResumeHelp(**resume_help(run.run_id, run.human_input_required))
        if run.status in ("paused", "running"):
            out.watch_url = watch_url(run.run_id)
        return out


async def execution_items(engine: Any, view: ExecutionView, after: int) -> AsyncIterator[Frame]:
    """Seed 002 frames of one run from event ``after`` until it pauses or ends."""
    run_id = view.run_id
    flt = EventFilter(types=("run.",), run_id=run_id)
    sub = await engine.bus.subscribe(after, flt)
    try:
        last = after
        run = await engine.runs.get(run_id)
        if run.status in AT_REST and not await engine.bus.history(after, flt, limit=1):
            yield view.terminal(run, last or None, engine.clock.now())
            return
        while True:
            event = await sub.next(timeout=30.0)
            if event is None:
                run = await engine.runs.get(run_id)
                if run.status in AT_REST and not await engine.bus.history(last, flt, limit=1):
                    yield view.terminal(run, last or None, engine.clock.now())
                    return
                continue
            if event.event_type == DROPPED:
                sub.close()
                sub = await engine.bus.subscribe(last, flt)
                continue
            last = event.seq
            for frame in view.frames(event):
                yield frame
            if event.event_type == "run.paused":
                # The frame comes from the event itself; the stream ends only if the run is
                # still waiting on this gate (a replay goes on past gates answered since).
                p = event.payload
                yield view.paused(p.get("human_input_required"), p.get("approval_id"),
                                  event.seq, event.timestamp)
                run = await engine.runs.get(run_id)
                if run.status == "paused" and run.approval_id == p.get("approval_id"):
                    return
                continue
            if event.event_type in ENDING:
                yield view.complete(await engine.runs.get(run_id), event.seq)
                return
    finally:
        sub.close()
