"""Child process for the crash test: acknowledges changes on stdout until it is killed.

Each line is printed only after the engine acknowledged (committed) the change:
``T <task_id>`` created, ``A <approval_id>`` approved, ``L <task_id>`` leased to a worker.
"""

from __future__ import annotations

import asyncio
import sys

from switchboard.engine.actors import Actor
from switchboard.engine.config import load_config
from switchboard.engine.engine import Engine
from switchboard.engine.tasks import TaskSpec


async def main(data_dir: str) -> None:
    config = load_config(overrides={"storage": {"data_dir": data_dir}}, env={})
    engine = Engine(config)
    await engine.start()
    agent = await engine.agents.register("crash-worker", "dev_agent", agent_id="agent_crash",
                                         configuration={"max_concurrent_tasks": 10_000})
    out = sys.stdout
    print("READY", flush=True)

    async def producer(n: int) -> None:
        i = 0
        while True:
            i += 1
            priority = "P1" if i % 5 == 0 else "P2"
            task, _ = await engine.tasks.create(TaskSpec(type="bugfix", priority=priority,
                                                         payload={"n": n, "i": i}))
            out.write(f"T {task.id}\n")
            if task.approval_id:
                await engine.approvals.approve(task.approval_id, Actor("crash", "admin"))
                out.write(f"A {task.approval_id}\n")
            if i % 3 == 0:
                claimed = await engine.tasks.claim(agent.id)
                if claimed is not None:
                    out.write(f"L {claimed.id}\n")
            out.flush()

    await asyncio.gather(*(producer(n) for n in range(50)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
