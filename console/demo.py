"""A simulated fleet for ``switchboard up --demo``: agents, a stream of tasks, a gate waiting.

In-process agents of the three default types (dev_agent, ops_agent, faq_agent, a few
instances each) register, heartbeat, claim tasks through ``engine.tasks.claim(wait=...)``,
report progress and logs, and complete or occasionally fail after realistic delays. A task
generator creates seed 003's task types with mixed priorities, so P0/P1 approvals keep
arriving. One agent (``ops-2``) goes silent for a while and comes back, so the agents screen
shows health degrading and recovering. If the orchestration runner is present, a run of the
example research orchestration is started so a human gate waits in the inbox.

Everything random comes from one ``random.Random(seed)``: the same seed gives the same
sequence of task types, priorities, payloads, durations and outcomes (timing still follows
the event loop). ``start()``/``stop()`` own the asyncio tasks; nothing outlives ``stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from typing import Any

from engine.errors import EngineError
from engine.tasks import Actor, TaskSpec

log = logging.getLogger("switchboard.demo")

FLEET: tuple[tuple[str, str, int], ...] = (
    # (agent type, name prefix, instances)
    ("dev_agent", "dev", 3),
    ("ops_agent", "ops", 2),
    ("faq_agent", "faq", 2),
)
SILENT_AGENT = "demo-ops-2"

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
    seed: int = 7
    task_interval: tuple[float, float] = (1.0, 3.0)  # seconds between generated tasks
    step_latency: tuple[float, float] = (0.4, 2.0)  # seconds per simulated work step
    failure_rate: float = 0.08
    heartbeat_interval: float = 5.0
    silent_after: float = 20.0  # the silent agent stops heartbeating after this...
    silent_for: float = 320.0  # ...for this long (degraded -> unhealthy -> offline), then recovers
    slots_per_agent: int = 2
    initial_tasks: int = 14
    start_run: bool = True


class DemoFleet:
    """Start with ``await fleet.start()``; ``await fleet.stop()`` cancels and waits."""

    def __init__(self, engine: Any, *, seed: int | None = None,
                 settings: DemoSettings | None = None) -> None:
        self.engine = engine
        self.settings = settings or DemoSettings()
        if seed is not None:
            self.settings.seed = seed
        # one generator per actor, so the task stream (types, priorities, payloads) is the same
        # for a seed whatever order the event loop runs the workers in
        self.rng = random.Random(self.settings.seed)
        self.actor = Actor("demo", "admin")
        self.agent_ids: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: dict[str, str] = {}  # task id -> lease id
        self._silent = asyncio.Event()
        self._awake = asyncio.Event()
        self._awake.set()
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        engine = self.engine
        for agent_type, prefix, count in FLEET:
            for n in range(1, count + 1):
                agent_id = f"demo-{prefix}-{n}"
                await engine.agents.register(
                    f"{prefix}-{n}", agent_type, agent_id=agent_id,
                    configuration={"max_concurrent_tasks": self.settings.slots_per_agent})
                await engine.agents.heartbeat(agent_id, cpu_usage=self._cpu(self.rng),
                                              memory_usage=self._memory(self.rng))
                self.agent_ids.append(agent_id)
                self._spawn(self._heartbeat(agent_id), f"heartbeat {agent_id}")
                for slot in range(self.settings.slots_per_agent):
                    rng = random.Random(f"{self.settings.seed}:{agent_id}:{slot}")
                    self._spawn(self._work(agent_id, agent_type, rng), f"work {agent_id}")
        for _ in range(self.settings.initial_tasks):
            await self._create_task()
        self._spawn(self._generate(), "task generator")
        self._spawn(self._silence(), "silent agent")
        if self.settings.start_run:
            self._spawn(self._start_run(), "demo run")
        log.info("demo fleet started: %d agents", len(self.agent_ids))

    async def stop(self) -> None:
        self._stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        for task_id, lease_id in list(self._held.items()):
            with contextlib.suppress(Exception):
                await self.engine.tasks.release(task_id, lease_id)
        self._held.clear()
        log.info("demo fleet stopped")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=f"demo: {name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and not self._stopping:
            log.error("demo task %s failed", task.get_name(), exc_info=task.exception())

    # -- behaviour --------------------------------------------------------------------------
    @staticmethod
    def _cpu(rng: random.Random) -> float:
        return round(rng.uniform(5, 70), 1)

    @staticmethod
    def _memory(rng: random.Random) -> float:
        return round(rng.uniform(20, 65), 1)

    async def _heartbeat(self, agent_id: str) -> None:
        rng = random.Random(f"{self.settings.seed}:{agent_id}:heartbeat")
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval)
            if agent_id == SILENT_AGENT and self._silent.is_set():
                continue
            try:
                await self.engine.agents.heartbeat(agent_id, cpu_usage=self._cpu(rng),
                                                   memory_usage=self._memory(rng))
            except EngineError as exc:
                log.warning("heartbeat of %s refused: %s", agent_id, exc.detail)

    async def _silence(self) -> None:
        """ops-2 goes quiet (and stops working), then comes back; repeatedly."""
        while True:
            await asyncio.sleep(self.settings.silent_after)
            self._silent.set()
            self._awake.clear()
            log.info("demo: %s goes silent", SILENT_AGENT)
            await asyncio.sleep(self.settings.silent_for)
            self._silent.clear()
            self._awake.set()
            log.info("demo: %s is back", SILENT_AGENT)

    def _pick(self, weights: dict[str, int]) -> str:
        names = list(weights)
        return self.rng.choices(names, weights=[weights[n] for n in names])[0]

    async def _create_task(self) -> None:
        task_type = self._pick(TYPE_WEIGHTS)
        prio = self._pick(PRIORITY_WEIGHTS)
        payload = dict(self.rng.choice(TASK_KINDS[task_type]))
        sla = self.rng.choice([None, 900.0, 3600.0, 14_400.0]) if prio != "P3" else None
        spec = TaskSpec(type=task_type, priority=prio, payload=payload,
                        source=SOURCES[task_type], sla_target=sla,
                        metadata={"trace_id": f"demo-{self.rng.getrandbits(32):08x}"})
        try:
            await self.engine.tasks.create(spec, self.actor)
        except EngineError as exc:
            log.warning("demo task refused: %s", exc.detail)

    async def _generate(self) -> None:
        low, high = self.settings.task_interval
        while True:
            await asyncio.sleep(self.rng.uniform(low, high))
            await self._create_task()

    async def _work(self, agent_id: str, agent_type: str, rng: random.Random) -> None:
        tasks = self.engine.tasks
        low, high = self.settings.step_latency
        while True:
            if agent_id == SILENT_AGENT:
                await self._awake.wait()
            try:
                task = await tasks.claim(agent_id, wait=2.0)
            except EngineError as exc:
                log.warning("claim by %s refused: %s", agent_id, exc.detail)
                await asyncio.sleep(2.0)
                continue
            if task is None or task.lease_id is None:
                continue
            lease = task.lease_id
            self._held[task.id] = lease
            try:
                await self._perform(rng, agent_id, agent_type, task.id, lease, low, high)
            except EngineError as exc:  # lease lost (e.g. while silent), cancelled task...
                log.info("demo %s gave up %s: %s", agent_id, task.id, exc.detail)
            finally:
                self._held.pop(task.id, None)

    async def _perform(self, rng: random.Random, agent_id: str, agent_type: str, task_id: str,
                       lease: str, low: float, high: float) -> None:
        tasks = self.engine.tasks
        steps = STEP_MESSAGES[agent_type]
        count = rng.randint(2, len(steps))
        will_fail = rng.random() < self.settings.failure_rate
        fail_at = rng.randint(1, count) if will_fail else None
        for index in range(1, count + 1):
            await asyncio.sleep(rng.uniform(low, high))
            if agent_id == SILENT_AGENT:
                await self._awake.wait()  # a hung worker: its lease will run out
            if fail_at == index:
                error = rng.choice(FAILURES[agent_type])
                await tasks.add_log(task_id, "error", error)
                await tasks.fail(task_id, error, lease_id=lease, retry=rng.random() < 0.5)
                return
            progress = int(100 * index / (count + 1))
            await tasks.progress(task_id, progress, lease_id=lease, message=steps[index - 1])
            if rng.random() < 0.25:
                await tasks.add_log(task_id, "debug", f"{agent_id}: step {index} of {count} ok")
        await tasks.complete(task_id, {"summary": f"{steps[count - 1]} done",
                                       "agent": agent_id}, lease_id=lease)

    async def _start_run(self) -> None:
        runs = getattr(self.engine, "runs", None)
        if runs is None:
            return
        await asyncio.sleep(1.0)
        registry = getattr(self.engine, "orchestrations", None)
        orchestration = registry.get("orch-research-report") if registry is not None else None
        if orchestration is None:
            log.info("demo run not started: orch-research-report is not loaded")
            return
        try:
            await runs.start(orchestration, "Synapse AI platform", actor=self.actor)
        except Exception as exc:  # the runner is optional and new
            log.info("demo run not started: %s", exc)
