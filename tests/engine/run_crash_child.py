"""Child process for the run crash test: starts runs and works their tasks until killed.

Lines are printed after the engine acknowledged them: ``R <run_id>`` started,
``D <task_id>`` task completed by this process's worker.
"""

from __future__ import annotations

import asyncio
import sys

from switchboard.engine.actors import Actor
from switchboard.engine.config import load_config
from switchboard.engine.engine import Engine


async def main(data_dir: str, defs: str) -> None:
    config = load_config(overrides={"storage": {"data_dir": data_dir},
                                    "orchestrations": {"dir": defs, "watch": False}}, env={})
    engine = Engine(config)
    await engine.start()
    agent = await engine.agents.register("w", "dev_agent", agent_id="agent_crash",
                                         configuration={"max_concurrent_tasks": 1000})
    orch = engine.orchestrations.get("pipeline")
    print("READY", flush=True)

    async def starter() -> None:
        i = 0
        while True:
            i += 1
            run = await engine.runs.start(orch, f"run {i}", actor=Actor("crash", "admin"))
            print(f"R {run.run_id}", flush=True)
            await asyncio.sleep(0.005)

    async def worker() -> None:
        while True:
            task = await engine.tasks.claim(agent.id, wait=1)
            if task is None:
                continue
            await engine.tasks.complete(task.id, {"ok": True}, lease_id=task.lease_id)
            print(f"D {task.id}", flush=True)

    await asyncio.gather(starter(), worker(), worker())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
