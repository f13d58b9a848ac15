"""SIGKILL an engine with runs mid-step and paused; restart; every run finishes consistently."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from switchboard.engine.actors import Actor
from switchboard.engine.clock import ManualClock
from switchboard.engine.engine import Engine
from switchboard.engine.tasks import TaskQuery
from tests.conftest import make_config
from tests.engine.test_runs import PIPELINE, write_defs

ROOT = Path(__file__).resolve().parents[2]


async def test_sigkill_mid_run_and_paused_then_finish(tmp_path: Path) -> None:
    defs = write_defs(tmp_path / "defs", pipeline=PIPELINE)
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "tests.engine.run_crash_child", str(data),
                             str(defs)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, bufsize=1)
    started: list[str] = []
    done: set[str] = set()
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "READY"
        deadline = time.monotonic() + 60
        while (len(started) < 60 or len(done) < 20) and time.monotonic() < deadline:
            line = proc.stdout.readline().split()
            if len(line) == 2 and line[0] == "R":
                started.append(line[1])
            elif len(line) == 2 and line[0] == "D":
                done.add(line[1])
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(started) >= 60 and done

    clock = ManualClock(time.time())
    config = make_config(data, orchestrations={"dir": str(defs), "watch": False})
    engine = Engine(config, clock=clock, run_maintenance=False)
    await engine.start()
    try:
        assert await engine.store.integrity_check() == "ok"
        # tasks leased by the dead worker come back after their lease
        clock.advance(engine.config.tasks.lease_seconds + 60)
        await engine.run_maintenance_once()
        clock.advance(engine.config.tasks.backoff_max_seconds + 1)  # past the requeue backoff
        agent = await engine.agents.register("w2", "dev_agent", agent_id="agent_after",
                                             configuration={"max_concurrent_tasks": 1000})

        async def work() -> None:
            while True:
                task = await engine.tasks.claim(agent.id, wait=0.5)
                if task is None:
                    return
                await engine.tasks.complete(task.id, {"ok": True}, lease_id=task.lease_id)

        await work()
        for run_id in started:
            # a recovered run creates its step's task when the runner gets to it: keep
            # working until it pauses (a loaded CI machine can take seconds)
            run = await engine.runs.wait(run_id, 2)
            patience = time.monotonic() + 60
            while run.status == "running" and time.monotonic() < patience:
                await work()
                run = await engine.runs.wait(run_id, 2)
            assert run.status == "paused", (run_id, run.status, run.error)
            await engine.runs.resume(run_id, {"answer": "yes"}, Actor("ops", "admin"))
        for run_id in started:
            run = await engine.runs.wait(run_id, 10)
            assert run.status == "completed", (run_id, run.status, run.error)
            assert [s.step_id for s in run.step_history] == ["count", "work", "ask"]
            tasks, total = await engine.tasks.list(TaskQuery(run_id=run_id))
            assert total == 1 and tasks[0].status == "completed"  # side effect happened once
        for task_id in done:  # every acknowledged completion is there
            assert (await engine.tasks.get(task_id)).status == "completed"
    finally:
        await engine.stop()
