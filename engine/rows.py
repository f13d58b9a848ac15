"""Row <-> record conversion for the SQL store: one place that knows the column order."""

from __future__ import annotations

from typing import Any

import msgspec

from switchboard.engine.models import Agent, Approval, Task, TaskLog

encode = msgspec.json.Encoder().encode
_decode_any = msgspec.json.Decoder().decode


def decode(value: str | bytes | None) -> Any:
    return None if value is None else _decode_any(value)


TASK_COLUMNS = (
    "id, type, priority, status, assigned_agent, payload, source, sla_target, metadata,"
    " agent_id, claimed_by, progress, result, error, attempts, max_attempts, idempotency_key,"
    " schedule, approval_id, run_id, step_id, lease_id, lease_expires_at, available_at,"
    " sla_breached, created_at, updated_at, started_at, completed_at, created_by,"
    " claimed_principal"
)


def task_from_row(row: tuple[Any, ...], logs: list[TaskLog] | None = None) -> Task:
    return Task(
        id=row[0], type=row[1], priority=row[2], status=row[3], assigned_agent=row[4],
        payload=decode(row[5]) or {}, source=row[6], sla_target=row[7],
        metadata=decode(row[8]) or {}, agent_id=row[9], claimed_by=row[10], progress=row[11],
        result=decode(row[12]), error=row[13], attempts=row[14], max_attempts=row[15],
        idempotency_key=row[16], schedule=decode(row[17]), approval_id=row[18], run_id=row[19],
        step_id=row[20], lease_id=row[21], lease_expires_at=row[22], available_at=row[23],
        sla_breached=bool(row[24]), created_at=row[25], updated_at=row[26], started_at=row[27],
        completed_at=row[28], created_by=row[29], claimed_principal=row[30], logs=logs or [],
    )


def task_insert_params(task: Task) -> tuple[Any, ...]:
    return (
        task.id, task.type, task.priority, task.status, task.assigned_agent,
        encode(task.payload), task.source, task.sla_target, encode(task.metadata), task.agent_id,
        task.claimed_by, task.progress, None if task.result is None else encode(task.result),
        task.error, task.attempts, task.max_attempts, task.idempotency_key,
        None if task.schedule is None else encode(task.schedule), task.approval_id, task.run_id,
        task.step_id, task.lease_id, task.lease_expires_at, task.available_at,
        int(task.sla_breached), task.created_at, task.updated_at, task.started_at,
        task.completed_at, task.created_by, task.claimed_principal,
        int(task.created_at * 1_000_000),
    )


TASK_INSERT = (
    f"INSERT INTO tasks ({TASK_COLUMNS}, qseq) VALUES ("
    + ",".join("?" * 32)
    + ")"
)

AGENT_COLUMNS = (
    "id, name, type, status, max_concurrent_tasks, timeout, retry_attempts, environment,"
    " created_at, updated_at, last_heartbeat, first_heartbeat, health, running,"
    " tasks_completed, tasks_failed, response_ms_total, memory_usage, cpu_usage, owner"
)


def agent_from_row(row: tuple[Any, ...]) -> Agent:
    return Agent(
        id=row[0], name=row[1], type=row[2], status=row[3], max_concurrent_tasks=row[4],
        timeout=row[5], retry_attempts=row[6], environment=row[7], created_at=row[8],
        updated_at=row[9], last_heartbeat=row[10], first_heartbeat=row[11], health=row[12],
        running=row[13], tasks_completed=row[14], tasks_failed=row[15],
        response_ms_total=row[16], memory_usage=row[17], cpu_usage=row[18], owner=row[19],
    )


APPROVAL_COLUMNS = (
    "approval_id, kind, priority, status, task_id, run_id, step_id, reason, prompt, fields,"
    " agent_context, allowed_roles, allowed_users, timeout_action, timeout_response, created_at,"
    " expires_at, decided_by, decided_at, response, rejection_reason, requested_by, break_glass"
)


def approval_from_row(row: tuple[Any, ...]) -> Approval:
    return Approval(
        approval_id=row[0], kind=row[1], priority=row[2], status=row[3], task_id=row[4],
        run_id=row[5], step_id=row[6], reason=row[7], prompt=row[8], fields=decode(row[9]) or [],
        agent_context=row[10], allowed_roles=decode(row[11]) or [],
        allowed_users=decode(row[12]) or [], timeout_action=row[13],
        timeout_response=decode(row[14]), created_at=row[15], expires_at=row[16],
        decided_by=row[17], decided_at=row[18], response=decode(row[19]),
        rejection_reason=row[20], requested_by=row[21], break_glass=bool(row[22]),
    )


def approval_insert_params(a: Approval) -> tuple[Any, ...]:
    return (
        a.approval_id, a.kind, a.priority, a.status, a.task_id, a.run_id, a.step_id, a.reason,
        a.prompt, encode(a.fields), a.agent_context, encode(a.allowed_roles),
        encode(a.allowed_users), a.timeout_action,
        None if a.timeout_response is None else encode(a.timeout_response), a.created_at,
        a.expires_at, a.decided_by, a.decided_at,
        None if a.response is None else encode(a.response), a.rejection_reason,
        a.requested_by, int(a.break_glass),
    )


APPROVAL_INSERT = f"INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES (" + ",".join("?" * 23) + ")"
