"""The demo's crashing agent over a real server with its maintenance loop: demo-ops-2 dies
without a word (``Worker.kill()``), goes offline, its tasks come back when their leases run
out and are finished by the other agent; then it restarts healthy under the same id."""

from __future__ import annotations

import asyncio
from typing import Any

from switchboard.server.demo_fleet import CRASHING_AGENT, DemoFleet, DemoSettings
from switchboard.server.sdk.client import AsyncClient
from tests.server.conftest import SECRET


async def test_crashed_agent_goes_offline_its_tasks_rerun_and_it_comes_back(
        server_factory: Any) -> None:
    server = await server_factory(
        agents={"heartbeat_interval_seconds": 0.1, "degraded_after_seconds": 0.3,
                "unhealthy_after_seconds": 0.6, "offline_after_seconds": 1.0},
        # leases of 2 s: the survivor renews its own on every 0.1 s heartbeat, so only a 2 s
        # stall of this process could expire one (with 1 s, a loaded machine did: the
        # survivor lost a lease too, seen under xdist); the crashed agent's run out by 2 s
        # after the crash, well before it restarts (4 s down) and would hand them back
        tasks={"lease_seconds": 2.0, "maintenance_interval_seconds": 0.1,
               "backoff_base_seconds": 0.0})
    settings = DemoSettings(seed=2, fleet=(("ops_agent", "ops", 2),), initial_tasks=0,
                            task_interval=(3600.0, 3600.0), step_latency=(0.3, 0.5),
                            failure_rate=0.0, heartbeat_interval=0.1, crash_after=0.8,
                            down_for=4.0, start_run=False)
    fleet = DemoFleet(server.url, SECRET, settings=settings)
    async with AsyncClient(server.url, jwt_secret=SECRET, subject="t", role="admin") as client:
        ids = [(await client.tasks.create("deployment", {"n": n})).id for n in range(12)]
        await fleet.start()
        try:
            healths: list[str] = []
            for _ in range(60):  # the crash at 0.8 s, offline 1 s later
                await asyncio.sleep(0.1)
                healths.append((await client.agents.get(CRASHING_AGENT)).health.status)
                if healths[-1] == "offline":
                    break
            assert healths[-1] == "offline", healths
            assert "degraded" in healths or "unhealthy" in healths
            for _ in range(100):  # restarted after 4 s down
                await asyncio.sleep(0.1)
                back = await client.agents.get(CRASHING_AGENT)
                if back.health.status == "healthy" and back.status == "active":
                    break
            assert back.health.status == "healthy" and back.status == "active"
            finals = await asyncio.gather(*(client.tasks.wait(i, timeout=30) for i in ids))
        finally:
            await fleet.stop()
        requeued = list(await client.events.list(types="task.requeued", limit=100))
    assert all(t.status == "completed" for t in finals)
    lost = [e for e in requeued if "lease expired" in str(e.payload.get("reason"))]
    assert lost and all(CRASHING_AGENT in str(e.payload["reason"]) for e in lost)
    rerun = {t.id: t for t in finals}
    assert all(rerun[e.task_id].attempts >= 2 for e in lost)  # finished on a later attempt
