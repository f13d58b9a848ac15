"""InProcessBackend against a real engine: reads, actions, errors, and the live stream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from switchboard.console.backend import (
    BackendError,
    ConnectionState,
    InProcessBackend,
    TaskView,
)
from switchboard.console.resolve import resolve_id
from switchboard.engine.actors import Actor
from switchboard.engine.engine import Engine
from switchboard.engine.tasks import TaskSpec
from switchboard.server import contract, convert

World = tuple[Engine, dict[str, Any]]


async def test_overview_counts(world: World) -> None:
    engine, _ = world
    data = await InProcessBackend(engine).overview()
    assert data.total_tasks == 7
    assert data.approvals_waiting == 3
    assert data.approvals_by_priority == {"P0": 1, "P1": 1, "P2": 1, "P3": 0}
    assert data.tasks_by_status["failed"] == 1 and data.tasks_by_status["in_progress"] == 1
    assert data.agents_by_health == {"healthy": 2, "degraded": 1, "unhealthy": 1}
    assert data.runs_by_status is not None and data.runs_by_status["paused"] == 1
    assert len(data.throughput) == 60 and sum(data.throughput) == 1


async def test_task_views(world: World) -> None:
    engine, data = world
    backend = InProcessBackend(engine)
    page = await backend.tasks(TaskView())
    statuses = [t.status for t in page.tasks]
    # unfinished first, P0 first among them; finished after
    assert statuses[:4] == ["awaiting_approval", "awaiting_approval", "in_progress", "assigned"]
    assert page.tasks[0].id == data["p0"].id and page.total == 7
    failed = await backend.tasks(TaskView(status="failed"))
    assert [t.id for t in failed.tasks] == [data["failed"].id] and failed.total == 1
    mine = await backend.tasks(TaskView(status="in_progress", agent_id="agent-dev-1"))
    assert [t.id for t in mine.tasks] == [data["claimed"].id]
    with pytest.raises(BackendError) as err:
        await backend.tasks(TaskView(status="bogus"))
    assert err.value.status == 400 and "unknown" in err.value.detail


async def test_actions_and_errors_carry_detail(world: World) -> None:
    engine, data = world
    backend = InProcessBackend(engine, Actor("op", "admin"))
    await backend.reject(data["p1"].approval_id, reason="not now")
    approval = await backend.approval(data["p1"].approval_id)
    assert approval.status == "rejected" and approval.decided_by == "op"
    assert approval.rejection_reason == "not now"
    with pytest.raises(BackendError) as err:
        await backend.approve(data["p1"].approval_id)
    assert err.value.conflict and "already rejected by op" in err.value.detail
    await backend.retry_task(data["failed"].id)
    assert (await backend.task(data["failed"].id)).status == "assigned"
    await backend.set_task_priority(data["tasks"][1].id, "P1")
    assert (await backend.task(data["tasks"][1].id)).priority == "P1"
    await backend.cancel_task(data["tasks"][1].id, "no longer needed")
    assert (await backend.task(data["tasks"][1].id)).status == "cancelled"
    with pytest.raises(BackendError) as err:
        await backend.task("task_nope")
    assert err.value.status == 404


async def test_gate_answer_validation_names_the_field(world: World) -> None:
    engine, data = world
    backend = InProcessBackend(engine)
    run = data["run"]
    with pytest.raises(BackendError) as err:
        await backend.submit_gate(run.approval_id, {"decision": "approve", "replicas": 99})
    assert err.value.status == 400 and err.value.field and "replicas" in err.value.field
    await backend.submit_gate(run.approval_id, {"decision": "approve", "replicas": 2})
    done = await engine.runs.wait(run.run_id, timeout=5)
    assert done.status == "completed" and done.shared_state["replicas"] == 2


async def test_runs_and_orchestrations(world: World) -> None:
    engine, data = world
    backend = InProcessBackend(engine)
    runs = await backend.runs()
    assert [r.run_id for r in runs] == [data["run"].run_id]
    infos = {i.id: i for i in await backend.orchestrations()}
    assert infos["orch-review"].valid and infos["orch-review"].steps == 1
    broken = infos["broken.toml"]
    assert not broken.valid and "steps[0].prompt" in broken.problems[0]
    run_id = await backend.start_run("orch-review", "PR #43")
    assert (await backend.run(run_id)).orchestration_id == "orch-review"
    with pytest.raises(BackendError) as err:
        await backend.start_run("orch-missing", "x")
    assert err.value.status == 404


async def test_records_are_the_wire_contracts(world: World) -> None:
    """What the screens get in-process is what the API sends: contract records, built by
    the server's converters, so the attached console cannot differ."""
    engine, data = world
    backend = InProcessBackend(engine)
    task = await backend.task(data["failed"].id)
    assert isinstance(task, contract.Task) and task.status is contract.TaskStatus.FAILED
    assert task.created_at and task.created_at.endswith("Z")
    agents = await backend.agents()
    assert all(isinstance(a, contract.Agent) for a in agents)
    overview = await backend.overview()
    assert overview == convert.overview(await engine.views.overview())


async def test_resolve_short_ids(world: World) -> None:
    engine, data = world
    backend = InProcessBackend(engine)
    assert await resolve_id(backend, "task", data["p0"].id[-3:]) == data["p0"].id
    assert await resolve_id(backend, "run", data["run"].run_id) == data["run"].run_id
    assert await resolve_id(backend, "agent", "dev-1") == "agent-dev-1"
    # searched over the whole store by any part of the id: a part every id has is ambiguous
    with pytest.raises(BackendError) as err:
        await resolve_id(backend, "task", "0000")
    assert err.value.status == 409 and "type more" in err.value.detail
    with pytest.raises(BackendError) as err:
        await resolve_id(backend, "task", "task_0000000")  # every fixed id starts so
    assert err.value.status == 409


async def test_stream_coalesces_and_resumes(world: World) -> None:
    engine, _ = world
    backend = InProcessBackend(engine)
    await backend.start()
    stream = backend.stream(None, coalesce=0.05)
    first = await anext(stream)
    assert first.state == ConnectionState.CONNECTED and not first.events
    for n in range(5):
        await engine.tasks.create(TaskSpec(type="bugfix", payload={"n": n}))
    item = await asyncio.wait_for(anext(stream), 5)
    assert len(item.events) >= 2 and item.last_seq == item.events[-1].seq
    await stream.aclose()
    resumed = backend.stream(item.events[0].seq, coalesce=0.0)
    await anext(resumed)
    replay = await asyncio.wait_for(anext(resumed), 5)
    assert replay.events[0].seq == item.events[1].seq  # no gap, no duplicate
    await resumed.aclose()
