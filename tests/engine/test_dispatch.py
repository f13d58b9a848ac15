"""Claims, leases, priorities, concurrency limits, requeue with backoff and dead letters."""

from __future__ import annotations

import asyncio

import pytest

from switchboard.engine.engine import Engine
from switchboard.engine.errors import Conflict, NotFound
from switchboard.engine.tasks import TaskQuery, TaskSpec

pytestmark = pytest.mark.both_stores  # issue 16: on SQLite and on PostgreSQL


async def test_claim_order_priority_then_age(engine: Engine, clock) -> None:
    agent = await engine.agents.create("w", "dev_agent")
    ids = {}
    for name, prio in [("old-p3", "P3"), ("old-p2", "P2"), ("new-p2", "P2")]:
        t, _ = await engine.tasks.create(TaskSpec(type="bugfix", priority=prio))
        ids[name] = t.id
        clock.advance(1)
    t, _ = await engine.tasks.create(TaskSpec(type="bugfix", priority="P1"))
    await engine.approvals.approve(t.approval_id)
    ids["p1"] = t.id
    order = []
    for _ in range(4):
        c = await engine.tasks.claim(agent.id)
        order.append(c.id)
    assert order == [ids["p1"], ids["old-p2"], ids["new-p2"], ids["old-p3"]]
    assert await engine.tasks.claim(agent.id) is None


async def test_claim_only_own_type(engine: Engine) -> None:
    ops = await engine.agents.create("o", "ops_agent")
    await engine.tasks.create(TaskSpec(type="bugfix"))
    assert await engine.tasks.claim(ops.id) is None


async def test_claim_unknown_agent(engine: Engine) -> None:
    with pytest.raises(NotFound):
        await engine.tasks.claim("agent_ghost")


async def test_max_concurrent_tasks_respected(engine: Engine) -> None:
    agent = await engine.agents.create("w", "dev_agent", configuration={"max_concurrent_tasks": 2})
    for _ in range(3):
        await engine.tasks.create(TaskSpec(type="bugfix"))
    a = await engine.tasks.claim(agent.id)
    b = await engine.tasks.claim(agent.id)
    assert a and b
    assert await engine.tasks.claim(agent.id) is None
    await engine.tasks.complete(a.id, lease_id=a.lease_id)
    assert await engine.tasks.claim(agent.id) is not None


async def test_long_poll_claim_wakes_on_new_task(engine: Engine) -> None:
    agent = await engine.agents.create("w", "dev_agent")
    waiter = asyncio.create_task(engine.tasks.claim(agent.id, wait=5))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    t, _ = await engine.tasks.create(TaskSpec(type="bugfix"))
    claimed = await asyncio.wait_for(waiter, 1)
    assert claimed is not None and claimed.id == t.id


@pytest.mark.parametrize("wait", [0.0, 5.0])
async def test_a_cancelled_claim_hands_its_task_back(engine: Engine, wait: float) -> None:
    """A claim whose caller is cancelled mid-commit (a WebSocket closing under it) must not
    strand the task in_progress until the lease runs out."""
    agent = await engine.agents.create("w", "dev_agent")
    t, _ = await engine.tasks.create(TaskSpec(type="bugfix"))
    claim = asyncio.create_task(engine.tasks.claim(agent.id, wait=wait))
    for _ in range(3):
        await asyncio.sleep(0)  # the claim's write is on its way to the writer
    claim.cancel()
    with pytest.raises(asyncio.CancelledError):
        await claim
    again = None
    for _ in range(200):  # a hand-back may still be committing
        again = await engine.tasks.claim(agent.id)
        if again is not None:
            break
        await asyncio.sleep(0.01)
    assert again is not None and again.id == t.id
    assert again.attempts == 1  # the stranded claim did not count


async def test_long_poll_times_out(engine: Engine) -> None:
    agent = await engine.agents.create("w", "dev_agent")
    assert await engine.tasks.claim(agent.id, wait=0.1) is None


async def test_lease_expiry_requeues_then_dead_letters(engine: Engine, clock) -> None:
    a = await engine.agents.create("a", "dev_agent")
    b = await engine.agents.create("b", "dev_agent")
    t, _ = await engine.tasks.create(TaskSpec(type="bugfix", max_attempts=2))
    first = await engine.tasks.claim(a.id)
    clock.advance(engine.config.tasks.lease_seconds + 1)
    counts = await engine.run_maintenance_once()
    assert counts["requeued"] == 1
    requeued = await engine.tasks.get(t.id)
    assert requeued.status == "assigned" and requeued.attempts == 1
    # backoff: not claimable immediately
    assert await engine.tasks.claim(b.id) is None
    clock.advance(engine.config.tasks.backoff_base_seconds + 0.01)
    second = await engine.tasks.claim(b.id)
    assert second is not None and second.attempts == 2
    # the first worker's completion is refused: its lease was taken away
    with pytest.raises(Conflict) as err:
        await engine.tasks.complete(t.id, {"late": True}, lease_id=first.lease_id)
    assert "no longer valid" in err.value.detail
    clock.advance(engine.config.tasks.lease_seconds + 1)
    counts = await engine.run_maintenance_once()
    assert counts["dead_lettered"] == 1
    dead = await engine.tasks.get(t.id)
    assert dead.status == "failed" and "dead-lettered" in dead.error
    agent_a = await engine.agents.get(a.id)
    assert agent_a.running == 0


