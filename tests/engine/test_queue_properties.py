"""Property test of the queue: any interleaving of enqueue / claim / heartbeat / complete /
fail / lease expiry / restart never gives two live leases for one task, never loses a task,
and never exceeds max_attempts."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from switchboard.engine.clock import ManualClock
from switchboard.engine.engine import Engine
from switchboard.engine.errors import Conflict
from switchboard.engine.models import TERMINAL_TASK_STATUSES
from switchboard.engine.tasks import TaskQuery, TaskSpec
from tests import pg
from tests.conftest import make_config

WORKERS = 3
MAX_ATTEMPTS = 3


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="sbq-"))
        self.clock = ManualClock()
        self.config = make_config(self.dir, tasks={"max_attempts": MAX_ATTEMPTS,
                                                   "lease_seconds": 30.0,
                                                   "backoff_base_seconds": 0.5})
        self.engine = self._start()
        self.agents = [self.run(self.engine.agents.create(f"w{i}", "dev_agent",
                                                          agent_id=f"agent_w{i}")).id
                       for i in range(WORKERS)]
        self.created: set[str] = set()
        self.finished: set[str] = set()
        # leases each worker believes it holds: task_id -> lease_id
        self.held: dict[str, dict[str, str]] = {a: {} for a in self.agents}

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def _start(self) -> Engine:
        engine = Engine(self.config, clock=self.clock, run_maintenance=False)
        self.run(engine.start())
        return engine

    def teardown(self) -> None:
        self.run(self.engine.stop())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(priority=st.sampled_from(["P2", "P3"]))
    def enqueue(self, priority: str) -> None:
        task, _ = self.run(self.engine.tasks.create(TaskSpec(type="bugfix", priority=priority)))
        self.created.add(task.id)

    @rule(worker=st.integers(0, WORKERS - 1))
    def claim(self, worker: int) -> None:
        agent = self.agents[worker]
        task = self.run(self.engine.tasks.claim(agent))
        if task is not None:
            for other in self.held.values():  # nobody else may still think it holds it validly
                other.pop(task.id, None)
            self.held[agent][task.id] = task.lease_id
            assert task.attempts <= MAX_ATTEMPTS

    @rule(worker=st.integers(0, WORKERS - 1))
    def heartbeat(self, worker: int) -> None:
        self.run(self.engine.agents.heartbeat(self.agents[worker]))

    @precondition(lambda self: any(self.held.values()))
    @rule(worker=st.integers(0, WORKERS - 1), ok=st.booleans(), retry=st.booleans())
    def finish(self, worker: int, ok: bool, retry: bool) -> None:
        agent = self.agents[worker]
        if not self.held[agent]:
            return
        task_id, lease = next(iter(self.held[agent].items()))
        try:
            if ok:
                self.run(self.engine.tasks.complete(task_id, {"by": agent}, lease_id=lease))
            else:
                self.run(self.engine.tasks.fail(task_id, "x", lease_id=lease, retry=retry))
        except Conflict:
            # refused only because the lease really was taken away
            task = self.run(self.engine.tasks.get(task_id))
            assert task.lease_id != lease or task.status != "in_progress"
        del self.held[agent][task_id]

    @rule(seconds=st.sampled_from([1.0, 10.0, 31.0, 61.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.run(self.engine.run_maintenance_once())

    @rule()
    def restart(self) -> None:
        self.run(self.engine.stop())
        self.engine = self._start()

    @invariant()
    def nothing_lost_no_double_lease(self) -> None:
        tasks, total = self.run(self.engine.tasks.list(TaskQuery(limit=100)))
        assert total == len(self.created)
        assert {t.id for t in tasks} == self.created
        running = {a.id: a.running for a in self.run(self.engine.agents.all())}
        held_count = {a: 0 for a in self.agents}
        for task in tasks:
            assert task.attempts <= task.max_attempts
            if task.status == "in_progress":
                assert task.claimed_by is not None and task.lease_id is not None
                held_count[task.claimed_by] += 1
            else:
                assert task.lease_id is None or task.status not in TERMINAL_TASK_STATUSES
            if task.status in TERMINAL_TASK_STATUSES:
                self.finished.add(task.id)
        assert running == held_count  # load bookkeeping matches the leases really held


QueueMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=30,
                                          deadline=None)
TestQueueProperties = pytest.mark.slow(QueueMachine.TestCase)  # 25 runs x 30 steps


class PostgresQueueMachine(QueueMachine):
    """The same machine with the engine on PostgreSQL (issue 16): a fresh schema per run."""

    def __init__(self) -> None:
        self.store_url = pg.server().schema_url()
        super().__init__()

    def _start(self) -> Engine:
        self.config.storage.url = self.store_url
        return super()._start()

    def teardown(self) -> None:
        super().teardown()
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(pg.server().drop_schema(self.store_url))
        finally:
            loop.close()


PostgresQueueMachine.TestCase.settings = settings(max_examples=15, stateful_step_count=30,
                                                  deadline=None)
TestQueuePropertiesPostgres = pytest.mark.slow(PostgresQueueMachine.TestCase)
