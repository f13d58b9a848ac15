"""The simulated fleet behind ``--demo``: dev, ops and FAQ agents doing believable work.

Built on the real ``Worker`` over the real HTTP API (nothing in-process is touched), so the
demo shows exactly what a live deployment shows: agents registering and heartbeating,
tasks claimed, progress and log lines, the odd failure and retry.

    python examples/workers/demo_fleet.py --url http://127.0.0.1:8000 --token "$TOKEN" \\
        --per-type 2 --rate 0.5          # plus a trickle of new tasks every 2 s

From code: ``fleet = DemoFleet(client, per_type=2); await fleet.start(); ...; await fleet.stop()``.
``speed`` divides every latency (tests run the fleet at 50x).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
from dataclasses import dataclass
from typing import Any

from server.client.client import AsyncClient
from server.client.models import Task
from server.worker import TaskContext, TaskFailed, Worker


@dataclass(frozen=True)
class Profile:
    """How one agent type behaves: its steps, how long they take, how often it fails."""

    agent_type: str
    steps: tuple[str, ...]
    seconds: tuple[float, float]  # total duration range
    failure_rate: float
    retryable: bool


PROFILES: dict[str, Profile] = {
    "dev_agent": Profile(
        "dev_agent",
        ("checking out the branch", "reproducing the issue", "writing the fix",
         "running the test suite", "opening a pull request"),
        (3.0, 9.0), 0.06, retryable=True),
    "ops_agent": Profile(
        "ops_agent",
        ("validating the change", "draining traffic", "rolling out", "running health checks"),
        (2.0, 6.0), 0.04, retryable=True),
    "faq_agent": Profile(
        "faq_agent",
        ("searching the knowledge base", "drafting the answer", "publishing"),
        (0.5, 2.5), 0.02, retryable=False),
}

FAILURES = {
    "dev_agent": ["test suite failed: 3 failures in tests/test_login.py",
                  "merge conflict in src/auth/session.py"],
    "ops_agent": ["health check timed out on 2 of 6 pods", "rollout paused: error rate 4.2%"],
    "faq_agent": ["knowledge base returned no source for the question"],
}

# task types the demo generator creates, per agent type (seed 003's routing table)
DEMO_TASKS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "dev_agent": [("bugfix", {"issue": "LOGIN-142", "description": "Session expires early"}),
                  ("feature", {"issue": "EXP-77", "description": "CSV export"}),
                  ("refactor", {"module": "billing", "description": "Split invoice service"})],
    "ops_agent": [("deployment", {"service": "api-backend", "version": "v1.2.3"}),
                  ("monitoring", {"service": "checkout", "check": "p99 latency"}),
                  ("incident", {"service": "search", "alert": "error rate > 2%"})],
    "faq_agent": [("faq_update", {"question": "How do I rotate my API key?"}),
                  ("documentation", {"page": "getting-started"}),
                  ("knowledge_sync", {"source": "support tickets"})],
}


def make_handler(profile: Profile, speed: float = 1.0, rng: random.Random | None = None) -> Any:
    """An async handler simulating ``profile``: timed steps with progress, sometimes a failure."""
    rand = rng or random.Random()

    async def handle(task: Task, ctx: TaskContext) -> dict[str, Any]:
        total = rand.uniform(*profile.seconds) / speed
        fail_at = (rand.randrange(len(profile.steps))
                   if rand.random() < profile.failure_rate else None)
        for index, step in enumerate(profile.steps):
            if ctx.stopping and index > 0:
                break  # shutting down: finish early with what we have
            await ctx.progress(int(100 * index / len(profile.steps)), step)
            await asyncio.sleep(total / len(profile.steps) * rand.uniform(0.6, 1.4))
            if fail_at == index:
                raise TaskFailed(rand.choice(FAILURES[profile.agent_type]),
                                 retry=profile.retryable)
        return {"agent": ctx.agent_id, "summary": f"{task.type} done: {profile.steps[-1]}",
                "duration_s": round(total, 2)}

    return handle


class DemoFleet:
    """``per_type`` workers of each demo agent type, plus an optional task generator."""

    def __init__(self, client: AsyncClient, *, per_type: int = 2, concurrency: int = 2,
                 speed: float = 1.0, task_rate: float = 0.0, seed: int | None = None,
                 agent_types: tuple[str, ...] = tuple(PROFILES)) -> None:
        self.client = client
        self.speed = speed
        self.task_rate = task_rate
        self._rng = random.Random(seed)
        self.workers = [
            Worker(agent_type, make_handler(PROFILES[agent_type], speed,
                                            random.Random(self._rng.random())),
                   concurrency=concurrency, client=client,
                   name=f"demo-{agent_type.removesuffix('_agent')}-{index + 1}",
                   claim_wait=2.0, shutdown_grace=5.0 / max(speed, 1.0))
            for agent_type in agent_types for index in range(per_type)
        ]
        self._jobs: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        self._jobs = [asyncio.create_task(w.run(), name=f"demo-{w.name}") for w in self.workers]
        await asyncio.gather(*(w.wait_started() for w in self.workers))
        if self.task_rate > 0:
            self._jobs.append(asyncio.create_task(self._generate(), name="demo-tasks"))

    async def _generate(self) -> None:
        """A trickle of realistic tasks: mostly P2/P3, now and then a P1 needing approval."""
        while True:
            agent_type = self._rng.choice(list(DEMO_TASKS))
            task_type, payload = self._rng.choice(DEMO_TASKS[agent_type])
            priority = self._rng.choices(["P1", "P2", "P3"], weights=[1, 6, 3])[0]
            with contextlib.suppress(Exception):
                await self.client.tasks.create(task_type, payload, priority=priority,
                                               source="demo")
            await asyncio.sleep(self._rng.expovariate(self.task_rate))

    async def stop(self) -> None:
        for worker in self.workers:
            worker.request_stop()
        generator = [j for j in self._jobs if j.get_name() == "demo-tasks"]
        for job in generator:
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        self._jobs = []

    def stats(self) -> dict[str, dict[str, int]]:
        return {w.name: w.stats.as_dict() for w in self.workers}


async def _main(args: argparse.Namespace) -> None:
    token = args.token or os.environ.get("SWITCHBOARD_TOKEN")
    client = (AsyncClient(args.url, token=token) if token else
              AsyncClient(args.url, jwt_secret=os.environ.get("ORCHESTRATOR_JWT_SECRET"),
                          subject="demo-fleet", role="agent"))
    fleet = DemoFleet(client, per_type=args.per_type, concurrency=args.concurrency,
                      speed=args.speed, task_rate=args.rate)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with client:
        await fleet.start()
        print(f"demo fleet: {len(fleet.workers)} workers on {client.base_url}; ctrl+c stops",
              flush=True)
        await stop.wait()
        await fleet.stop()
    print(fleet.stats())


def main() -> None:
    parser = argparse.ArgumentParser(description="Simulated dev/ops/FAQ agent workers.")
    parser.add_argument("--url", default=os.environ.get("SWITCHBOARD_URL",
                                                         "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=None, help="default: $SWITCHBOARD_TOKEN")
    parser.add_argument("--per-type", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=0.0, help="new demo tasks per second")
    args = parser.parse_args()
    if not (args.token or os.environ.get("SWITCHBOARD_TOKEN")
            or os.environ.get("ORCHESTRATOR_JWT_SECRET")):
        parser.error("pass --token or set SWITCHBOARD_TOKEN (or ORCHESTRATOR_JWT_SECRET)")
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
