"""Separation of duties for approvals and gates that apply exactly once to the right people.

Engine level, on a real SQLite file: self-approval, retry of an approval-gated task, the
awaiting_approval guard of PATCH status, exact gate membership with admin break-glass,
cancel needing the gate's permission, resume naming the gate it answers, and one audit row
per decision.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from switchboard.engine.actors import SYSTEM, Actor
from switchboard.engine.audit import AuditQuery
from switchboard.engine.clock import ManualClock
from switchboard.engine.engine import Engine
from switchboard.engine.errors import Conflict, Forbidden, NotFound
from switchboard.engine.tasks import TaskSpec
from tests.conftest import make_config

AGENT_A = Actor("agent-a", "agent", "jwt")
AGENT_B = Actor("agent-b", "agent", "jwt")
VIEWER = Actor("viewer", "user", "jwt")
ROOT = Actor("root", "admin", "jwt")

GATES = """
id = "gates"
name = "Gates"
[state_schema]
first = { type = "string" }
second = { type = "string" }
[[steps]]
id = "g1"
type = "human"
prompt = "First?"
[[steps.fields]]
name = "first"
type = "text"
required = true
[[steps]]
id = "g2"
type = "human"
prompt = "Second?"
[[steps.fields]]
name = "second"
type = "text"
required = true
"""


P0_STEP = """
id = "p0-step"
name = "P0 step"
[state_schema]
result = { type = "object" }
[[steps]]
id = "deploy"
type = "task"
task_type = "deployment"
priority = "P0"
result_key = "result"
"""


def restricted(orch_id: str, roles: list[str], users: list[str] | None = None) -> str:
    lines = [f'id = "{orch_id}"', f'name = "{orch_id}"',
             "[state_schema]", 'answer = { type = "string" }',
             "[[steps]]", 'id = "gate"', 'type = "human"', 'prompt = "Decide"',
             "allowed_roles = [" + ", ".join(f'"{r}"' for r in roles) + "]"]
    if users:
        lines.append("allowed_users = [" + ", ".join(f'"{u}"' for u in users) + "]")
    lines += ["[[steps.fields]]", 'name = "answer"', 'type = "text"', "required = true"]
    return "\n".join(lines) + "\n"


def engine_at(tmp_path: Path, clock: ManualClock | None = None, **sections: dict) -> Engine:
    defs = tmp_path / "defs"
    defs.mkdir(exist_ok=True)
    (defs / "gates.toml").write_text(GATES)
    (defs / "editorial.toml").write_text(restricted("editorial", ["admin", "user"]))
    (defs / "admin-only.toml").write_text(restricted("admin-only", ["admin"]))
    (defs / "users-only.toml").write_text(restricted("users-only", ["user"]))
    (defs / "named.toml").write_text(restricted("named", [], ["alice"]))
    (defs / "p0-step.toml").write_text(P0_STEP)
    sections.setdefault("orchestrations", {}).update({"dir": str(defs), "watch": False})
    return Engine(make_config(tmp_path / "data", **sections), clock=clock,
                  run_maintenance=False)


@pytest.fixture
async def eng(tmp_path: Path) -> Engine:
    async with engine_at(tmp_path) as engine:
        yield engine


async def audit_rows(engine: Engine, object_id: str) -> list[tuple[str, str]]:
    rows = await engine.audit.list(AuditQuery(object_id=object_id, limit=1000))
    return [(r.action, r.principal) for r in rows]


async def paused(engine: Engine, orch_id: str, actor: Actor = AGENT_A):
    run = await engine.runs.start(engine.orchestrations.get(orch_id), "x", actor=actor)
    run = await engine.runs.wait(run.run_id, 5)
    assert run.status == "paused", run
    return run


# -- self-approval ---------------------------------------------------------------------------

async def test_creator_cannot_approve_its_own_task(eng: Engine) -> None:
    task, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P0"), AGENT_A)
    with pytest.raises(Forbidden) as err:
        await eng.approvals.approve(task.approval_id, AGENT_A)
    assert "self-approval is not allowed" in err.value.detail
    assert (await eng.tasks.get(task.id)).status == "awaiting_approval"
    assert (await eng.approvals.get(task.approval_id)).status == "pending"
    assert await audit_rows(eng, task.approval_id) == []
    approved = await eng.approvals.approve(task.approval_id, AGENT_B)
    assert approved.decided_by == "agent-b"
    assert await audit_rows(eng, task.approval_id) == [("approval.approve", "agent-b")]


async def test_creator_may_withdraw_by_rejecting(eng: Engine) -> None:
    task, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P1"), AGENT_A)
    rejected = await eng.approvals.reject(task.approval_id, AGENT_A, reason="not needed")
    assert rejected.status == "rejected"
    assert (await eng.tasks.get(task.id)).status == "rejected"
    assert await audit_rows(eng, task.approval_id) == [("approval.reject", "agent-a")]


async def test_admins_are_bound_by_separation_of_duties_too(eng: Engine) -> None:
    task, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P0"), ROOT)
    with pytest.raises(Forbidden, match="self-approval is not allowed"):
        await eng.approvals.approve(task.approval_id, ROOT)


async def test_self_approval_allowed_by_config_is_audited(tmp_path: Path) -> None:
    async with engine_at(tmp_path, approvals={"allow_self_approval": True}) as eng:
        task, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P0"), AGENT_A)
        approval = await eng.approvals.approve(task.approval_id, AGENT_A)
        assert approval.status == "approved" and approval.decided_by == "agent-a"
        assert await audit_rows(eng, task.approval_id) == [
            ("approval.self_approve", "agent-a")]
        assert (await eng.tasks.get(task.id)).status == "assigned"


async def _own_agent(eng: Engine, agent_id: str, agent_type: str, owner: str) -> None:
    """An agent id registered by ``owner`` (agents.owner; filled on register by the
    ownership work, set directly here so this rule is tested on its own)."""
    await eng.agents.create(agent_id, agent_type, agent_id=agent_id)
    await eng.store.write(lambda tx: tx.execute("UPDATE agents SET owner=? WHERE id=?",
                                                (owner, agent_id)))


async def test_workers_of_the_type_cannot_approve_work_an_agent_made_for_itself(
        eng: Engine) -> None:
    # agent-a runs ops agents and creates a P0 deployment (routed to ops_agent) for itself
    await _own_agent(eng, "ops-a", "ops_agent", "agent-a")
    await _own_agent(eng, "ops-b", "ops_agent", "agent-b")
    await _own_agent(eng, "dev-c", "dev_agent", "agent-c")
    task, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P0"), AGENT_A)
    with pytest.raises(Forbidden) as err:
        await eng.approvals.approve(task.approval_id, AGENT_B)  # also runs ops_agent
    assert "self-approval is not allowed" in err.value.detail and "ops_agent" in err.value.detail
    # an agent principal with no ops_agent of its own may approve it, and so may a person
    approval = await eng.approvals.approve(task.approval_id, Actor("agent-c", "agent", "jwt"))
    assert approval.status == "approved"
    # a task a *user* created for ops agents may be approved by an ops agent's principal
    other, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P0"), VIEWER)
    assert (await eng.approvals.approve(other.approval_id, AGENT_B)).status == "approved"


async def test_the_engine_itself_is_not_a_creator(eng: Engine) -> None:
    task, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P1"))
    assert (await eng.approvals.approve(task.approval_id, SYSTEM)).status == "approved"


# -- retry and the way back to the queue -----------------------------------------------------

async def test_cancel_then_retry_opens_a_new_approval(eng: Engine) -> None:
    worker = await eng.agents.register("w", "ops_agent", agent_id="ops-1")
    task, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P0"), AGENT_A)
    first = task.approval_id
    await eng.tasks.cancel(task.id, AGENT_A)
    assert (await eng.approvals.get(first)).status == "cancelled"
    retried = await eng.tasks.retry(task.id, AGENT_A)
    assert retried.status == "awaiting_approval"
    assert retried.approval_id and retried.approval_id != first
    assert await eng.tasks.claim(worker.id) is None  # nothing reaches a worker
    pending = await eng.approvals.pending()
    assert [(a.approval_id, a.task_id, a.requested_by) for a in pending] == [
        (retried.approval_id, task.id, "agent-a")]
    requested = [e for e in await eng.bus.history(0) if e.event_type == "approval.requested"]
    assert [e.payload["approval_id"] for e in requested] == [first, retried.approval_id]
    assert await audit_rows(eng, task.id) == [("task.cancel", "agent-a"), ("task.retry", "agent-a")]
    # the retrier asked for it: it cannot approve it either
    with pytest.raises(Forbidden, match="self-approval is not allowed"):
        await eng.approvals.approve(retried.approval_id, AGENT_A)
    await eng.approvals.approve(retried.approval_id, AGENT_B)
    claimed = await eng.tasks.claim(worker.id)
    assert claimed is not None and claimed.id == task.id


async def test_retry_after_an_approved_run_failed_asks_again(eng: Engine) -> None:
    worker = await eng.agents.register("w", "ops_agent", agent_id="ops-1")
    task, _ = await eng.tasks.create(TaskSpec(type="incident", priority="P1"), AGENT_A)
    await eng.approvals.approve(task.approval_id, AGENT_B)
    claimed = await eng.tasks.claim(worker.id)
    assert claimed is not None
    await eng.tasks.fail(task.id, "boom", lease_id=claimed.lease_id)
    retried = await eng.tasks.retry(task.id, ROOT)
    assert retried.status == "awaiting_approval" and retried.approval_id != task.approval_id
    assert await eng.tasks.claim(worker.id) is None
    # an admin retried it: the admin is now the requester and cannot approve it
    with pytest.raises(Forbidden, match="self-approval"):
        await eng.approvals.approve(retried.approval_id, ROOT)


async def test_only_the_creator_or_an_admin_may_retry(eng: Engine) -> None:
    task, _ = await eng.tasks.create(TaskSpec(type="bugfix"), AGENT_A)
    await eng.tasks.cancel(task.id, AGENT_A)
    with pytest.raises(Forbidden) as err:
        await eng.tasks.retry(task.id, AGENT_B)
    assert "agent-a" in err.value.detail
    assert (await eng.tasks.get(task.id)).status == "cancelled"
    assert (await eng.tasks.retry(task.id, ROOT)).status == "assigned"
    assert await audit_rows(eng, task.id) == [("task.cancel", "agent-a"), ("task.retry", "root")]


async def test_patch_status_cannot_leave_awaiting_approval(eng: Engine) -> None:
    task, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P0"), AGENT_A)
    for status in ("in_progress", "completed", "failed"):
        with pytest.raises(Conflict) as err:
            await eng.tasks.set_status(task.id, status, actor=AGENT_A)
        assert "awaiting approval" in err.value.detail
    assert (await eng.tasks.get(task.id)).status == "awaiting_approval"


async def test_scheduled_p0_waits_for_approval_before_promotion(tmp_path: Path) -> None:
    clock = ManualClock()
    async with engine_at(tmp_path, clock) as eng:
        task, _ = await eng.tasks.create(TaskSpec(
            type="deployment", priority="P0", schedule={"type": "delayed",
                                                        "delay_seconds": 10}), AGENT_A)
        clock.advance(20)
        await eng.run_maintenance_once()
        assert (await eng.tasks.get(task.id)).status == "awaiting_approval"


async def test_maintenance_and_restart_keep_the_gate(tmp_path: Path) -> None:
    clock = ManualClock()
    async with engine_at(tmp_path, clock) as eng:
        task, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P0"), AGENT_A)
        clock.advance(3600)
        await eng.run_maintenance_once()
    async with engine_at(tmp_path, clock) as eng:
        await eng.run_maintenance_once()
        assert (await eng.tasks.get(task.id)).status == "awaiting_approval"
        worker = await eng.agents.register("w", "ops_agent", agent_id="ops-1")
        assert await eng.tasks.claim(worker.id) is None


# -- gates: exact membership, break-glass, cancel ----------------------------------------------

async def test_gate_roles_are_exact_membership(eng: Engine) -> None:
    run = await paused(eng, "editorial")
    with pytest.raises(Forbidden) as err:
        await eng.runs.resume(run.run_id, {"answer": "agent says yes"}, AGENT_B)
    assert "admin or user" in err.value.detail
    done = await eng.runs.resume(run.run_id, {"answer": "looks good"}, VIEWER)
    assert done.status == "completed"
    gate = await eng.approvals.get(run.approval_id)
    assert (gate.decided_by, gate.break_glass) == ("viewer", False)
    assert await audit_rows(eng, run.approval_id) == [("gate.answer", "viewer")]


async def test_gate_without_lists_is_for_agents_and_admins(eng: Engine) -> None:
    run = await paused(eng, "gates")
    with pytest.raises(Forbidden, match="requires role agent or admin"):
        await eng.runs.resume(run.run_id, "hi", VIEWER)
    assert (await eng.runs.resume(run.run_id, "hi", AGENT_B)).status == "paused"


async def test_named_users(eng: Engine) -> None:
    run = await paused(eng, "named")
    with pytest.raises(Forbidden, match="alice"):
        await eng.runs.resume(run.run_id, "ok", AGENT_B)
    assert (await eng.runs.resume(run.run_id, "ok", Actor("alice", "user"))).status \
        == "completed"


async def test_admin_break_glass_is_recorded(eng: Engine) -> None:
    run = await paused(eng, "users-only")
    done = await eng.runs.resume(run.run_id, {"answer": "overridden"}, ROOT)
    assert done.status == "completed"
    gate = await eng.approvals.get(run.approval_id)
    assert gate.break_glass and gate.decided_by == "root"
    assert gate.as_dict()["break_glass"] is True
    assert await audit_rows(eng, run.approval_id) == [("approval.break_glass", "root")]
    # an admin listed on the gate is not breaking glass
    run = await paused(eng, "admin-only")
    await eng.runs.resume(run.run_id, "fine", ROOT)
    gate = await eng.approvals.get(run.approval_id)
    assert not gate.break_glass and gate.as_dict()["break_glass"] is False
    assert await audit_rows(eng, run.approval_id) == [("gate.answer", "root")]


async def test_reject_needs_the_gate_permission(eng: Engine) -> None:
    run = await paused(eng, "admin-only")
    with pytest.raises(Forbidden):
        await eng.approvals.reject(run.approval_id, AGENT_B, reason="no")
    assert (await eng.runs.get(run.run_id)).status == "paused"


async def test_cancel_at_a_restricted_gate_needs_its_permission(eng: Engine) -> None:
    run = await paused(eng, "admin-only")
    with pytest.raises(Forbidden) as err:
        await eng.runs.cancel(run.run_id, AGENT_A)  # even the agent that started it
    assert "admin" in err.value.detail
    assert (await eng.runs.get(run.run_id)).status == "paused"
    assert (await eng.approvals.get(run.approval_id)).status == "pending"
    cancelled = await eng.runs.cancel(run.run_id, ROOT)
    assert cancelled.status == "cancelled"
    assert (await eng.approvals.get(run.approval_id)).status == "cancelled"
    assert await audit_rows(eng, run.run_id) == [("run.cancel", "root")]
    # at an editorial gate (admin, user) neither the unlisted starter nor a listed user who
    # did not start the run may cancel it: the gate's permission is needed, and so is the
    # run's (its starter's); the user answers the gate instead
    run = await paused(eng, "editorial")
    with pytest.raises(Forbidden, match="gate"):
        await eng.runs.cancel(run.run_id, AGENT_A)
    with pytest.raises(Forbidden, match="started by another principal"):
        await eng.runs.cancel(run.run_id, VIEWER)
    assert (await eng.runs.cancel(run.run_id, ROOT)).status == "cancelled"


# -- exactly once ------------------------------------------------------------------------------

async def test_resume_naming_the_gate(eng: Engine) -> None:
    run = await paused(eng, "gates")
    first = run.approval_id
    with pytest.raises(Conflict, match="g1"):
        await eng.runs.resume(run.run_id, "x", AGENT_B, step_id="g2")
    after = await eng.runs.resume(run.run_id, "one", AGENT_B, approval_id=first, step_id="g1")
    assert after.status == "paused" and after.approval_id != first
    with pytest.raises(Conflict) as err:  # a duplicate of the first answer
        await eng.runs.resume(run.run_id, "again", AGENT_B, approval_id=first)
    assert "no longer open" in err.value.detail and "agent-b" in err.value.detail
    with pytest.raises(Conflict, match="no longer open"):
        await eng.runs.resume(run.run_id, "again", AGENT_B, step_id="g1")
    with pytest.raises(NotFound):
        await eng.runs.resume(run.run_id, "x", AGENT_B, approval_id="approval_nope")
    done = await eng.runs.resume(run.run_id, "two", AGENT_B, step_id="g2")
    assert done.status == "completed"
    assert done.shared_state["first"] == "one" and done.shared_state["second"] == "two"


async def test_concurrent_resumes_of_one_gate_apply_once(eng: Engine) -> None:
    runs = [await paused(eng, "gates") for _ in range(5)]
    calls = [eng.runs.resume(r.run_id, f"answer {i}", AGENT_B, approval_id=r.approval_id)
             for r in runs for i in range(10)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == len(runs)
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
    for r in runs:
        run = await eng.runs.get(r.run_id)
        assert run.status == "paused" and run.current_step_id == "g2"
        assert [s.step_id for s in run.step_history] == ["g1"]
        decided = [a for a in await eng.approvals.for_run(r.run_id) if a.status != "pending"]
        assert len(decided) == 1


async def test_resume_against_another_runs_gate(eng: Engine) -> None:
    one, two = await paused(eng, "gates"), await paused(eng, "gates")
    with pytest.raises(Conflict, match=two.run_id):
        await eng.runs.resume(one.run_id, "x", AGENT_B, approval_id=two.approval_id)


# -- audit: one row per action ---------------------------------------------------------------

async def test_each_decision_writes_exactly_one_audit_row(tmp_path: Path) -> None:
    clock = ManualClock()
    async with engine_at(tmp_path, clock, approvals={"timeout_seconds": 60}) as eng:
        approve, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P0"), AGENT_A)
        reject, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P0"), AGENT_A)
        expire, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P0"), AGENT_A)
        await eng.approvals.approve(approve.approval_id, AGENT_B)
        await eng.approvals.reject(reject.approval_id, AGENT_B, reason="no")
        gate_run = await paused(eng, "gates")
        await eng.runs.resume(gate_run.run_id, "a", AGENT_B)
        cancel_run = await paused(eng, "gates", AGENT_B)
        await eng.runs.cancel(cancel_run.run_id, AGENT_B)
        failed_run = await paused(eng, "admin-only")
        await eng.approvals.reject(failed_run.approval_id, ROOT, reason="stop")
        await eng.runs.retry(failed_run.run_id, ROOT)
        assert (await eng.runs.wait(failed_run.run_id, 5)).status == "paused"  # a new gate
        clock.advance(61)
        await eng.run_maintenance_once()
        rows = await eng.audit.list(AuditQuery(limit=1000))
        got = sorted((r.action, r.object_id, r.principal) for r in rows)
        expected = sorted([
            ("approval.approve", approve.approval_id, "agent-b"),
            ("approval.reject", reject.approval_id, "agent-b"),
            ("approval.expire", expire.approval_id, "timeout"),
            ("gate.answer", gate_run.approval_id, "agent-b"),
            ("run.cancel", cancel_run.run_id, "agent-b"),
            ("approval.reject", failed_run.approval_id, "root"),
            ("run.retry", failed_run.run_id, "root"),
        ])  # the gates have no timeout: only the task approval expires
        assert got == expected
        assert (await eng.audit.verify()).ok


async def test_raising_a_queued_task_to_p0_puts_it_behind_an_approval(eng: Engine) -> None:
    worker = await eng.agents.register("w", "dev_agent", agent_id="dev-1")
    task, _ = await eng.tasks.create(TaskSpec(type="bugfix", priority="P2"), AGENT_A)
    raised = await eng.tasks.set_priority(task.id, "P0", ROOT)
    assert raised.priority == "P0" and raised.status == "awaiting_approval"
    assert raised.approval_id
    assert await eng.tasks.claim(worker.id) is None
    with pytest.raises(Forbidden, match="self-approval"):  # root asked for it by raising it
        await eng.approvals.approve(raised.approval_id, ROOT)
    await eng.approvals.approve(raised.approval_id, AGENT_B)
    assert (await eng.tasks.claim(worker.id)).id == task.id


async def test_the_starter_of_a_run_cannot_approve_the_p0_task_it_made(eng: Engine) -> None:
    run = await eng.runs.start(eng.orchestrations.get("p0-step"), "x", actor=AGENT_A)
    for _ in range(100):
        pending = [a for a in await eng.approvals.pending() if a.run_id == run.run_id]
        if pending:
            break
        await asyncio.sleep(0.02)
    assert pending and pending[0].kind == "task"
    with pytest.raises(Forbidden) as err:
        await eng.approvals.approve(pending[0].approval_id, AGENT_A)
    assert "self-approval is not allowed" in err.value.detail and run.run_id in err.value.detail
    assert (await eng.approvals.approve(pending[0].approval_id, AGENT_B)).status == "approved"
    await eng.runs.cancel(run.run_id, ROOT)
