"""The simulated fleet behind ``--demo``: dev, ops and FAQ agents doing believable work.

Every part of it is an ordinary API client, so the demo shows exactly what a live
deployment shows and exercises the same paths:

- seven ``Worker``s (three dev_agent, two ops_agent, two faq_agent) register, heartbeat,
  claim over the WebSocket, report progress and log lines, and complete or sometimes fail;
- a task generator (an admin client, like a team's CI or ticket integration) creates seed
  003's task types with mixed priorities, so P0/P1 approvals keep arriving;
- ``demo-ops-2`` crashes after a while (``Worker.kill()``: no goodbye, leases left to run
  out) and is restarted by its "supervisor" minutes later, so the agents screen shows health
  going degraded -> unhealthy -> offline and back, and its task is re-run by another agent;
- a run of the example research orchestration starts, so a human gate waits in the inbox.

Credentials are JWTs minted from the server's secret (seed 003's scheme): the workers as
role ``agent``, the generator as ``admin``. The workers share one principal
(``demo-fleet``), which therefore owns their agent ids; the crashing agent has its own
(``demo-ops-2``) and comes back with it, so each worker only ever acts as its own agent and
on the tasks it claimed (issue 9's ownership rules). The random choices (task types, priorities,
payloads, step counts, outcomes) come from ``random.Random(seed)`` streams: one for the
generator and one per agent, so a seed gives the same task stream whatever the timing.

Used by ``switchboard up --demo`` / ``serve --demo`` against their own loopback API, and by
``examples/workers/demo_fleet.py`` against any server.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any

from switchboard.server.contract import Task
from switchboard.server.sdk.client.client import AsyncClient
from switchboard.server.sdk.client.errors import NotFound, SwitchboardError
from switchboard.server.sdk.worker import Handler, TaskContext, TaskFailed, Worker

log = logging.getLogger("switchboard.demo")

FLEET: tuple[tuple[str, str, int], ...] = (
    # (agent type, name prefix, instances)
    ("dev_agent", "dev", 3),
    ("ops_agent", "ops", 2),
    ("faq_agent", "faq", 2),
)
CRASHING_AGENT = "demo-ops-2"
DEMO_ORCHESTRATION = "orch-research-report"
CREATED_KEPT = 1000

TASK_KINDS: dict[str, list[dict[str, Any]]] = {
    "bugfix": [
        {"issue": "#1432", "description": "Login redirect loops for SSO users", "repo": "web"},
        {"issue": "#1450", "description": "CSV export drops the last row", "repo": "reports"},
        {"issue": "#1467", "description": "Timezone shown as UTC on invoices", "repo": "billing"},
    ],
    "feature": [
        {"ticket": "PRD-88", "description": "Dark mode for the dashboard", "repo": "web"},
        {"ticket": "PRD-93", "description": "Webhook retries with backoff", "repo": "api"},
    ],
    "refactor": [{"module": "payments/ledger.py", "goal": "split the 900-line module"}],
    "deployment": [
        {"service": "api", "version": "2.14.0", "environment": "production"},
        {"service": "web", "version": "5.3.1", "environment": "staging"},
    ],
    "monitoring": [{"service": "checkout", "alert": "p99 latency > 800 ms"}],
    "incident": [
        {"incident": "INC-311", "summary": "Checkout error rate 4%", "severity": "sev2"},
        {"incident": "INC-318", "summary": "Queue backlog growing in eu-west", "severity": "sev3"},
    ],
    "faq_update": [{"article": "refund-policy", "reason": "new 30-day window"}],
    "documentation": [{"page": "api/webhooks", "reason": "document retry headers"}],
    "knowledge_sync": [{"source": "confluence", "space": "SUPPORT"}],
}
TYPE_WEIGHTS = {"bugfix": 18, "feature": 10, "refactor": 5, "deployment": 10, "monitoring": 8,
                "incident": 6, "faq_update": 10, "documentation": 8, "knowledge_sync": 6}
PRIORITY_WEIGHTS = {"P0": 2, "P1": 6, "P2": 58, "P3": 34}
SOURCES = {"bugfix": "github", "feature": "linear", "refactor": "github", "deployment": "ci",
           "monitoring": "prometheus", "incident": "pagerduty", "faq_update": "zendesk",
           "documentation": "github", "knowledge_sync": "scheduler"}
STEP_MESSAGES = {
    "dev_agent": ["reading the issue", "reproducing locally", "writing a fix", "running tests",
                  "opening a pull request"],
    "ops_agent": ["checking current state", "planning rollout", "applying change",
                  "watching health checks", "confirming metrics"],
    "faq_agent": ["collecting sources", "drafting text", "checking links", "publishing"],
}
FAILURES = {
    "dev_agent": ["tests failed: 3 of 412", "merge conflict in src/auth/session.py"],
    "ops_agent": ["health check timed out after 120 s", "rollout halted: error budget burned"],
    "faq_agent": ["source page returned 404", "review rejected by style checker"],
}


@dataclass
class DemoSettings:
    """How busy and how eventful the demo is. Tests shrink the times."""

    seed: int = 7
    fleet: tuple[tuple[str, str, int], ...] = FLEET
    task_interval: tuple[float, float] = (1.0, 3.0)  # seconds between generated tasks
    step_latency: tuple[float, float] = (0.4, 2.0)  # seconds per simulated work step
    failure_rate: float = 0.08
    heartbeat_interval: float = 5.0
    slots_per_agent: int = 2
    initial_tasks: int = 14
    crash_after: float = 20.0  # demo-ops-2 crashes this long after start...
    down_for: float = 320.0  # ...stays down this long (degraded -> offline), then restarts
    start_run: bool = True


def make_handler(agent_type: str, settings: DemoSettings, rng: random.Random) -> Handler:
    """A handler that works through ``agent_type``'s steps, sometimes failing at one."""

    async def handle(task: Task, ctx: TaskContext) -> dict[str, Any]:
        steps = STEP_MESSAGES[agent_type]
        count = rng.randint(2, len(steps))
        fail_at = rng.randint(1, count) if rng.random() < settings.failure_rate else None
        low, high = settings.step_latency
        for index in range(1, count + 1):
            await asyncio.sleep(rng.uniform(low, high))
            if fail_at == index:
                error = rng.choice(FAILURES[agent_type])
                await ctx.log(error, "error")
                raise TaskFailed(error, retry=rng.random() < 0.5)
            await ctx.progress(int(100 * index / (count + 1)), steps[index - 1])
            if rng.random() < 0.25:
                await ctx.log(f"{ctx.agent_id}: step {index} of {count} ok", "debug")
        return {"summary": f"{steps[count - 1]} done", "agent": ctx.agent_id}

    return handle


