"""The contract's JSON is byte-identical to the engine's ``as_dict`` shapes it replaced.

Each record kind is converted (``server.convert``) and encoded, and compared with the
encoding of the dict the server used to build, for fixed records that exercise every
optional field (logs or none, a lease, a gate with every field kind, a paused and a
completed run, ints where floats are declared). A change of key order, a key that appears
or disappears, ``3`` becoming ``3.0``: each fails here before a seed's client sees it.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from switchboard.engine import models
from switchboard.engine.orchestrations.definitions import Field, HumanStep
from switchboard.server import contract, convert

NOW = 1_767_225_600.0


def wire(value: Any) -> bytes:
    return msgspec.json.encode(value)


def task_record(**overrides: Any) -> models.Task:
    values: dict[str, Any] = dict(
        id="t1", type="bugfix", priority="P1", status="in_progress", assigned_agent="coder",
        payload={"issue": 7, "ratio": 0.5}, source="ci", sla_target=600, metadata={"trace_id": "x"},
        agent_id=None, claimed_by="agent-1", progress=40, result=None, error=None, attempts=1,
        max_attempts=3, idempotency_key="k", schedule={"type": "delayed", "delay_seconds": 5},
        approval_id="a1", run_id="r1", step_id="s1", lease_id="lease-9",
        lease_expires_at=NOW + 30, created_at=NOW - 100, updated_at=NOW - 5,
        started_at=NOW - 50, completed_at=None, created_by="alice",
        logs=[models.TaskLog(NOW - 40, "info", "started"),
              models.TaskLog(NOW - 20.123, "warning", "slow")])
    values.update(overrides)
    return models.Task(**values)


@pytest.mark.parametrize("with_logs", [True, False])
@pytest.mark.parametrize("now", [NOW, None])
def test_task_is_the_engine_shape_plus_priority_name(with_logs: bool, now: float | None) -> None:
    record = task_record()
    expected = record.as_dict(now, with_logs=with_logs)
    expected["priority_name"] = "high"
    assert wire(convert.task(record, now, with_logs=with_logs)) == wire(expected)


def test_claimed_task_carries_its_lease_last() -> None:
    record = task_record(status="assigned", started_at=None, progress=0)
    expected = record.as_dict(NOW)
    expected["priority_name"] = "high"
    expected["lease_id"] = "lease-9"
    assert wire(convert.task(record, NOW, lease=True)) == wire(expected)


def test_finished_task_with_duration_and_result() -> None:
    record = task_record(status="completed", completed_at=NOW - 1, result={"ok": True},
                         priority="P3", sla_target=None, metadata={})
    expected = record.as_dict(NOW)
    expected["priority_name"] = "low"
    assert wire(convert.task(record, NOW)) == wire(expected)


def test_agent_with_and_without_registration_extras() -> None:
    record = models.Agent(id="ag1", name="Coder", type="coder", status="active",
                          max_concurrent_tasks=4, timeout=120, retry_attempts=2,
                          environment="prod", created_at=NOW - 500, updated_at=NOW - 10,
                          last_heartbeat=NOW - 3, first_heartbeat=NOW - 400, health="healthy",
                          running=2, tasks_completed=9, tasks_failed=1,
                          response_ms_total=4500.0, memory_usage=41.5, cpu_usage=None,
                          owner="bot")
    assert wire(convert.agent(record, NOW)) == wire(record.as_dict(NOW))
    expected = {**record.as_dict(NOW), "heartbeat_interval": 10.0, "lease_seconds": 60}
    assert wire(convert.agent(record, NOW, heartbeat_interval=10.0,
                              lease_seconds=60)) == wire(expected)
    fresh = models.Agent(id="ag2", name="New", type="coder")
    assert wire(convert.agent(fresh, NOW)) == wire(fresh.as_dict(NOW))


def gate_fields() -> list[dict[str, Any]]:
    return [field.payload() for field in (
        Field(name="decision", type="select", label="Decision", required=True,
              options="approve,reject"),
        Field(name="tags", type="multiselect", options=["a", "b"], default=["a"]),
        Field(name="count", type="number", min=1, max=10.5, default=3),
        Field(name="notes", type="textarea", placeholder="why?", help="free text"),
        Field(name="ok", type="boolean"),
        Field(name="who"),
    )]


@pytest.mark.parametrize("status", ["pending", "approved", "rejected"])
def test_approval_with_every_gate_field_kind(status: str) -> None:
    record = models.Approval(
        approval_id="ap1", kind="gate", priority="P2", status=status, run_id="r1",
        step_id="review", reason="deploy: review", prompt="Ship it?", fields=gate_fields(),
        agent_context="diff...", allowed_roles=["admin"], timeout_action="respond",
        created_at=NOW - 60, expires_at=NOW + 600,
        decided_by=None if status == "pending" else "bob",
        decided_at=None if status == "pending" else NOW - 1,
        response={"decision": "approve"} if status == "approved" else None,
        rejection_reason="no" if status == "rejected" else None, requested_by="alice")
    assert wire(convert.approval(record)) == wire(record.as_dict())


def test_task_approval_without_fields() -> None:
    record = models.Approval(approval_id="ap2", kind="task", priority="P0", task_id="t1",
                             reason="P0 task", created_at=NOW, break_glass=True)
    assert wire(convert.approval(record)) == wire(record.as_dict())


@pytest.mark.parametrize("priority", [None, "P2"])
def test_event(priority: str | None) -> None:
    record = models.Event(seq=17, event_type="task.progress", timestamp=NOW + 0.5,
                          source_agent="engine", payload={"progress": 40, "x": 1.0},
                          task_id="t1", trace_id="tr", priority=priority)
    assert wire(convert.event(record)) == wire(record.as_dict())


def run_record(status: str) -> models.Run:
    human = HumanStep(id="review", prompt="Ship {{ name }}?",
                      fields=[Field(name="decision", type="select", options="yes,no",
                                    required=True)], timeout_seconds=60)
    hir = human.input_required({"name": "x"}, run_id="r1") if status == "paused" else None
    if hir is not None:
        hir["approval_id"] = "ap1"
    return models.Run(
        run_id="r1", orchestration_id="deploy", orchestration_name="Deploy", status=status,
        message="go", shared_state={"n": 1, "f": 2.5},
        step_history=[models.StepRecord(step_id="plan", step_name="Plan", type="agent",
                                        status="completed", turns=2, cost_usd=0.0012345678,
                                        tokens=300, started_at=NOW - 10, finished_at=NOW - 8,
                                        output="plan"),
                      models.StepRecord(step_id="review", step_name="Review", type="human",
                                        status="paused", started_at=NOW - 8)],
        current_step_id="review", human_input_required=hir,
        approval_id="ap1" if status == "paused" else None,
        response="done" if status == "completed" else None,
        error="boom" if status == "failed" else None, cost_usd=0.0012345678, turns=2,
        created_by="alice", created_at=NOW - 10, updated_at=NOW - 1,
        finished_at=NOW if status in ("completed", "failed") else None)


def seed_view(run: models.Run) -> dict[str, Any]:
    """The synchronous run answer as the server built it before the contract (seed 000)."""
    out: dict[str, Any] = {"status": run.status, "run_id": run.run_id}
    if run.status == "completed":
        out["response"] = run.response or ""
        out["shared_state"] = run.shared_state
        out["step_history"] = [s.as_dict() for s in run.step_history]
    elif run.status == "paused":
        out["human_input_required"] = run.human_input_required
        out["approval_id"] = run.approval_id
    elif run.status in ("failed", "cancelled"):
        out["response"] = run.error or run.response or run.status
    out["cost_usd"] = round(run.cost_usd, 6)
    return out


@pytest.mark.parametrize("status", ["running", "paused", "completed", "failed", "cancelled"])
def test_run_and_its_synchronous_answer(status: str) -> None:
    record = run_record(status)
    assert wire(convert.run(record)) == wire(record.as_dict())
    assert wire(convert.run_result(record)) == wire(seed_view(record))


def test_decoding_the_wire_gives_back_the_same_json() -> None:
    """What the SDK decodes re-encodes to the same bytes (no field lost or renamed)."""
    cases: list[tuple[Any, type]] = [
        (convert.task(task_record(), NOW), contract.Task),
        (convert.task(task_record(), NOW, with_logs=False, lease=True), contract.Task),
        (convert.approval(models.Approval(approval_id="a", kind="gate", priority="P2",
                                          fields=gate_fields())), contract.Approval),
        (convert.run(run_record("paused")), contract.Run),
        (convert.run_result(run_record("completed")), contract.RunResult),
    ]
    for value, kind in cases:
        data = wire(value)
        decoded = msgspec.json.decode(data, type=kind)
        assert isinstance(decoded, kind)
        again = msgspec.json.decode(wire(decoded))
        assert again == msgspec.json.decode(data)


def legacy_ws_event(channel: str, event: models.Event) -> dict[str, Any]:
    """The WebSocket event message as the server built it before the contract."""
    from switchboard.engine.clock import iso
    from switchboard.server.ws_protocol import message_type

    message: dict[str, Any] = {"type": message_type(event.event_type), "channel": channel,
                               "event_type": event.event_type, "payload": event.payload,
                               "seq": event.seq, "timestamp": iso(event.timestamp)}
    if event.event_type.startswith("run."):
        message["event"] = event.event_type[4:]
    for key in ("task_id", "run_id", "agent_id", "source_agent", "trace_id", "priority"):
        value = getattr(event, key)
        if value is not None:
            message[key] = value
    return message


@pytest.mark.parametrize("event", [
    models.Event(seq=3, event_type="run.step_started", timestamp=NOW, run_id="r1",
                 payload={"step_id": "s"}),
    models.Event(seq=4, event_type="task.completed", timestamp=NOW, task_id="t1",
                 agent_id="a1", source_agent="engine", trace_id="tr", priority="P1"),
    models.Event(seq=5, event_type="deploy.done", timestamp=NOW),
], ids=lambda e: e.event_type)
def test_websocket_event_message(event: models.Event) -> None:
    from switchboard.server.ws_protocol import event_message

    assert wire(event_message("all_events", event)) == wire(legacy_ws_event("all_events", event))
