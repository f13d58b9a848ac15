"""Row <-> record conversion for the stores: one place that knows the column order.

The ``*_from_row`` functions read rows in the order of the query files' column fragments
(``task_columns``, ``agent_columns``, ``approval_columns`` in ``engine/store/sqlite.sql``);
every store lists those columns in that order. The ``*_params`` functions give the named
parameters of the matching insert statements.
"""

from __future__ import annotations

from typing import Any

import msgspec

from switchboard.engine.models import (
    Agent,
    Approval,
    ApprovalStatus,
    Task,
    TaskLog,
    TaskStatus,
)

encode = msgspec.json.Encoder().encode
_decode_any = msgspec.json.Decoder().decode


_TASK_STATUS: dict[str, TaskStatus] = {s.value: s for s in TaskStatus}
_APPROVAL_STATUS: dict[str, ApprovalStatus] = {s.value: s for s in ApprovalStatus}
"""Stored value -> member by a dict lookup: an Enum call costs about 1 µs, on every row."""


def decode(value: str | bytes | None) -> Any:
    return None if value is None else _decode_any(value)


def task_from_row(row: tuple[Any, ...], logs: list[TaskLog] | None = None) -> Task:
    return Task(
        id=row[0], type=row[1], priority=row[2], status=_TASK_STATUS[row[3]],
        assigned_agent=row[4],
        payload=decode(row[5]) or {}, source=row[6], sla_target=row[7],
        metadata=decode(row[8]) or {}, agent_id=row[9], claimed_by=row[10], progress=row[11],
        result=decode(row[12]), error=row[13], attempts=row[14], max_attempts=row[15],
        idempotency_key=row[16], schedule=decode(row[17]), approval_id=row[18], run_id=row[19],
        step_id=row[20], lease_id=row[21], lease_expires_at=row[22], available_at=row[23],
        sla_breached=bool(row[24]), created_at=row[25], updated_at=row[26], started_at=row[27],
        completed_at=row[28], created_by=row[29], claimed_principal=row[30], logs=logs or [],
    )


def task_insert_params(task: Task) -> dict[str, Any]:
    """Named parameters of ``Q.task_insert``."""
    return {
        "id": task.id, "type": task.type, "priority": task.priority, "status": task.status,
        "assigned_agent": task.assigned_agent, "payload": encode(task.payload),
        "source": task.source, "sla_target": task.sla_target,
        "metadata": encode(task.metadata), "agent_id": task.agent_id,
        "claimed_by": task.claimed_by, "progress": task.progress,
        "result": None if task.result is None else encode(task.result), "error": task.error,
        "attempts": task.attempts, "max_attempts": task.max_attempts,
        "idempotency_key": task.idempotency_key,
        "schedule": None if task.schedule is None else encode(task.schedule),
        "approval_id": task.approval_id, "run_id": task.run_id, "step_id": task.step_id,
        "lease_id": task.lease_id, "lease_expires_at": task.lease_expires_at,
        "available_at": task.available_at, "sla_breached": int(task.sla_breached),
        "created_at": task.created_at, "updated_at": task.updated_at,
        "started_at": task.started_at, "completed_at": task.completed_at,
        "created_by": task.created_by, "claimed_principal": task.claimed_principal,
        "qseq": int(task.created_at * 1_000_000),
    }


def agent_from_row(row: tuple[Any, ...]) -> Agent:
    return Agent(
        id=row[0], name=row[1], type=row[2], status=row[3], max_concurrent_tasks=row[4],
        timeout=row[5], retry_attempts=row[6], environment=row[7], created_at=row[8],
        updated_at=row[9], last_heartbeat=row[10], first_heartbeat=row[11], health=row[12],
        running=row[13], tasks_completed=row[14], tasks_failed=row[15],
        response_ms_total=row[16], memory_usage=row[17], cpu_usage=row[18], owner=row[19],
    )


def approval_from_row(row: tuple[Any, ...]) -> Approval:
    return Approval(
        approval_id=row[0], kind=row[1], priority=row[2], status=_APPROVAL_STATUS[row[3]],
        task_id=row[4],
        run_id=row[5], step_id=row[6], reason=row[7], prompt=row[8], fields=decode(row[9]) or [],
        agent_context=row[10], allowed_roles=decode(row[11]) or [],
        allowed_users=decode(row[12]) or [], timeout_action=row[13],
        timeout_response=decode(row[14]), created_at=row[15], expires_at=row[16],
        decided_by=row[17], decided_at=row[18], response=decode(row[19]),
        rejection_reason=row[20], requested_by=row[21], break_glass=bool(row[22]),
        assignees=decode(row[23]) or [], delegates=decode(row[24]) or [], quorum=row[25],
        reject_quorum=row[26], votes=decode(row[27]) or [], sla_seconds=row[28],
        due_at=row[29], on_timeout=row[30], reminders_sent=row[31], escalations=row[32],
        overdue=bool(row[33]), next_sweep_at=row[34],
    )


def agent_insert_params(agent: Agent) -> dict[str, Any]:
    """Named parameters of ``Q.agent_insert``."""
    return {
        "id": agent.id, "name": agent.name, "type": agent.type, "status": agent.status,
        "max_concurrent_tasks": agent.max_concurrent_tasks, "timeout": agent.timeout,
        "retry_attempts": agent.retry_attempts, "environment": agent.environment,
        "created_at": agent.created_at, "updated_at": agent.updated_at,
        "last_heartbeat": agent.last_heartbeat, "first_heartbeat": agent.first_heartbeat,
        "health": agent.health, "running": agent.running,
        "tasks_completed": agent.tasks_completed, "tasks_failed": agent.tasks_failed,
        "response_ms_total": agent.response_ms_total, "memory_usage": agent.memory_usage,
        "cpu_usage": agent.cpu_usage, "owner": agent.owner,
    }


def approval_insert_params(a: Approval) -> dict[str, Any]:
    """Named parameters of ``Q.approval_insert``."""
    return {
        "approval_id": a.approval_id, "kind": a.kind, "priority": a.priority,
        "status": a.status, "task_id": a.task_id, "run_id": a.run_id, "step_id": a.step_id,
        "reason": a.reason, "prompt": a.prompt, "fields": encode(a.fields),
        "agent_context": a.agent_context, "allowed_roles": encode(a.allowed_roles),
        "allowed_users": encode(a.allowed_users), "timeout_action": a.timeout_action,
        "timeout_response": None if a.timeout_response is None else encode(a.timeout_response),
        "created_at": a.created_at, "expires_at": a.expires_at, "decided_by": a.decided_by,
        "decided_at": a.decided_at, "response": None if a.response is None else encode(a.response),
        "rejection_reason": a.rejection_reason, "requested_by": a.requested_by,
        "break_glass": int(a.break_glass), **approval_routing_params(a),
        "quorum": a.quorum, "reject_quorum": a.reject_quorum, "sla_seconds": a.sla_seconds,
        "due_at": a.due_at, "on_timeout": a.on_timeout,
    }


def approval_routing_params(a: Approval) -> dict[str, Any]:
    """Named parameters of ``Q.approval_update_routing`` (what sweeps, votes and hand-overs
    change while an approval is pending)."""
    return {
        "approval_id": a.approval_id, "priority": a.priority, "assignees": encode(a.assignees),
        "delegates": encode(a.delegates), "votes": encode(a.votes),
        "reminders_sent": a.reminders_sent, "escalations": a.escalations,
        "overdue": int(a.overdue), "next_sweep_at": a.next_sweep_at,
    }
