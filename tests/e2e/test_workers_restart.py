"""A server restart mid-stream (stop runner and engine, start again on the same port and
data folder) is survived by worker processes and by watchers: no task lost, no completion
reported twice, no event missed or repeated by a resuming stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

from switchboard.server.sdk.client import AsyncClient, Event, Task, TransportError
from switchboard.server.sdk.client.errors import ServerError
from tests.e2e.conftest import LiveServer, wait_until
from tests.server.conftest import SECRET

TOTAL = 240


async def create_patiently(client: AsyncClient, n: int) -> str:
    """Create task ``n``, riding out the restart; the idempotency key makes retries safe."""
    while True:
        try:
            task = await client.tasks.create("bugfix", {"n": n, "sleep": 0.05},
                                             idempotency_key=f"restart-{n}")
            return task.id
        except (TransportError, ServerError):
            await asyncio.sleep(0.1)


async def test_restart_mid_stream_survived_by_workers_and_watchers(server_factory: Any,
                                                                  spawn_workers: Any) -> None:
    server: LiveServer = await server_factory()
    fleet = [await spawn_workers(server.url, "dev_agent:2", concurrency=2) for _ in range(2)]
    client = AsyncClient(server.url, jwt_secret=SECRET, subject="watcher", role="admin")
    events: list[Event] = []
    snapshots: list[Task] = []
    ws_seqs: list[int] = []
    try:
        long = await client.tasks.create("bugfix", {"sleep": 3.0, "n": -1})

        async def follow_events() -> None:
            async for event in client.events.stream(0):
                events.append(event)

        async def follow_task() -> None:
            async for snapshot in client.tasks.watch(long.id):
                snapshots.append(snapshot)

        async def follow_ws() -> None:
            async for message in client.events.subscribe("task_events", after=0):
                ws_seqs.append(message["seq"])

        followers = [asyncio.create_task(follow_events()), asyncio.create_task(follow_ws())]
        watcher = asyncio.create_task(follow_task())
        creators = asyncio.gather(*(create_patiently(client, n) for n in range(TOTAL)))
        await wait_until(lambda: _completed(events) >= 40, timeout=20)
        before = len(events)
        await server.restart(down_for=0.7)
        ids = await asyncio.wait_for(creators, 30)
        await asyncio.wait_for(watcher, 30)
        await wait_until(lambda: _completed(events) >= TOTAL + 1, timeout=30)
        await wait_until(lambda: ws_seqs and ws_seqs[-1] >= _last_task_seq(events),
                         timeout=10)
        stored = await server.query("SELECT seq FROM events ORDER BY seq")
    finally:
        for job in followers:
            job.cancel()
        for job in followers:
            with contextlib.suppress(asyncio.CancelledError):
                await job
        await client.close()
    codes = [await p.terminate() for p in fleet]
    assert codes == [0, 0]
    assert len(set(ids)) == TOTAL and before < len(events)

    # every task completed once; the workers acknowledged each completion exactly once
    rows = await server.query("SELECT status, COUNT(*) FROM tasks GROUP BY status")
    assert dict(rows) == {"completed": TOTAL + 1}
    per_task = await server.query("SELECT task_id, COUNT(*) FROM events"
                                  " WHERE event_type = 'task.completed' GROUP BY task_id")
    assert len(per_task) == TOTAL + 1 and {n for _, n in per_task} == {1}
    reports = Counter(r["task"] for p in fleet for r in p.reports())
    assert len(reports) == TOTAL + 1 and set(reports.values()) == {1}
    stats = [s for p in fleet for s in p.stats]
    assert sum(s["completed"] for s in stats) == TOTAL + 1
    assert sum(s["lease_lost"] for s in stats) == 0

    # the SSE watcher saw every committed event exactly once, in order, across the restart
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs))
    assert seqs == [s for (s,) in stored if s <= seqs[-1]]
    # the WebSocket subscriber too (task events only), resuming after its last seq
    assert ws_seqs == sorted(set(ws_seqs))
    task_seqs = [e.seq for e in events if e.event_type.startswith("task.")]
    assert ws_seqs == [s for s in task_seqs if s <= ws_seqs[-1]]
    # the task watcher followed the long task to its end through the restart
    assert snapshots[-1].status == "completed" and snapshots[-1].result["n"] == -1
    assert any(s.status == "in_progress" for s in snapshots)


def _completed(events: list[Event]) -> int:
    return sum(1 for e in events if e.event_type == "task.completed")


def _last_task_seq(events: list[Event]) -> int:
    return max((e.seq for e in events if e.event_type.startswith("task.")), default=0)