async def test_heartbeat_and_progress_extend_lease(engine: Engine, clock) -> None:
    agent = await engine.agents.create("a", "dev_agent")
    await engine.tasks.create(TaskSpec(type="bugfix"))
    task = await engine.tasks.claim(agent.id)
    lease = engine.config.tasks.lease_seconds
    for _ in range(3):
        clock.advance(lease * 0.6)
        await engine.agents.heartbeat(agent.id)
        await engine.run_maintenance_once()
    assert (await engine.tasks.get(task.id)).status == "in_progress"
    clock.advance(lease * 0.6)
    await engine.tasks.progress(task.id, 50, lease_id=task.lease_id)
    clock.advance(lease * 0.6)
    await engine.run_maintenance_once()
    assert (await engine.tasks.get(task.id)).status == "in_progress"


async def test_fail_with_retry_requeues_until_max(engine: Engine, clock) -> None:
    agent = await engine.agents.create("a", "dev_agent")
    t, _ = await engine.tasks.create(TaskSpec(type="bugfix", max_attempts=2))
    c1 = await engine.tasks.claim(agent.id)
    r = await engine.tasks.fail(t.id, "flaky", lease_id=c1.lease_id, retry=True)
    assert r.status == "assigned"
    clock.advance(5)
    c2 = await engine.tasks.claim(agent.id)
    final = await engine.tasks.fail(t.id, "flaky again", lease_id=c2.lease_id, retry=True)
    assert final.status == "failed" and final.error == "flaky again"
    got = await engine.agents.get(agent.id)
    assert got.tasks_failed == 1 and got.running == 0


async def test_release_hands_task_back(engine: Engine) -> None:
    a = await engine.agents.create("a", "dev_agent")
    b = await engine.agents.create("b", "dev_agent")
    await engine.tasks.create(TaskSpec(type="bugfix"))
    c = await engine.tasks.claim(a.id)
    released = await engine.tasks.release(c.id, c.lease_id)
    assert released.status == "assigned"
    again = await engine.tasks.claim(b.id)
    assert again.id == c.id and again.attempts == 1


async def test_agent_metrics_from_outcomes(engine: Engine, clock) -> None:
    agent = await engine.agents.create("a", "dev_agent")
    for i in range(4):
        await engine.tasks.create(TaskSpec(type="bugfix"))
        c = await engine.tasks.claim(agent.id)
        clock.advance(0.2)
        if i < 3:
            await engine.tasks.complete(c.id, {"i": i}, lease_id=c.lease_id)
        else:
            await engine.tasks.fail(c.id, "no", lease_id=c.lease_id)
    got = await engine.agents.get(agent.id)
    assert got.tasks_completed == 3 and got.tasks_failed == 1
    assert got.success_rate == 75.0
    assert got.avg_response_time == pytest.approx(200.0, abs=1)


async def test_many_workers_never_double_claim(engine: Engine) -> None:
    agents = [await engine.agents.create(f"w{i}", "dev_agent") for i in range(8)]
    for _ in range(200):
        await engine.tasks.create(TaskSpec(type="bugfix"))
    claimed: list[str] = []

    async def work(agent_id: str) -> None:
        while True:
            t = await engine.tasks.claim(agent_id)
            if t is None:
                return
            claimed.append(t.id)
            await engine.tasks.complete(t.id, None, lease_id=t.lease_id)

    await asyncio.gather(*(work(a.id) for a in agents))
    assert len(claimed) == 200 and len(set(claimed)) == 200


async def test_complete_and_claim_is_one_commit_for_a_full_agent(engine: Engine) -> None:
    """A slot's completion and its next claim in one write op: the completion frees the
    agent's only slot before the claim looks, and both land in one commit."""
    from switchboard.engine.actors import Actor

    worker = Actor("agent-a", "agent", "jwt")
    await engine.agents.register("a1", "dev_agent", agent_id="a1", actor=worker,
                                 configuration={"max_concurrent_tasks": 1})
    first, _ = await engine.tasks.create(TaskSpec(type="bugfix"))
    second, _ = await engine.tasks.create(TaskSpec(type="bugfix"))
    held = await engine.tasks.claim("a1", actor=worker)
    assert held is not None and held.id == first.id
    assert await engine.tasks.claim("a1", actor=worker) is None  # full
    commits = engine.store.commits
    done, task = await engine.tasks.complete_and_claim(
        held.id, {"ok": 1}, lease_id=held.lease_id, agent_id="a1", actor=worker)
    assert engine.store.commits == commits + 1
    assert done.status == "completed" and done.result == {"ok": 1}
    assert task is not None and task.id == second.id and task.claimed_by == "a1"
    agent = await engine.agents.get("a1")
    assert agent.running == 1 and agent.tasks_completed == 1


async def test_complete_and_claim_refuses_both_on_a_lost_lease_or_a_foreign_agent(
        engine: Engine) -> None:
    """The completion keeps its lease check and the claim its ownership check: either
    refusal leaves everything as it was (no task claimed behind a refused report)."""
    from switchboard.engine.actors import Actor
    from switchboard.engine.errors import Forbidden

    a, b = Actor("agent-a", "agent", "jwt"), Actor("agent-b", "agent", "jwt")
    await engine.agents.register("a1", "dev_agent", agent_id="a1", actor=a)
    await engine.agents.register("b1", "dev_agent", agent_id="b1", actor=b)
    for _ in range(2):
        await engine.tasks.create(TaskSpec(type="bugfix"))
    held = await engine.tasks.claim("a1", actor=a)
    assert held is not None
    with pytest.raises(Conflict):
        await engine.tasks.complete_and_claim(held.id, None, lease_id="stale",
                                              agent_id="a1", actor=a)
    with pytest.raises(Forbidden):  # a's lease, but claiming as b's agent
        await engine.tasks.complete_and_claim(held.id, None, lease_id=held.lease_id,
                                              agent_id="b1", actor=a)
    task = await engine.tasks.get(held.id)
    assert task.status == "in_progress" and task.lease_id == held.lease_id
    queued, total = await engine.tasks.list(TaskQuery(status="assigned"))
    assert total == 1
