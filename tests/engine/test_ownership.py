"""Object-level authorization in the engine (issue 9): the in-process path, with Actors.

The server tests (tests/server/test_ownership.py) try each bypass over HTTP/WS; these pin
the engine's own rules, which every caller (console, orchestration runs, the SDK through the
API) goes through: binding, holder identity, what clears it, and which acts are audited.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from switchboard.engine.actors import SYSTEM, Actor
from switchboard.engine.audit import AuditQuery
from switchboard.engine.clock import ManualClock
from switchboard.engine.engine import Engine
from switchboard.engine.errors import Conflict, Forbidden
from switchboard.engine.tasks import TaskSpec

pytestmark = pytest.mark.both_stores  # issue 16: on SQLite and on PostgreSQL

A = Actor("agent-a", "agent", "jwt")
B = Actor("agent-b", "agent", "api_key")
ADMIN = Actor("root", "admin", "jwt")
USER = Actor("viewer", "user", "jwt")


async def rows(engine: Engine, action: str) -> list:
    return await engine.audit.list(AuditQuery(action=action))


async def held_by_a(engine: Engine) -> tuple[str, str]:
    await engine.agents.register("a1", "dev_agent", agent_id="a1", actor=A)
    await engine.tasks.create(TaskSpec(type="bugfix"), A)
    task = await engine.tasks.claim("a1", actor=A)
    assert task is not None and task.lease_id is not None
    assert task.claimed_principal == "agent-a"
    return task.id, task.lease_id


async def test_register_binds_the_new_id_to_its_registrant(engine: Engine) -> None:
    agent = await engine.agents.register("a1", "dev_agent", agent_id="a1", actor=A)
    assert agent.owner == "agent-a"
    assert (await engine.agents.register("w", "dev_agent", actor=SYSTEM)).owner is None
    with pytest.raises(Forbidden, match="belongs to another principal"):
        await engine.agents.register("a1", "dev_agent", agent_id="a1", actor=B)
    with pytest.raises(Forbidden, match="requires role agent"):
        await engine.agents.register("u", "dev_agent", actor=USER)


async def test_concurrent_binding_of_an_unowned_id_has_one_winner(engine: Engine) -> None:
    await engine.agents.create("pre", "dev_agent", agent_id="pre", actor=ADMIN)
    principals = [Actor(f"agent-{i}", "agent", "jwt") for i in range(20)]
    results = await asyncio.gather(
        *[engine.agents.heartbeat("pre", actor=p) for p in principals[:10]],
        *[engine.tasks.claim("pre", actor=p) for p in principals[10:]],
        return_exceptions=True)
    refused = [r for r in results if isinstance(r, Forbidden)]
    assert len(refused) == 19, results
    owner = (await engine.agents.get("pre")).owner
    assert owner in {p.name for p in principals}


async def test_the_system_actor_acts_freely_and_writes_no_override(engine: Engine) -> None:
    task_id, lease = await held_by_a(engine)
    await engine.tasks.progress(task_id, 50)  # in-process callers default to SYSTEM
    await engine.agents.heartbeat("a1")
    await engine.tasks.complete(task_id, {"ok": True})
    assert await rows(engine, "task.override") == []
    assert await rows(engine, "agent.override") == []


async def test_holder_by_principal_or_lease_and_nobody_else(engine: Engine) -> None:
    task_id, lease = await held_by_a(engine)
    for call in (lambda who: engine.tasks.progress(task_id, 10, actor=who),
                 lambda who: engine.tasks.add_log(task_id, "info", "x", actor=who),
                 lambda who: engine.tasks.extend_lease(task_id, actor=who),
                 lambda who: engine.tasks.set_status(task_id, "in_progress", actor=who)):
        with pytest.raises(Forbidden, match="held by another principal"):
            await call(B)
        with pytest.raises(Forbidden):
            await call(USER)
        await call(A)
    await engine.tasks.progress(task_id, 20, lease_id=lease, actor=B)  # the lease decides
    with pytest.raises(Conflict, match="no longer valid"):
        await engine.tasks.complete(task_id, lease_id="stale", actor=A)
    done = await engine.tasks.complete(task_id, {"by": "a"}, actor=A)
    assert done.status == "completed"
    again = await engine.tasks.complete(task_id, {"by": "a"}, actor=A)  # repeat: no-op
    assert again.result == {"by": "a"}
    with pytest.raises(Conflict):
        await engine.tasks.complete(task_id, actor=B)


async def test_admin_override_writes_one_row_per_act(engine: Engine) -> None:
    task_id, _ = await held_by_a(engine)
    await engine.tasks.extend_lease(task_id, actor=ADMIN)
    await engine.tasks.fail(task_id, "stuck", actor=ADMIN)
    overrides = await rows(engine, "task.override")
    assert [json.loads(r.after)["action"] for r in overrides] == ["lease", "fail"]
    assert {r.principal for r in overrides} == {"root"}


async def test_requeue_on_lease_expiry_clears_the_holder(engine: Engine,
                                                         clock: ManualClock) -> None:
    task_id, lease = await held_by_a(engine)
    clock.advance(engine.config.tasks.lease_seconds + 1)
    counts = await engine.store.write(engine.tasks.maintenance_op)
    assert counts["requeued"] == 1
    task = await engine.tasks.get(task_id)
    assert task.status == "assigned" and task.claimed_principal is None
    with pytest.raises(Forbidden, match="claim it first"):
        await engine.tasks.fail(task_id, "gave up", actor=A)
    with pytest.raises(Conflict, match="no lease to hand back"):
        await engine.tasks.release(task_id, actor=A)


async def test_deleting_an_agent_requeues_without_a_holder_audited(engine: Engine) -> None:
    task_id, _ = await held_by_a(engine)
    await engine.agents.delete("a1", actor=ADMIN)
    task = await engine.tasks.get(task_id)
    assert task.status == "assigned" and task.claimed_principal is None
    (row,) = await rows(engine, "agent.delete")
    assert json.loads(row.after) == {"requeued": [task_id]}
    assert json.loads(row.before)["owner"] == "agent-a"


async def test_patch_in_progress_makes_the_caller_the_holder(engine: Engine) -> None:
    task, _ = await engine.tasks.create(TaskSpec(type="bugfix"), B)
    started = await engine.tasks.set_status(task.id, "in_progress", actor=A)
    assert started.claimed_principal == "agent-a"
    with pytest.raises(Forbidden):
        await engine.tasks.set_status(task.id, "completed", actor=B)
    with pytest.raises(Forbidden):  # the creator no longer decides once someone holds it
        await engine.tasks.cancel(task.id, B)
    assert (await engine.tasks.set_status(task.id, "failed", error="no", actor=A)).status == "failed"


async def test_cancel_is_audited_with_before_after_and_reason(engine: Engine) -> None:
    task, _ = await engine.tasks.create(TaskSpec(type="bugfix", priority="P0"), A)
    with pytest.raises(Forbidden, match="created by another principal"):
        await engine.tasks.cancel(task.id, B, "mine now")
    await engine.tasks.cancel(task.id, A, "wrong repo")
    (cancel,) = await rows(engine, "task.cancel")
    assert (cancel.object_id, cancel.reason) == (task.id, "wrong repo")
    assert json.loads(cancel.before)["status"] == "awaiting_approval"
    (approval,) = await rows(engine, "approval.cancel")
    assert approval.object_id == task.approval_id
    assert (await engine.approvals.get(task.approval_id)).status == "cancelled"
    with pytest.raises(Conflict):
        await engine.tasks.cancel(task.id, ADMIN)
    assert len(await rows(engine, "task.cancel")) == 1  # a refused cancel leaves no row


async def test_agent_admin_actions_are_audited(engine: Engine) -> None:
    await engine.agents.create("x", "dev_agent", agent_id="x", owner="agent-a", actor=ADMIN)
    with pytest.raises(Forbidden):
        await engine.agents.heartbeat("x", actor=B)
    await engine.agents.update("x", configuration={"max_concurrent_tasks": 3}, actor=ADMIN)
    await engine.agents.update("x", owner=None, actor=ADMIN)
    await engine.agents.update("x", name="x", actor=ADMIN)  # nothing changed: no row
    updates = await rows(engine, "agent.update")
    assert len(updates) == 2
    assert json.loads(updates[1].before) == {"owner": "agent-a"}
    assert json.loads(updates[1].after) == {"owner": None}
    await engine.agents.heartbeat("x", actor=B)  # unbound: B binds it now
    assert (await engine.agents.get("x")).owner == "agent-b"
    assert len(await rows(engine, "agent.create")) == 1


async def test_an_admin_claim_as_an_owned_agent_is_audited_only_when_it_leases(
        engine: Engine) -> None:
    await engine.agents.register("a1", "dev_agent", agent_id="a1", actor=A)
    assert await engine.tasks.claim("a1", actor=ADMIN) is None  # an empty poll: no row
    assert await rows(engine, "agent.override") == []
    task, _ = await engine.tasks.create(TaskSpec(type="bugfix"), A)
    claimed = await engine.tasks.claim("a1", actor=ADMIN)
    assert claimed is not None and claimed.claimed_principal == "root"
    (row,) = await rows(engine, "agent.override")
    assert json.loads(row.after) == {"action": "claim", "task_id": task.id}
    assert (await engine.agents.get("a1")).owner == "agent-a"
