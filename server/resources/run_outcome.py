"""What a synchronous ``/run`` or ``/resume`` answers once its wait ends: the run's real state.

Seed 000 knows three answers: ``completed``, ``paused`` (with ``human_input_required``) and
``failed``. Two states of ours are not among them, and answering them as ``running`` left
a seed 000 client with nothing to do:

- a run whose task step waits for a P0/P1 task's approval is, for the person at the API,
  paused for human input. It answers ``paused`` with ``human_input_required`` describing
  that approval (a decision approve/reject and notes) and its ``approval_id``; ``/resume``
  with ``{"response": {"decision": "approve"}}`` decides it (agents and admins, as
  ``POST /approvals/{id}/approve``; the engine's approval rules apply);
- a run still working when the wait ends answers ``202 Accepted`` with its ``run_id`` and
  a ``Location`` header naming ``GET /api/v1/orchestrations/runs/{run_id}`` to follow.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from switchboard.engine.errors import Conflict, ValidationFailed
from switchboard.engine.models import Approval, Run, Task
from switchboard.engine.tasks import TaskQuery
from switchboard.server import API_BASE, contract, convert
from switchboard.server.errors import ApiError
from switchboard.server.jsonio import json_response
from switchboard.server.resources.common import actor_of, engine_of

STILL_RUNNING = ("the run is still working when the wait ends: its run_id, and a Location "
                 "to follow (GET /api/v1/orchestrations/runs/{run_id})")

DECISION_FIELDS = [
    contract.GateField(name="decision", type=contract.FieldType.SELECT, label="Decision",
                       required=True, options="approve,reject",
                       choice_list=["approve", "reject"]),
    contract.GateField(name="notes", type=contract.FieldType.TEXT, label="Notes"),
]


async def blocking_approval(request: web.Request, run: Run) -> tuple[Task, Approval] | None:
    """The P0/P1 task approval a running run waits on, if it waits on one."""
    if run.status != "running":
        return None
    engine = engine_of(request)
    tasks, _ = await engine.tasks.list(TaskQuery(run_id=run.run_id, status="awaiting_approval",
                                                 limit=1))
    if not tasks or tasks[0].approval_id is None:
        return None
    task = tasks[0]
    approval = await engine.approvals.get(task.approval_id)  # type: ignore[arg-type]
    if approval.status != "pending":
        return None
    return task, approval


def _approval_form(task: Task, approval: Approval) -> contract.HumanInputRequired:
    reason = approval.reason or f"{task.priority} tasks need an approval before they run"
    return contract.HumanInputRequired(
        step_id=task.step_id,
        prompt=f"Task {task.id} ({task.type}, {task.priority}) needs an approval before it "
               f"runs: {reason}. Decide approve or reject.",
        fields=DECISION_FIELDS,
        agent_context=_context(task),
        approval_id=approval.approval_id)


def _context(task: Task) -> str | None:
    if not task.payload:
        return None
    import msgspec

    text = msgspec.json.encode(task.payload).decode()
    return text if len(text) <= 2000 else text[:2000] + "…"


async def run_answer(request: web.Request, run: Run) -> web.Response:
    """The answer for ``run`` after the wait: seed 000's shapes, or 202 while it works."""
    if run.status == "running":
        blocked = await blocking_approval(request, run)
        if blocked is not None:
            task, approval = blocked
            result = contract.RunResult(
                status=contract.RunStatus.PAUSED, run_id=run.run_id,
                human_input_required=_approval_form(task, approval), approval_id=approval.approval_id,
                cost_usd=round(run.cost_usd, 6))
            return json_response(result)
        location = f"{API_BASE}/orchestrations/runs/{run.run_id}"
        return json_response(convert.run_result(run), status=202,
                             headers={"Location": location})
    return json_response(convert.run_result(run))


async def answer_task_approval(request: web.Request, run: Run, response: Any,
                               approval_id: str | None) -> bool:
    """Decide the task approval ``run`` waits on with a ``/resume`` answer; False if the
    run does not wait on one (the caller then resumes a gate as usual)."""
    blocked = await blocking_approval(request, run)
    if blocked is None:
        return False
    _, approval = blocked
    if approval_id is not None and approval_id != approval.approval_id:
        raise Conflict(f"approval {approval_id} is not the one run {run.run_id} waits on "
                       f"({approval.approval_id})")
    principal = actor_of(request)
    if principal.role not in ("agent", "admin"):
        raise ApiError(403, f"deciding a task approval requires role agent; you have "
                            f"{principal.role}")
    decision, notes = _decision(response)
    engine = engine_of(request)
    if decision == "approve":
        await engine.approvals.approve(approval.approval_id, principal)
    else:
        await engine.approvals.reject(approval.approval_id, principal, reason=notes)
    return True


def _decision(response: Any) -> tuple[str, str | None]:
    if isinstance(response, str):
        decision, notes = response.strip().lower(), None
    elif isinstance(response, dict):
        decision = str(response.get("decision", "")).strip().lower()
        raw = response.get("notes", response.get("reason"))
        notes = str(raw) if raw is not None else None
    else:
        decision, notes = "", None
    if decision not in ("approve", "reject"):
        raise ValidationFailed("response.decision", "must be approve or reject (this run waits "
                                                    "on a task approval)")
    return decision, notes
