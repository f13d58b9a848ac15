"""The ``--demo`` fleet: real Workers against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from switchboard.engine.audit import AuditQuery
from switchboard.server.demo_fleet import DemoFleet, DemoSettings
from switchboard.server.sdk.client import AsyncClient
from tests.server.conftest import SECRET, start_live_api

pytestmark = pytest.mark.slow  # a real fleet of workers on a real server, for seconds

FAST = dict(task_interval=(0.05, 0.1), step_latency=(0.01, 0.03), heartbeat_interval=0.2,
            crash_after=3600.0, start_run=False)


async def test_fleet_registers_works_and_stops_gracefully(tmp_path: Path) -> None:
    api, runner = await start_live_api(tmp_path)
    fleet = DemoFleet(api.base, SECRET, settings=DemoSettings(seed=3, initial_tasks=6, **FAST))
    try:
        await fleet.start()
        async with AsyncClient(api.base, jwt_secret=SECRET, subject="t", role="admin") as c:
            for _ in range(200):
                await asyncio.sleep(0.05)
                queue = (await c.stats()).queue.by_status
                if queue["completed"] >= 8:
                    break
            assert queue["completed"] >= 8
            await fleet.stop()
            agents = list(await c.agents.list(limit=100))
            tasks = [t async for t in c.tasks.iterate()]
        assert sorted(a.id for a in agents) == sorted(
            ["demo-dev-1", "demo-dev-2", "demo-dev-3", "demo-ops-1", "demo-ops-2",
             "demo-faq-1", "demo-faq-2"])
        assert {a.type for a in agents} == {"dev_agent", "ops_agent", "faq_agent"}
        assert all(a.status == "inactive" for a in agents)  # each said goodbye
        assert all(a.metrics.cpu_usage is not None for a in agents)
        completed = [t for t in tasks if t.status == "completed"]
        assert all(t.result["summary"].endswith(" done") for t in completed)
        assert {t.result["agent"] for t in completed} <= {a.id for a in agents}
        assert not [t for t in tasks if t.status == "in_progress"]  # handed back
        assert sum(s["completed"] for s in fleet.stats().values()) == len(completed)
        assert not fleet._jobs
        # each worker acted only as its own agent (issue 9): the ids belong to the fleet's
        # principals and nothing needed an override
        owners = {a.id: a.owner for a in await api.engine.agents.all()}
        assert owners == {a.id: "demo-ops-2" if a.id == "demo-ops-2" else "demo-fleet"
                          for a in agents}
        overrides = await api.engine.audit.list(AuditQuery(action="agent.override"))
        overrides += await api.engine.audit.list(AuditQuery(action="task.override"))
        assert overrides == []
    finally:
        await fleet.stop()
        await runner.cleanup()
        await api.engine.stop()


async def test_a_seed_gives_the_same_task_stream(tmp_path: Path) -> None:
    async def first_tasks(folder: Path) -> list[tuple[str, str, object]]:
        api, runner = await start_live_api(folder)
        settings = DemoSettings(seed=11, initial_tasks=8, slots_per_agent=1, **FAST)
        fleet = DemoFleet(api.base, SECRET, settings=settings)
        try:
            await fleet.start()
        finally:
            await fleet.stop()
            await runner.cleanup()
            await api.engine.stop()
        return [(t.type, t.priority, t.payload) for t in fleet.created[:8]]

    one = await first_tasks(tmp_path / "a")
    two = await first_tasks(tmp_path / "b")
    assert one == two and len(one) == 8
    assert len({kind for kind, _, _ in one}) > 1


async def test_the_research_run_waits_at_its_gate(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    api, runner = await start_live_api(
        tmp_path, orchestrations={"dir": str(root / "examples" / "orchestrations")})
    settings = DemoSettings(seed=5, initial_tasks=0, **{**FAST, "start_run": True})
    fleet = DemoFleet(api.base, SECRET, settings=settings)
    try:
        await fleet.start()
        async with AsyncClient(api.base, jwt_secret=SECRET, subject="t", role="admin") as c:
            runs = []
            for _ in range(100):
                await asyncio.sleep(0.1)
                runs = list(await c.runs.list(orchestration_id="orch-research-report"))
                if runs and runs[0].status == "paused":
                    break
        assert runs and runs[0].status == "paused"
    finally:
        await fleet.stop()
        await runner.cleanup()
        await api.engine.stop()
