"""Worker processes against a real server: a 20-worker fleet, SIGKILL, graceful SIGTERM."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from switchboard.server.sdk.client import AsyncClient
from tests.e2e.conftest import LiveServer, wait_until
from tests.server.conftest import SECRET

TYPES = {"dev_agent": "bugfix", "ops_agent": "deployment", "faq_agent": "faq_update"}


def client_for(server: LiveServer) -> AsyncClient:
    return AsyncClient(server.url, jwt_secret=SECRET, subject="e2e-driver", role="admin",
                       connection_limit=64)


async def create_many(client: AsyncClient, specs: list[tuple[str, dict[str, Any]]],
                      parallel: int = 32) -> list[str]:
    ids: list[str | None] = [None] * len(specs)
    queue = list(enumerate(specs))

    async def creator() -> None:
        while queue:
            index, (task_type, payload) = queue.pop()
            ids[index] = (await client.tasks.create(task_type, payload)).id

    await asyncio.gather(*(creator() for _ in range(parallel)))
    return [i for i in ids if i is not None]


async def completed_count(server: LiveServer) -> int:
    rows = await server.query("SELECT COUNT(*) FROM tasks WHERE status = 'completed'")
    return int(rows[0][0])


async def test_fleet_of_20_workers_processes_2000_tasks_once_each(server_factory: Any,
                                                                 spawn_workers: Any) -> None:
    server = await server_factory()
    fleet = await asyncio.gather(spawn_workers(server.url, "dev_agent:7"),
                                 spawn_workers(server.url, "ops_agent:7"),
                                 spawn_workers(server.url, "faq_agent:6"))
    assert sum(len(p.agent_ids) for p in fleet) == 20
    specs = [(list(TYPES.values())[n % 3], {"n": n}) for n in range(2000)]
    async with client_for(server) as client:
        ids = await create_many(client, specs)
        assert len(set(ids)) == 2000
        await wait_until(lambda: _done(server, 2000), timeout=60, interval=0.2)
        agents = {a.id: a.type for a in await client.agents.list(limit=100)}
    codes = [await p.terminate() for p in fleet]
    assert codes == [0, 0, 0]

    # the server: every task completed exactly once, on its first attempt, by its type
    rows = await server.query("SELECT id, status, attempts, claimed_by, type FROM tasks")
    assert len(rows) == 2000 and {r[1] for r in rows} == {"completed"}
    assert {r[2] for r in rows} == {1}
    routing = {v: k for k, v in TYPES.items()}
    assert all(agents[r[3]] == routing[r[4]] for r in rows)
    per_task = await server.query("SELECT task_id, COUNT(*) FROM events"
                                  " WHERE event_type = 'task.completed' GROUP BY task_id")
    assert len(per_task) == 2000 and {n for _, n in per_task} == {1}
    # the workers: each acknowledged completion reported once, none lost
    reports = [r for p in fleet for r in p.reports()]
    assert Counter(r["outcome"] for r in reports) == {"completed": 2000}
    assert sorted(r["task"] for r in reports) == sorted(ids)
    stats = [s for p in fleet for s in p.stats]
    assert sum(s["completed"] for s in stats) == 2000
    assert sum(s["lease_lost"] for s in stats) == 0
    assert sum(1 for s in stats if s["completed"]) >= 15  # the work was spread out
    assert sum(s["ws_claims"] for s in stats) > 0


async def _done(server: LiveServer, target: int) -> bool:
    return await completed_count(server) >= target


async def test_sigkilled_worker_task_is_rerun_after_the_lease(server_factory: Any,
                                                             spawn_workers: Any,
                                                             tmp_path: Path) -> None:
    server = await server_factory(
        tasks={"lease_seconds": 1.5, "maintenance_interval_seconds": 0.1,
               "backoff_base_seconds": 0.1},
        agents={"heartbeat_interval_seconds": 0.3})
    markers = tmp_path / "markers"
    markers.mkdir()
    doomed = await spawn_workers(server.url, "dev_agent:1", concurrency=1, marker_dir=markers)
    async with client_for(server) as client:
        task = await client.tasks.create("bugfix", {"marker": True, "first_attempt_sleep": 60,
                                                    "sleep": 0.1})
        await wait_until(lambda: any(markers.iterdir()), timeout=15)
        doomed.kill()
        assert await doomed.proc.wait() == -9
        held = await client.tasks.get(task.id)
        assert held.status == "in_progress" and held.claimed_by == doomed.agent_ids[0]
        rescuer = await spawn_workers(server.url, "dev_agent:1", concurrency=1)
        final = await asyncio.wait_for(client.tasks.wait(task.id), 20)
        events = await client.events.list(0, task_id=task.id, limit=100)
    assert final.status == "completed" and final.attempts == 2
    assert final.claimed_by == rescuer.agent_ids[0] != doomed.agent_ids[0]
    assert final.result["agent"] == rescuer.agent_ids[0]
    requeued = [e for e in events if e.event_type == "task.requeued"]
    assert len(requeued) == 1 and "lease expired" in requeued[0].payload["reason"]
    assert [e.event_type for e in events].count("task.completed") == 1
    assert await rescuer.terminate() == 0
    assert [r["task"] for r in rescuer.reports()] == [task.id]
    assert doomed.reports() == []


async def test_sigterm_finishes_short_work_and_hands_back_long_work(server_factory: Any,
                                                                   spawn_workers: Any,
                                                                   tmp_path: Path) -> None:
    server = await server_factory()
    markers = tmp_path / "markers"
    markers.mkdir()
    worker = await spawn_workers(server.url, "ops_agent:1", concurrency=2, grace=1.0,
                                 marker_dir=markers)
    async with client_for(server) as client:
        short = await client.tasks.create("deployment", {"marker": True, "sleep": 0.6})
        long = await client.tasks.create("monitoring", {"marker": True, "sleep": 60})
        await wait_until(lambda: len(list(markers.iterdir())) == 2, timeout=15)
        started = asyncio.get_running_loop().time()
        assert await worker.terminate() == 0
        assert asyncio.get_running_loop().time() - started < 8
        finished = await client.tasks.get(short.id)
        handed_back = await client.tasks.get(long.id)
        agent = await client.agents.get(worker.agent_ids[0])
        events = await client.events.list(0, task_id=long.id, types="task.requeued")
    assert finished.status == "completed"
    assert handed_back.status == "assigned" and handed_back.attempts == 0
    assert [e.payload["reason"] for e in events] == ["handed back by its worker"]
    assert worker.stats[0]["released"] == 1 and worker.stats[0]["completed"] == 1
    assert agent.status == "inactive"


async def test_lease_kept_alive_through_long_silent_work(server_factory: Any) -> None:
    """Work three times longer than the lease, with no progress reports and heartbeats
    too rare to help: the worker's lease keeper extends the lease, nothing is requeued."""
    from switchboard.server.sdk.client import Task
    from switchboard.server.sdk.worker import TaskContext, Worker

    # a 2 s lease, extended every third of it: a stall of this process shorter than 1.3 s
    # cannot lose it (with 1 s, 0.7 s would: a loaded machine under xdist stalls that long)
    server = await server_factory(tasks={"lease_seconds": 2.0, "maintenance_interval_seconds": 0.1},
                                  agents={"heartbeat_interval_seconds": 30})

    async def silent(task: Task, ctx: TaskContext) -> str:
        await asyncio.sleep(6.0)
        return "still mine"

    async with client_for(server) as client:
        worker = Worker("dev_agent", silent, client=client, claim_wait=1)
        job = asyncio.create_task(worker.run())
        await worker.wait_started()
        task = await client.tasks.create("bugfix")
        final = await client.tasks.wait(task.id, timeout=15)
        worker.request_stop()
        await job
        requeued = await client.events.list(0, task_id=task.id, types="task.requeued")
    assert final.status == "completed" and final.result == "still mine"
    assert final.attempts == 1 and list(requeued) == [] and worker.stats.lease_lost == 0