def _usage(rng: random.Random) -> Any:
    """Believable, varying cpu/memory figures (the fleet shares one real process)."""
    return lambda: (round(rng.uniform(5, 70), 1), round(rng.uniform(20, 65), 1))


class DemoFleet:
    """``await fleet.start()`` registers the agents and seeds the queue; ``stop()`` ends all.

    ``base_url`` is the API root (``http://HOST:PORT`` or ``.../api/v1``); ``jwt_secret`` is
    the server's secret, from which each part mints its own short-lived tokens.
    """

    def __init__(self, base_url: str, jwt_secret: str, *,
                 settings: DemoSettings | None = None, seed: int | None = None) -> None:
        self.base_url = base_url
        self.settings = settings or DemoSettings()
        if seed is not None:
            self.settings.seed = seed
        self._secret = jwt_secret
        self.rng = random.Random(self.settings.seed)  # the task generator's stream
        self.admin = AsyncClient(base_url, jwt_secret=jwt_secret, subject="demo-integrations",
                                 role="admin")
        self.agents_client = AsyncClient(base_url, jwt_secret=jwt_secret, subject="demo-fleet",
                                         role="agent")
        self.workers: dict[str, Worker] = {}
        self.agent_ids: list[str] = []
        self.created: list[Task] = []  # the first CREATED_KEPT tasks it made (a demo runs for days)
        self._jobs: dict[str, asyncio.Task[Any]] = {}
        self._crash_client: AsyncClient | None = None
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        for agent_type, prefix, count in self.settings.fleet:
            for n in range(1, count + 1):
                agent_id = f"demo-{prefix}-{n}"
                self.agent_ids.append(agent_id)
                self._start_worker(agent_id, agent_type, f"{prefix}-{n}")
        await asyncio.gather(*(w.wait_started() for w in self.workers.values()))
        for _ in range(self.settings.initial_tasks):
            await self._create_task()
        self._spawn(self._generate(), "demo: task generator")
        if CRASHING_AGENT in self.workers:
            self._spawn(self._crash_and_restart(), "demo: crashing agent")
        if self.settings.start_run:
            self._spawn(self._start_run(), "demo: research run")
        log.info("demo fleet started: %d agents", len(self.workers))

    async def stop(self) -> None:
        """Stop generating, let workers hand their tasks back, close the clients."""
        self._stopping = True
        for name, job in list(self._jobs.items()):
            if not name.startswith("worker "):
                job.cancel()
        for worker in self.workers.values():
            worker.request_stop(hand_back_now=True)
        await asyncio.gather(*self._jobs.values(), return_exceptions=True)
        self._jobs.clear()
        for client in (self.admin, self.agents_client, self._crash_client):
            if client is not None:
                await client.close()
        log.info("demo fleet stopped")

    def stats(self) -> dict[str, dict[str, int]]:
        return {agent_id: w.stats.as_dict() for agent_id, w in self.workers.items()}

    def _start_worker(self, agent_id: str, agent_type: str, name: str) -> Worker:
        rng = random.Random(f"{self.settings.seed}:{agent_id}")
        client = self.agents_client
        if agent_id == CRASHING_AGENT:  # its own connection, so its crash closes only that
            self._crash_client = AsyncClient(self.base_url, jwt_secret=self._secret,
                                             subject=agent_id, role="agent")
            client = self._crash_client
        worker = Worker(agent_type, make_handler(agent_type, self.settings, rng),
                        concurrency=self.settings.slots_per_agent, agent_id=agent_id,
                        name=name, client=client, claim_wait=2.0,
                        shutdown_grace=2.0, heartbeat_interval=self.settings.heartbeat_interval,
                        usage=_usage(random.Random(f"{self.settings.seed}:{agent_id}:usage")))
        self.workers[agent_id] = worker
        self._spawn(worker.run(), f"worker {agent_id}")
        return worker

    def _spawn(self, coro: Any, name: str) -> None:
        job = asyncio.create_task(coro, name=name)
        self._jobs[name] = job
        job.add_done_callback(self._done)

    def _done(self, job: asyncio.Task[Any]) -> None:
        if self._jobs.get(job.get_name()) is job:
            del self._jobs[job.get_name()]
        if not job.cancelled() and job.exception() is not None and not self._stopping:
            log.error("%s failed", job.get_name(), exc_info=job.exception())

    # -- behaviour --------------------------------------------------------------------------
    def _pick(self, weights: dict[str, int]) -> str:
        names = list(weights)
        return self.rng.choices(names, weights=[weights[n] for n in names])[0]

    async def _create_task(self) -> None:
        task_type = self._pick(TYPE_WEIGHTS)
        priority = self._pick(PRIORITY_WEIGHTS)
        payload = dict(self.rng.choice(TASK_KINDS[task_type]))
        sla = self.rng.choice([None, 900.0, 3600.0, 14_400.0]) if priority != "P3" else None
        trace_id = f"demo-{self.rng.getrandbits(32):08x}"
        try:
            task = await self.admin.tasks.create(task_type, payload, priority=priority,
                                                 source=SOURCES[task_type], sla_target=sla,
                                                 trace_id=trace_id)
            if len(self.created) < CREATED_KEPT:
                self.created.append(task)
        except SwitchboardError as exc:
            log.warning("demo task refused: %s", exc)

    async def _generate(self) -> None:
        low, high = self.settings.task_interval
        while True:
            await asyncio.sleep(self.rng.uniform(low, high))
            await self._create_task()

    async def _crash_and_restart(self) -> None:
        """demo-ops-2 dies without a word, then its supervisor starts it again; repeatedly."""
        while True:
            await asyncio.sleep(self.settings.crash_after)
            worker = self.workers[CRASHING_AGENT]
            job = self._jobs.get(f"worker {CRASHING_AGENT}")
            log.info("demo: %s crashes (holding %d task(s))", CRASHING_AGENT,
                     len(worker.running_tasks))
            worker.kill()
            if job is not None:
                await asyncio.gather(job, return_exceptions=True)
            if self._crash_client is not None:
                await self._crash_client.close()
            await asyncio.sleep(self.settings.down_for)
            log.info("demo: %s restarts", CRASHING_AGENT)
            self._start_worker(CRASHING_AGENT, worker.agent_type, worker.name)

    async def _start_run(self) -> None:
        await asyncio.sleep(1.0)
        try:
            run = await self.admin.orchestrations.run(DEMO_ORCHESTRATION, "Synapse AI platform",
                                                      wait=5.0)
            log.info("demo run %s started (%s)", run.run_id, run.status)
        except NotFound:
            log.info("demo run not started: %s is not loaded", DEMO_ORCHESTRATION)
        except SwitchboardError as exc:
            log.info("demo run not started: %s", exc)

