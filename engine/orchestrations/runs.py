"""Durable orchestration runs: the executor that walks a definition step by step.

Durability model (at-least-once per step): a run is checkpointed — shared state, step
history, the next step, visit counts — in the same group-committed store as everything else,
after every step. After a crash or restart, runs that were ``running`` continue from their
last checkpoint, so the step that was interrupted runs again. Steps with outside effects get
an idempotency key ``{run_id}:{step_id}:{visit}``: task steps pass it to the task queue (a
re-run finds the same task instead of creating a second one) and tool steps hand it to the
tool. Paused runs wait for their human gate, which is an approval in the one inbox; it is
answered exactly once, through the resume API or the approval API, inside the transaction
that moves the run forward.

A resume may name the gate it answers (``approval_id``, the exact visit, and/or ``step_id``);
it is then refused with Conflict once that gate is no longer open, so a retried or duplicated
resume can never land on the *next* gate. Without ids (seed 000's request shape) a resume
answers whichever gate is open when it is applied. Cancelling a run paused at a gate needs
the permission to answer that gate (engine.approvals.admit).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

import msgspec

from switchboard.engine import audit
from switchboard.engine.actors import Actor
from switchboard.engine.approvals import ApprovalService, GateHandler, admit, load_approval
from switchboard.engine.clock import Clock, iso
from switchboard.engine.config import parse_duration
from switchboard.engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from switchboard.engine.events import EventFilter
from switchboard.engine.ids import new_id
from switchboard.engine.models import TERMINAL_TASK_STATUSES, Approval, Run, RunStatus, StepRecord
from switchboard.engine.orchestrations.answers import validate_answer
from switchboard.engine.orchestrations.conditions import ConditionError
from switchboard.engine.orchestrations.definitions import (
    AgentStep,
    HumanStep,
    Orchestration,
    Step,
    TaskStep,
    ToolStep,
)
from switchboard.engine.orchestrations.templates import render, render_value
from switchboard.engine.providers.base import Message, ProviderError
from switchboard.engine.providers.pricing import compute_cost
from switchboard.engine.providers.registry import ProviderRegistry
from switchboard.engine.store.base import ReadConn, Store, Tx
from switchboard.engine.store.queries import F, Q
from switchboard.engine.tasks import TaskQuery, TaskService, TaskSpec
from switchboard.engine.tools import ToolContext, ToolRegistry

log = logging.getLogger("switchboard.runs")

_encode = msgspec.json.Encoder().encode
_decode_run = msgspec.json.Decoder(Run).decode
_decode_orch = msgspec.json.Decoder(Orchestration).decode

RUN_EVENT_PREFIX = "run."
FINAL_RUN_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})
_AT_REST = ("run.paused", "run.completed", "run.failed", "run.cancelled")
PREVIEW = 500


class StepFailed(Exception):
    """A step could not do its job; the run fails unless the step says where to go."""


class RunLimitExceeded(Exception):
    """A run-wide limit (cost, turns, timeout) was crossed; the run fails with this text."""


def _preview(value: Any, limit: int = PREVIEW) -> str:
    text = value if isinstance(value, str) else _encode(value).decode()
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_run(conn: ReadConn, run_id: str) -> Run:
    row = conn.one(Q.run_doc, {"run_id": run_id})
    if row is None:
        raise NotFound(f"run {run_id!r} not found")
    return _decode_run(row[0])


def _save(tx: Tx, run: Run) -> None:
    run.updated_at = tx.now
    tx.run(Q.run_save, {"run_id": run.run_id, "status": run.status, "doc": _encode(run),
                        "now": tx.now})


def _emit(tx: Tx, run: Run, event: str, payload: dict[str, Any]) -> None:
    body = {"run_id": run.run_id, "orchestration_id": run.orchestration_id, **payload}
    tx.emit(RUN_EVENT_PREFIX + event, body, run_id=run.run_id)


class RunService(GateHandler):
    """Start, drive, pause, resume, cancel and retry runs. Attached as ``engine.runs``.

    Owns the ``runs`` table; gates are approvals, opened and cancelled through the approval
    service inside the run's own write op."""

    def __init__(self, store: Store, bus: Any, tasks: TaskService, approvals: ApprovalService,
                 providers: ProviderRegistry, tools: ToolRegistry, clock: Clock,
                 prices: Mapping[str, Mapping[str, float]]) -> None:
        self.store = store
        self.bus = bus
        self.tasks = tasks
        self.approvals = approvals
        self.providers = providers
        self.tools = tools
        self.clock = clock
        self.prices = prices
        self._drivers: dict[str, asyncio.Task[None]] = {}
        self._definitions: dict[str, Orchestration] = {}
        self._stopping = False
        approvals.set_gate_handler(self)

    # -- lifecycle -------------------------------------------------------------------------
    async def recover(self) -> int:
        """Continue every run that was running when the process stopped (on a shared
        store, also every run whose replica died: each driver first takes the run's
        ownership lease, ``store.lead("run:<id>")``, so a run another replica drives is
        left alone)."""
        rows = await self.store.read(lambda c: c.all(Q.run_running_ids))
        fresh = [run_id for (run_id,) in rows if run_id not in self._drivers]
        for run_id in fresh:
            self._spawn(run_id)
        if fresh and not self.store.shared:
            log.info("resumed %d interrupted run(s)", len(fresh))
        return len(rows)

    async def stop(self) -> None:
        self._stopping = True
        drivers = list(self._drivers.values())
        for task in drivers:
            task.cancel()
        for task in drivers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._drivers.clear()

    def _spawn(self, run_id: str, begun: bool = False) -> None:
        if self._stopping or run_id in self._drivers:
            return
        task = asyncio.get_running_loop().create_task(self._drive(run_id, begun),
                                                      name=f"run:{run_id}")
        self._drivers[run_id] = task
        task.add_done_callback(partial(self._forget_driver, run_id))

    def _forget_driver(self, run_id: str, _done: asyncio.Task[None]) -> None:
        self._drivers.pop(run_id, None)

    def _definition(self, version_key: str, blob: str | bytes) -> Orchestration:
        orch = self._definitions.get(version_key)
        if orch is None:
            orch = _decode_orch(blob)
            self._definitions[version_key] = orch
        return orch

    def _load_definition(self, conn: ReadConn, run: Run) -> Orchestration:
        key = f"{run.orchestration_id}@{run.definition_version}"
        if key in self._definitions:
            return self._definitions[key]
        row = conn.one(Q.run_definition, {"run_id": run.run_id})
        assert row is not None
        return self._definition(key, row[0])

    # -- reads -----------------------------------------------------------------------------
    async def get(self, run_id: str) -> Run:
        return await self.store.read(lambda c: load_run(c, run_id), inline=True)

    async def list(self, status: str | None = None, orchestration_id: str | None = None,
                   limit: int = 100, offset: int = 0) -> list[Run]:
        where: list[F] = []
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            where.append(F.run_status)
            params["status"] = status
        if orchestration_id:
            where.append(F.run_orchestration)
            params["orchestration_id"] = orchestration_id

        def read(conn: ReadConn) -> list[Run]:
            return [_decode_run(r[0]) for r in conn.all(Q.run_page, params, where=where)]

        return await self.store.read(read)

    async def count(self, status: str | None = None) -> int:
        where = [F.run_status] if status else []
        row = await self.store.read(lambda c: c.one(Q.run_count, {"status": status},
                                                    where=where))
        return int(row[0]) if row else 0

    # -- in-transaction API for the other services (engine.ports.RunPeer) ------------------
    def status_of(self, conn: ReadConn, run_id: str) -> str | None:
        row = conn.one(Q.run_status, {"run_id": run_id})
        return None if row is None else str(row[0])

    def starter_of(self, conn: ReadConn, run_id: str) -> str | None:
        row = conn.one(Q.run_doc, {"run_id": run_id})
        return None if row is None else _decode_run(row[0]).created_by

    # -- start -----------------------------------------------------------------------------
    async def start(self, orchestration: Orchestration, message: str | None = None, *,
                    actor: Actor | None = None, values: Mapping[str, Any] | None = None,
                    privileged: Mapping[str, Any] | None = None) -> Run:
        """Create a run pinned to this definition version and start driving it.

        ``privileged`` (an inline workflow that uses http/command/python tools, allowed by
        role or config) is recorded as a ``workflow.execute_privileged`` audit row in the
        same transaction that creates the run: never a privileged run without its row."""
        first = orchestration.first_step()
        if first is None:
            raise ValidationFailed("steps", f"orchestration {orchestration.id} has no steps")
        if values:
            unknown = sorted(set(values) - set(orchestration.state_types()))
            if unknown:
                raise ValidationFailed(f"parameters.{unknown[0]}",
                                       "not a key of this orchestration's state_schema")
        state = orchestration.initial_state(message, values)
        definition = _encode(orchestration)
        version = orchestration.version or "inline"
        self._definitions.setdefault(f"{orchestration.id}@{version}", orchestration)

        def op(tx: Tx) -> Run:
            run = Run(
                run_id=new_id("run"), orchestration_id=orchestration.id,
                orchestration_name=orchestration.title, status=RunStatus.RUNNING, message=message,
                shared_state=state, current_step_id=first.id, visits={first.id: 1},
                definition_version=version,
                created_by=actor.name if actor else None, created_at=tx.now, updated_at=tx.now,
            )
            tx.run(Q.run_insert, {"run_id": run.run_id,
                                  "orchestration_id": run.orchestration_id,
                                  "status": run.status, "doc": _encode(run),
                                  "definition": definition, "now": tx.now})
            _emit(tx, run, "started", {"orchestration_name": run.orchestration_name,
                                       "message": message, "created_by": run.created_by})
            if privileged is not None and actor is not None:
                audit.record(tx, actor, "workflow.execute_privileged", "run", run.run_id,
                             after={"workflow": orchestration.id, **privileged},
                             reason=privileged.get("allowed_by"))
            self._begin_in_tx(tx, run, first)
            return run

        run = await self.store.write(op)
        if run.status == "running":
            self._spawn(run.run_id, begun=True)
        return run

    async def wait(self, run_id: str, timeout: float | None = None) -> Run:
        """Until the run is no longer running (paused, completed, failed, cancelled)."""
        sub = await self.bus.subscribe(None, EventFilter(types=_AT_REST, run_id=run_id))
        try:
            loop = asyncio.get_running_loop()
            deadline = None if timeout is None else loop.time() + timeout
            run = await self.get(run_id)
            while run.status == "running":
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return run
                event = await sub.next(timeout=remaining if remaining is not None else 5.0)
                if event is not None and event.event_type == "subscription.dropped":
                    sub.close()
                    sub = await self.bus.subscribe(None, EventFilter(types=_AT_REST,
                                                                     run_id=run_id))
                run = await self.get(run_id)
            return run
        finally:
            sub.close()

    # -- the driver ------------------------------------------------------------------------
    async def _drive(self, run_id: str, begun: bool = False) -> None:
        """Walk the run until it pauses or ends. ``begun``: the current step's start was
        already committed (folded into the previous checkpoint or the gate's answer)."""
        if not await self.store.lead(f"run:{run_id}"):
            return  # another replica drives it (shared store); it takes over if that one dies
        try:
            first = await self.get(run_id)
            orch = await self.store.read(partial(self._load_definition, run=first), inline=True)
            run: Run | None = first
            while run is not None and run.status == "running" and run.current_step_id:
                step = orch.get_step(run.current_step_id)
                if not begun:
                    try:
                        run = await self.store.write(
                            partial(self._begin_op, run_id=run_id, step=step, orch=orch))
                    except Conflict:
                        return
                if isinstance(step, HumanStep) or run.status != "running":
                    return
                run = await self._run_step(run, orch, step)
                begun = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never leave a run stuck in "running" silently
            log.exception("run %s crashed", run_id)
            await self._fail(run_id, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            await asyncio.shield(self.store.resign(f"run:{run_id}"))

    def _begin_op(self, tx: Tx, run_id: str, step: Step, orch: Orchestration) -> Run:
        current = load_run(tx, run_id)
        if current.status != "running":
            raise Conflict(f"run {run_id} is {current.status}")
        self._begin_in_tx(tx, current, step)
        return current

    def _begin_in_tx(self, tx: Tx, current: Run, step: Step) -> None:
        """Commit a step's start: count the visit as a turn, announce it, open a gate."""
        if not isinstance(step, AgentStep):
            current.turns += 1  # every step visit counts, so loops are bounded
        _save(tx, current)
        _emit(tx, current, "step_started", {"step_id": step.id, "step_name": step.title,
                                            "type": _step_type(step),
                                            "visit": current.visits.get(step.id, 1)})
        if isinstance(step, ToolStep):
            _emit(tx, current, "tool_execution", {
                "step_id": step.id, "tool_name": step.tool,
                "args": render_value(step.args, current.shared_state)})
        elif isinstance(step, HumanStep):
            self._pause_in_tx(tx, current, step)

    def _check_limits(self, run: Run, orch: Orchestration) -> None:
        limits = orch.limits
        if limits.max_cost_usd is not None and run.cost_usd > limits.max_cost_usd:
            raise RunLimitExceeded(
                f"Cost limit exceeded: ${_usd(run.cost_usd)} > max ${_usd(limits.max_cost_usd)}")
        if limits.max_turns is not None and run.turns > limits.max_turns:
            raise RunLimitExceeded(
                f"Turn limit exceeded: {run.turns} > max {limits.max_turns}")
        if limits.timeout is not None and self.clock.now() - run.created_at > limits.timeout:
            raise RunLimitExceeded(
                f"Timeout exceeded: run took longer than {limits.timeout:g}s")

    async def _run_step(self, run: Run, orch: Orchestration, step: Step) -> Run | None:
        """Execute one begun step and checkpoint it (the checkpoint also begins the next
        step). Returns the run as committed, or None when the driver should stop."""
        # The visit number is assigned when the run moves onto the step (see _enter), so a
        # step re-run after a crash reuses it and with it its idempotency key.
        visit = run.visits.get(step.id, 1)
        record = StepRecord(step_id=step.id, step_name=step.title, type=_step_type(step),
                            status="running", started_at=self.clock.now())
        key = f"{run.run_id}:{step.id}:{visit}"
        pending: list[tuple[str, dict[str, Any]]] = []  # events that ride on the checkpoint
        try:
            self._check_limits(run, orch)
            deadline = None
            if orch.limits.timeout is not None:
                deadline = max(orch.limits.timeout - (self.clock.now() - run.created_at), 0.001)
            async with asyncio.timeout(deadline):
                output, record = await self._execute(run, orch, step, record, key, pending)
            self._check_limits(run, orch)
        except TimeoutError:
            await self._fail(run.run_id, f"Timeout exceeded: run took longer than "
                             f"{orch.limits.timeout:g}s", step, record, pending)
            return None
        except RunLimitExceeded as exc:
            await self._fail(run.run_id, str(exc), step, record, pending)
            return None
        except StepFailed as exc:
            target = Orchestration.failure_step_id(step)
            if target is None:
                await self._fail(run.run_id, f"step {step.id} failed: {exc}", step, record,
                                 pending)
                return None
            return await self._advance(run, orch, step, record, None, error=str(exc),
                                       goto=target, pending=pending)
        return await self._advance(run, orch, step, record, output, pending=pending)

    async def _execute(self, run: Run, orch: Orchestration, step: Step, record: StepRecord,
                       key: str, pending: builtins.list[tuple[str, dict[str, Any]]],
                       ) -> tuple[Any, StepRecord]:
        state = run.shared_state
        if isinstance(step, AgentStep):
            return await self._agent(run, orch, step, record, key)
        if isinstance(step, TaskStep):
            payload = render_value(step.payload, state)
            task, _ = await self.tasks.create(TaskSpec(
                type=step.task_type, payload=payload if isinstance(payload, dict) else {},
                priority=step.priority, agent_id=step.agent_id, idempotency_key=key,
                run_id=run.run_id, step_id=step.id, max_attempts=step.max_attempts,
                metadata={"orchestration_id": run.orchestration_id},
                approval_reason=f"run {run.run_id} step {step.title}: {step.priority} "
                                f"{step.task_type} task needs approval"),
                Actor(f"run:{run.run_id}", "agent"))
            await self._event(run, "task_created", {"step_id": step.id, "task_id": task.id,
                                                    "status": task.status})
            try:
                done = await self.tasks.wait_for(task.id, timeout=step.timeout_seconds)
            except TimeoutError:
                raise StepFailed(f"task {task.id} did not finish within "
                                 f"{step.timeout_seconds:g}s") from None
            record.output = {"task_id": done.id, "status": done.status, "result": done.result}
            if done.status != "completed":
                raise StepFailed(f"task {done.id} {done.status}: {done.error or 'no detail'}")
            return done.result, record
        if isinstance(step, ToolStep):
            args = render_value(step.args, state)  # tool_execution went out with step_started
            result = await self.tools.call(step.tool, args if isinstance(args, dict) else {},
                                           timeout=step.timeout,
                                           context=ToolContext(run_id=run.run_id,
                                                               step_id=step.id,
                                                               idempotency_key=key))
            pending.append(("tool_result", {"step_id": step.id, "tool_name": step.tool,
                                            "ok": result.ok, "preview": result.preview(),
                                            "duration_ms": result.duration_ms}))
            if not result.ok:
                raise StepFailed(f"tool {step.tool}: {result.error}")
            return result.output, record
        raise StepFailed(f"unsupported step type {type(step).__name__}")

    async def _agent(self, run: Run, orch: Orchestration, step: AgentStep, record: StepRecord,
                     key: str) -> tuple[Any, StepRecord]:
        provider = self.providers.get(step.provider)
        model = step.model or provider.default_model
        messages: list[Message] = []
        if step.system_prompt:
            messages.append(Message.system(render(step.system_prompt, run.shared_state)))
        messages.append(Message.user(render(step.prompt, run.shared_state)))
        try:
            tool_specs = self.tools.specs(step.tools)
        except KeyError as exc:
            raise StepFailed(str(exc)) from None
        text = ""
        for turn_no in range(1, step.max_turns + 1):
            try:
                turn = await provider.complete(messages, tool_specs, model,
                                               temperature=step.temperature)
            except ProviderError as exc:
                raise StepFailed(str(exc)) from None
            cost = compute_cost(turn.usage, turn.model or model, self.prices)
            record.turns += 1
            record.tokens += turn.usage.total_tokens
            record.cost_usd += cost
            run.turns += 1
            run.cost_usd += cost
            text = turn.text or text
            await self._event(run, "agent_turn", {
                "step_id": step.id, "turn": turn_no, "text": _preview(turn.text),
                "tool_calls": [{"name": c.name, "args": c.arguments} for c in turn.tool_calls],
                "tokens": turn.usage.total_tokens, "cost_usd": round(cost, 6),
                "model": turn.model or model, "provider": turn.provider or provider.name})
            await self._checkpoint_costs(run)
            self._check_limits(run, orch)
            if not turn.tool_calls:
                break
            messages.append(turn.message())
            for call in turn.tool_calls:
                await self._event(run, "tool_execution", {"step_id": step.id,
                                                          "tool_name": call.name,
                                                          "args": call.arguments})
                if call.name not in step.tools:
                    result_text = f"ERROR: tool {call.name!r} is not allowed in this step"
                    ok, preview = False, result_text
                else:
                    result = await self.tools.call(call.name, call.arguments, context=ToolContext(
                        run_id=run.run_id, step_id=step.id, idempotency_key=f"{key}:{call.id}"))
                    result_text, ok, preview = result.as_text(), result.ok, result.preview()
                await self._event(run, "tool_result", {"step_id": step.id,
                                                       "tool_name": call.name, "ok": ok,
                                                       "preview": preview})
                messages.append(Message.tool_result(call, result_text))
        return text, record

    async def _event(self, run: Run, event: str, payload: dict[str, Any]) -> None:
        await self.store.write(lambda tx: _emit(tx, run, event, payload))

    async def _checkpoint_costs(self, run: Run) -> None:
        def op(tx: Tx) -> None:
            current = load_run(tx, run.run_id)
            current.turns, current.cost_usd = run.turns, run.cost_usd
            _save(tx, current)
        await self.store.write(op)

    async def _advance(self, run: Run, orch: Orchestration, step: Step, record: StepRecord,
                       output: Any, *, error: str | None = None, goto: str | None = None,
                       pending: builtins.list[tuple[str, dict[str, Any]]] | None = None) -> Run | None:
        """Checkpoint a finished step — state, history, the next step and that step's
        start — in one transaction."""
        out_key = getattr(step, "output_key", None) or getattr(step, "result_key", None)

        def op(tx: Tx) -> Run:
            current = load_run(tx, run.run_id)
            if current.status != "running":
                raise Conflict(f"run {run.run_id} is {current.status}")
            if out_key and error is None:
                current.shared_state = {**current.shared_state, out_key: output}
            current.turns = max(current.turns, run.turns)
            current.cost_usd = max(current.cost_usd, run.cost_usd)
            record.status = "failed" if error else "completed"
            record.error = error
            record.finished_at = tx.now
            if record.output is None:
                record.output = output
            current.step_history = [*current.step_history, record]
            for name, payload in pending or ():
                _emit(tx, current, name, payload)
            _emit(tx, current, "step_completed", {
                "step_id": step.id, "step_name": step.title, "type": record.type,
                "status": record.status, "output": _preview(output) if output is not None
                else None, "error": error, "turns": record.turns,
                "cost_usd": round(record.cost_usd, 6)})
            try:
                next_id = goto if goto is not None else orch.next_step_id(step,
                                                                          current.shared_state)
            except ConditionError as exc:
                return self._fail_in_tx(tx, current, f"step {step.id}: branch condition "
                                                      f"failed: {exc}")
            if next_id == "end":
                next_id = None
            _enter(current, next_id)
            if next_id is None:
                self._complete_in_tx(tx, current, orch)
            else:
                self._begin_in_tx(tx, current, orch.get_step(next_id))
            return current

        try:
            return await self.store.write(op)
        except Conflict:
            return None

    def _complete_in_tx(self, tx: Tx, run: Run, orch: Orchestration) -> None:
        run.status = RunStatus.COMPLETED
        run.finished_at = tx.now
        run.current_step_id = None
        last = run.step_history[-1].output if run.step_history else None
        run.response = render(orch.response, run.shared_state) if orch.response else (
            last if isinstance(last, str) else _preview(last) if last is not None else "")
        _save(tx, run)
        _emit(tx, run, "completed", {"status": "completed", "response": run.response,
                                     "final_state": run.shared_state,
                                     "cost_usd": round(run.cost_usd, 6), "turns": run.turns})

    def _fail_in_tx(self, tx: Tx, run: Run, error: str) -> Run:
        run.status = RunStatus.FAILED
        run.error = error
        run.response = error
        run.finished_at = tx.now
        _save(tx, run)
        _emit(tx, run, "failed", {"status": "failed", "error": error,
                                  "step_id": run.current_step_id})
        return run

    async def _fail(self, run_id: str, error: str, step: Step | None = None,
                    record: StepRecord | None = None,
                    pending: builtins.list[tuple[str, dict[str, Any]]] | None = None) -> None:
        def op(tx: Tx) -> None:
            run = load_run(tx, run_id)
            if run.status in FINAL_RUN_STATUSES:
                return
            for name, payload in pending or ():
                _emit(tx, run, name, payload)
            if record is not None and step is not None:
                record.status = "failed"
                record.error = error
                record.finished_at = tx.now
                run.step_history = [*run.step_history, record]
            self._fail_in_tx(tx, run, error)
        await self.store.write(op)

    # -- human gates -------------------------------------------------------------------------
    def _pause_in_tx(self, tx: Tx, current: Run, step: HumanStep) -> None:
        """Open the gate (an approval in the inbox) and pause the run, in the caller's tx."""
        payload = step.input_required(current.shared_state, run_id=current.run_id)
        approval = self.approvals.open_gate(
            tx, run_id=current.run_id, step_id=step.id, prompt=payload["prompt"],
            fields=payload["fields"], agent_context=payload["agent_context"] or None,
            timeout_seconds=step.timeout_seconds, timeout_response=step.default_answer,
            allowed_roles=list(step.allowed_roles), allowed_users=list(step.allowed_users),
            reason=f"{current.orchestration_name}: {step.title}",
            assignees=list(step.assignees), delegates=list(step.delegates), quorum=step.quorum,
            sla_seconds=None if step.sla is None else parse_duration(step.sla),
            on_timeout=step.on_timeout)
        payload["approval_id"] = approval.approval_id
        current.status = RunStatus.PAUSED
        current.human_input_required = payload
        current.approval_id = approval.approval_id
        _save(tx, current)
        _emit(tx, current, "paused", {"human_input_required": payload,
                                      "approval_id": approval.approval_id,
                                      "step_id": step.id})

    def check_answer(self, tx: Tx, approval: Approval, response: Any) -> Any:
        """A quorum vote's answer, validated against the gate's form; the run stays."""
        run = load_run(tx, approval.run_id or "")
        if run.status != "paused" or run.approval_id != approval.approval_id:
            raise Conflict(f"run {run.run_id} is {run.status}; it is not waiting on "
                           f"{approval.approval_id}")
        step = self._load_definition(tx, run).get_step(approval.step_id or "")
        assert isinstance(step, HumanStep)
        values, errors = validate_answer(step.fields, response)
        if errors:
            detail = "; ".join(str(e) for e in errors)
            raise ValidationFailed(f"response.{errors[0].field}", detail.split(": ", 1)[-1]
                                   if len(errors) == 1 else detail)
        return values

    def on_decision(self, tx: Tx, approval: Approval, approved: bool, response: Any,
                    actor: Actor) -> Any:
        """Called inside the deciding transaction: validate the answer, move the run."""
        run = load_run(tx, approval.run_id or "")
        if run.status != "paused" or run.approval_id != approval.approval_id:
            raise Conflict(f"run {run.run_id} is {run.status}; it is not waiting on "
                           f"{approval.approval_id}")
        orch = self._load_definition(tx, run)
        step = orch.get_step(approval.step_id or "")
        assert isinstance(step, HumanStep)
        record = StepRecord(step_id=step.id, step_name=step.title, type="human",
                            status="completed", started_at=approval.created_at,
                            finished_at=tx.now)
        if not approved:
            record.status = "failed"
            record.error = f"rejected by {actor.name}"
            run.step_history = [*run.step_history, record]
            run.human_input_required = None
            self._fail_in_tx(tx, run, f"gate {step.id} rejected by {actor.name}")
            return response
        values, errors = validate_answer(step.fields, response)
        if errors:
            first = errors[0]
            detail = "; ".join(str(e) for e in errors)
            raise ValidationFailed(f"response.{first.field}", detail.split(": ", 1)[-1]
                                   if len(errors) == 1 else detail)
        run.shared_state = {**run.shared_state, **values}
        record.output = values
        run.step_history = [*run.step_history, record]
        run.human_input_required = None
        run.status = RunStatus.RUNNING
        _emit(tx, run, "resumed", {"step_id": step.id, "answered_by": actor.name,
                                   "response": values})
        _emit(tx, run, "step_completed", {"step_id": step.id, "step_name": step.title,
                                          "type": "human", "status": "completed",
                                          "output": _preview(values), "error": None,
                                          "turns": 0, "cost_usd": 0.0})
        try:
            next_id = orch.next_step_id(step, run.shared_state)
        except ConditionError as exc:
            self._fail_in_tx(tx, run, f"step {step.id}: branch condition failed: {exc}")
            return values
        _enter(run, next_id)
        if next_id is None:
            self._complete_in_tx(tx, run, orch)
        else:
            self._begin_in_tx(tx, run, orch.get_step(next_id))
            if run.status == "running":
                tx.after_commit(lambda: self._spawn(run.run_id, begun=True))
        return values

    async def resume(self, run_id: str, response: Any, actor: Actor, *,
                     approval_id: str | None = None, step_id: str | None = None) -> Run:
        """Seed 000's resume: answer the run's open gate, exactly once.

        ``approval_id``/``step_id`` name the gate this answer is for; Conflict if it is no
        longer (or not) the open one. Finding the gate and deciding it are one write op, so
        of concurrent resumes naming the same gate exactly one is applied.
        """
        def op(tx: Tx) -> Approval:
            run = load_run(tx, run_id)
            gate = _open_gate(tx, run, approval_id, step_id)
            return self.approvals.decide_op(gate, True, actor, response=response)(tx)

        await self.store.write(op)
        return await self.get(run_id)

    # -- operator actions --------------------------------------------------------------------
    async def cancel(self, run_id: str, actor: Actor) -> Run:
        """Cancel a running or paused run: its starter or an admin (``_check_starter``), and at
        an open gate only one of them who may also answer that gate (issue 9)."""
        def op(tx: Tx) -> Run:
            run = load_run(tx, run_id)
            if run.status in FINAL_RUN_STATUSES:
                raise Conflict(f"run {run_id} is already {run.status}")
            _check_starter(run, actor, "cancel")
            before = run.status
            break_glass = False
            gate_id = run.approval_id if run.status == "paused" else None
            if gate_id:
                gate = load_approval(tx, gate_id)
                if gate.status == "pending":
                    try:
                        break_glass = admit(gate, actor)
                    except Forbidden as exc:
                        raise Forbidden(f"cancelling run {run_id} needs the permission to answer"
                                        f" its open gate {gate.step_id}: {exc.detail}") from None
                self.approvals.cancel_gate(tx, gate_id, actor, run_id=run_id,
                                           break_glass=break_glass)
            run.status = RunStatus.CANCELLED
            run.error = f"cancelled by {actor.name}"
            run.finished_at = tx.now
            run.human_input_required = None
            _save(tx, run)
            _emit(tx, run, "cancelled", {"status": "cancelled", "by": actor.name})
            after: dict[str, Any] = {"status": "cancelled"}
            if gate_id:
                after["gate"] = gate_id
            if break_glass:
                after["break_glass"] = True
            audit.record(tx, actor, "run.cancel", "run", run_id, before={"status": before},
                         after=after)
            return run

        run = await self.store.write(op)
        driver = self._drivers.get(run_id)
        if driver is not None:
            driver.cancel()
        tasks, _ = await self.tasks.list(TaskQuery(run_id=run_id, limit=100))
        for task in tasks:
            if task.status not in TERMINAL_TASK_STATUSES:
                with contextlib.suppress(Exception):
                    await self.tasks.cancel(task.id, actor, reason=f"run {run_id} cancelled")
        return run

    async def retry(self, run_id: str, actor: Actor) -> Run:
        """Run a failed run again from the step that failed, with its state as it was."""
        def op(tx: Tx) -> Run:
            run = load_run(tx, run_id)
            if run.status != "failed":
                raise Conflict(f"run {run_id} is {run.status}; only failed runs can be retried")
            _check_starter(run, actor, "retry")
            if run.current_step_id is None:
                raise Conflict(f"run {run_id} has no step to retry")
            run.status = RunStatus.RUNNING
            run.error = None
            run.response = None
            run.finished_at = None
            _enter(run, run.current_step_id)  # a new visit: a new task, a new tool call
            _save(tx, run)
            _emit(tx, run, "retried", {"step_id": run.current_step_id, "by": actor.name})
            audit.record(tx, actor, "run.retry", "run", run_id, before={"status": "failed"},
                         after={"status": "running", "step_id": run.current_step_id})
            return run

        run = await self.store.write(op)
        self._spawn(run_id)
        return run


def _check_starter(run: Run, actor: Actor, action: str) -> None:
    """A run belongs to the principal that started it (issue 9): only it, an admin, or the
    engine itself may cancel or retry it. Answering its gates is a separate right (the
    gate's ``allowed_roles``/``allowed_users``): reject through the gate instead."""
    if actor.is_admin or actor.kind == "system" or run.created_by is None:
        return
    if run.created_by != actor.name:
        raise Forbidden(f"run {run.run_id} was started by another principal; only its starter"
                        f" or an admin may {action} it")


def _open_gate(tx: Tx, run: Run, approval_id: str | None, step_id: str | None) -> str:
    """The approval id of the gate a resume answers; Conflict when the named gate (if any)
    is not the one open now, NotFound for an approval id that does not exist."""
    waiting = (f"run {run.run_id} is waiting on step {run.current_step_id} (approval"
               f" {run.approval_id})" if run.status == "paused" and run.approval_id
               else f"run {run.run_id} is {run.status}")
    if approval_id is not None:
        named = load_approval(tx, approval_id)
        if named.run_id != run.run_id:
            owner = f"a gate of run {named.run_id}" if named.run_id else "a task approval"
            raise Conflict(f"approval {approval_id} is {owner}, not of run {run.run_id}")
        if named.status != "pending" or named.approval_id != run.approval_id:
            who = f" by {named.decided_by}" if named.decided_by else ""
            when = f" at {iso(named.decided_at)}" if named.decided_at else ""
            raise Conflict(f"gate {approval_id} (step {named.step_id}) is no longer open: it"
                           f" was {named.status}{who}{when}; {waiting}")
    if step_id is not None and (run.status != "paused" or run.current_step_id != step_id):
        seen = any(record.step_id == step_id for record in run.step_history)
        state = "is no longer open" if seen else "is not open"
        raise Conflict(f"gate {step_id} {state}; {waiting}")
    if run.status != "paused" or run.approval_id is None:
        raise Conflict(f"run {run.run_id} is {run.status}; only a paused run can be resumed")
    return run.approval_id


def _enter(run: Run, step_id: str | None) -> None:
    """Move the run onto ``step_id`` (None = finished), counting the visit."""
    run.current_step_id = step_id
    if step_id is not None:
        run.visits = {**run.visits, step_id: run.visits.get(step_id, 0) + 1}


def _usd(amount: float) -> str:
    """Seed 000's ``$0.52`` form; more decimals for sub-cent amounts so they stay readable."""
    return f"{amount:.2f}" if amount >= 0.01 or amount == 0 else f"{amount:.6f}".rstrip("0")


def _step_type(step: Step) -> str:
    return {AgentStep: "agent", TaskStep: "task", ToolStep: "tool",
            HumanStep: "human"}[type(step)]
