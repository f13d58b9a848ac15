"""The P0/P1 approval gate: approve, reject, decide-once, expiry, history, roles."""

from __future__ import annotations

import asyncio

import pytest

from switchboard.engine.actors import Actor
from switchboard.engine.engine import Engine
from switchboard.engine.errors import Conflict, NotFound
from switchboard.engine.tasks import TaskSpec
from tests.conftest import make_config

pytestmark = pytest.mark.both_stores  # issue 16: on SQLite and on PostgreSQL


async def test_approve_releases_task(engine: Engine) -> None:
    t, _ = await engine.tasks.create(TaskSpec(type="deployment", priority="P1"))
    approval = await engine.approvals.approve(t.approval_id, Actor("alice", "agent"))
    assert approval.status == "approved" and approval.decided_by == "alice"
    task = await engine.tasks.get(t.id)
    assert task.status == "assigned"
    data = approval.as_dict()
    assert data["approved_by"] == "alice" and data["approved_at"]


async def test_reject_ends_task_with_reason(engine: Engine) -> None:
    t, _ = await engine.tasks.create(TaskSpec(type="deployment", priority="P0"))
    approval = await engine.approvals.reject(t.approval_id, Actor("bob", "admin"),
                                             reason="Security concerns")
    assert approval.status == "rejected" and approval.rejection_reason == "Security concerns"
    task = await engine.tasks.get(t.id)
    assert task.status == "rejected" and "Security concerns" in task.error


async def test_decide_twice_conflicts_naming_winner(engine: Engine) -> None:
    t, _ = await engine.tasks.create(TaskSpec(type="deployment", priority="P1"))
    await engine.approvals.approve(t.approval_id, Actor("alice", "agent"))
    with pytest.raises(Conflict) as err:
        await engine.approvals.reject(t.approval_id, Actor("bob", "agent"))
    assert "already approved by alice" in err.value.detail


async def test_racing_decisions_exactly_one_wins(engine: Engine) -> None:
    t, _ = await engine.tasks.create(TaskSpec(type="deployment", priority="P1"))
    results = await asyncio.gather(
        *(engine.approvals.approve(t.approval_id, Actor(f"u{i}", "agent")) for i in range(5)),
        *(engine.approvals.reject(t.approval_id, Actor(f"r{i}", "agent")) for i in range(5)),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception))
    events = await engine.bus.history(0)
    assert sum(e.event_type == "approval.decided" for e in events) == 1


async def test_unknown_approval(engine: Engine) -> None:
    with pytest.raises(NotFound):
        await engine.approvals.get("approval_nope")


async def test_history_most_recent_first(engine: Engine, clock) -> None:
    ids = []
    for _ in range(3):
        t, _ = await engine.tasks.create(TaskSpec(type="incident", priority="P0"))
        ids.append(t.approval_id)
    for i, approval_id in enumerate(ids):
        clock.advance(1)
        if i == 1:
            await engine.approvals.reject(approval_id, Actor("x", "agent"), reason="no")
        else:
            await engine.approvals.approve(approval_id, Actor("y", "agent"))
    history = await engine.approvals.history(limit=2)
    assert [a.approval_id for a in history] == [ids[2], ids[1]]
    assert history[1].rejection_reason == "no"


async def test_pending_orders_critical_first(engine: Engine, clock) -> None:
    p1, _ = await engine.tasks.create(TaskSpec(type="deployment", priority="P1"))
    clock.advance(1)
    p0, _ = await engine.tasks.create(TaskSpec(type="incident", priority="P0"))
    pending = await engine.approvals.pending()
    assert [a.task_id for a in pending] == [p0.id, p1.id]


async def test_expiry_rejects_by_default(tmp_path, clock) -> None:
    config = make_config(tmp_path, approvals={"timeout_seconds": 60})
    async with Engine(config, clock=clock, run_maintenance=False) as eng:
        t, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P1"))
        clock.advance(61)
        counts = await eng.run_maintenance_once()
        assert counts["approvals_expired"] == 1
        approval = await eng.approvals.get(t.approval_id)
        assert approval.status == "expired" and approval.decided_by == "timeout"
        assert (await eng.tasks.get(t.id)).status == "rejected"


async def test_expiry_can_approve(tmp_path, clock) -> None:
    config = make_config(tmp_path, approvals={"timeout_seconds": 60, "timeout_action": "approve"})
    async with Engine(config, clock=clock, run_maintenance=False) as eng:
        t, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P1"))
        clock.advance(61)
        await eng.run_maintenance_once()
        assert (await eng.tasks.get(t.id)).status == "assigned"
