"""Import hygiene, the demo fleet, the idle GC policy, formatting."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
from pathlib import Path

from console.demo import DemoFleet, DemoSettings
from console.formatting import age, progress_bar, short_id
from console.gcpolicy import IdleCollector
from engine.engine import Engine
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]


def test_engine_and_server_never_import_console_or_textual() -> None:
    code = (
        "import sys, engine.engine, server.app\n"
        "bad = [m for m in sys.modules if m == 'console' or m.startswith(('console.', 'textual'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_formatting() -> None:
    assert short_id("task_01jd8x2k3m7q9r5t8v1w3y") == "r5t8v1w3y"[-8:]
    assert short_id("agent-dev-1") == "agent-dev-1"
    assert [age(s) for s in (5, 90, 7200, 200_000)] == ["5s", "1m", "2h", "2d"]
    assert progress_bar(40) == "▰▰▱▱▱  40%"


def test_idle_collector_waits_for_a_quiet_operator() -> None:
    last_key = [0.0]
    collector = IdleCollector(lambda: last_key[0], every=0.0, quiet=3600.0, force_after=3600.0)
    saved = gc.get_threshold()
    collector.start()
    try:
        assert gc.get_threshold()[2] == 1_000_000
        import time

        last_key[0] = time.monotonic()
        assert not collector.tick()  # a key was just pressed
        collector.quiet = 0.0
        assert collector.tick()
    finally:
        collector.stop()
    assert gc.get_threshold() == saved


async def test_demo_fleet_moves_work_and_stops_cleanly(tmp_path: Path) -> None:
    engine = Engine(make_config(tmp_path, storage={"synchronous": "OFF"}),
                    run_maintenance=False)
    await engine.start()
    settings = DemoSettings(seed=3, task_interval=(0.05, 0.1), step_latency=(0.01, 0.03),
                            heartbeat_interval=0.2, initial_tasks=6, start_run=False)
    fleet = DemoFleet(engine, settings=settings)
    try:
        await fleet.start()
        for _ in range(100):
            await asyncio.sleep(0.05)
            queue = await engine.stats.queue()
            if queue["by_status"]["completed"] >= 5:
                break
        assert queue["by_status"]["completed"] >= 5
        agents = await engine.agents.all()
        assert {a.type for a in agents} == {"dev_agent", "ops_agent", "faq_agent"}
        assert len(agents) == 7
    finally:
        await fleet.stop()
        await engine.stop()
    assert not fleet._tasks


async def test_demo_task_stream_is_deterministic(tmp_path: Path) -> None:
    async def first_tasks(folder: Path) -> list[tuple[str, str]]:
        engine = Engine(make_config(folder, storage={"synchronous": "OFF"}),
                        run_maintenance=False)
        await engine.start()
        fleet = DemoFleet(engine, settings=DemoSettings(seed=11, initial_tasks=8,
                                                        start_run=False, slots_per_agent=1))
        try:
            await fleet.start()
        finally:
            await fleet.stop()
        events = await engine.bus.history(0, limit=None)
        await engine.stop()
        return [(e.payload["type"], e.payload["priority"]) for e in events
                if e.event_type == "task.created"][:8]

    one = await first_tasks(tmp_path / "a")
    two = await first_tasks(tmp_path / "b")
    assert one == two and len(one) == 8
