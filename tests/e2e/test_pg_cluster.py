"""A cluster of three real ``switchboard serve`` replicas on one PostgreSQL database (issue
16), one of them SIGKILLed mid-way and restarted.

The workload: 2,000 tasks created round-robin on the replicas (with idempotency keys, so a
create whose answer was lost is sent again to another replica), claimed and completed by
workers spread across the replicas, and 50 runs with two human gates each answered on any
replica; one SSE client per replica reads every event from seq 0 and, when its replica
dies, resumes on another with ``Last-Event-ID``. Replica ``b`` is SIGKILLed once half the
tasks exist and restarted a second later.

What must hold afterwards, read from the database itself:

- every acknowledged task exists and is completed; no task completed twice (a worker may
  claim a task twice when a claim's answer was lost, the documented at-least-once, but a
  stale lease cannot complete it);
- every run completed, each of its gates answered once (one ``gate.answer`` audit row per
  gate, ``run.resumed`` for g1 then g2);
- every SSE client saw every committed event, once, in seq order.

On a loaded machine (CI runs the slow tests side by side on two cores) the run takes longer;
the waits end when the goal is reached or nothing moved for 20 s, never on a fixed clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests import pg
from tests.engine.test_separation import GATES
from tests.server.serveproc import ServeProcess

pytestmark = pytest.mark.slow
TASKS = 2000
RUNS = 50
WORKERS = 9
KEYS = {"starter": "starter-key-0123456789abcdef", "answerer": "answerer-key-0123456789abcd"}
ENV = {f"ORCHESTRATOR_API_KEY_{name.upper()}": f"{key}:agent" for name, key in KEYS.items()}
STARTER = {"X-API-Key": KEYS["starter"]}
ANSWERER = {"X-API-Key": KEYS["answerer"]}
NET_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)


@dataclass
class Cluster:
    """The replicas by name (``urls`` holds the live ones) and what clients were told."""

    root: Path
    config: str
    defs: Path
    procs: dict[str, ServeProcess] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    acknowledged: set[str] = field(default_factory=set)
    completions: Counter[str] = field(default_factory=Counter)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    restarts: int = 0

    async def start(self, name: str) -> None:
        folder = self.root / f"{name}{self.restarts}"
        proc = ServeProcess(folder, config=self.config, env=ENV, orchestrations=self.defs,
                            drain=True, sync_wait=5.0)
        await asyncio.to_thread(proc.__enter__)
        self.procs[name], self.urls[name] = proc, proc.url + "/api/v1"

    def url(self, home: str) -> str:
        """``home``'s API if it is up, else another live replica's."""
        if home in self.urls:
            return self.urls[home]
        return random.choice(list(self.urls.values()))

    async def kill(self, name: str) -> None:
        proc = self.procs[name]
        del self.urls[name]
        assert proc.proc is not None
        proc.proc.kill()  # SIGKILL: no shutdown; its connections and advisory locks drop
        await asyncio.to_thread(proc.proc.wait)
        proc.__exit__()


async def call(http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str],
               body: Any = None) -> tuple[int, Any]:
    async with http.request(method, url, json=body, headers=headers,
                            timeout=aiohttp.ClientTimeout(total=15)) as r:
        return r.status, (await r.json() if r.content_type == "application/json" else None)


async def create_tasks(cluster: Cluster, http: aiohttp.ClientSession,
                       half_done: asyncio.Event) -> None:
    names = itertools.cycle(["a", "b", "c"])
    pending = iter(range(TASKS))

    async def one(n: int) -> None:
        while True:
            try:
                status, body = await call(http, "POST", f"{cluster.url(next(names))}/tasks",
                                          STARTER, {"type": "bugfix", "payload": {"n": n},
                                                    "idempotency_key": f"cluster-{n}"})
            except NET_ERRORS:
                await asyncio.sleep(0.05)  # not acknowledged: send it again, elsewhere
                continue
            assert status in (200, 201), body
            cluster.acknowledged.add(body["task_id"])
            if len(cluster.acknowledged) >= TASKS // 2:
                half_done.set()
            return

    async def lane() -> None:
        for n in pending:
            await one(n)

    await asyncio.gather(*(lane() for _ in range(12)))


async def work(cluster: Cluster, http: aiohttp.ClientSession, home: str, agent_id: str) -> None:
    """Claim and complete until told to stop; through ``home`` while it is up."""
    while not cluster.stop.is_set():
        try:
            status, claimed = await call(http, "POST", f"{cluster.url(home)}/tasks/claim",
                                         STARTER, {"agent_id": agent_id, "wait": 0.5})
        except NET_ERRORS:  # a lost claim answer: the lease expires, the task comes back
            await asyncio.sleep(0.05)
            continue
        if status != 200:
            assert status == 204, claimed
            continue
        task_id, lease = claimed["task_id"], claimed["lease_id"]
        while True:
            try:
                status, body = await call(
                    http, "POST", f"{cluster.url(home)}/tasks/{task_id}/complete", STARTER,
                    {"lease_id": lease, "result": {"by": agent_id}})
            except NET_ERRORS:
                await asyncio.sleep(0.05)  # maybe committed: a repeat then hears 409
                continue
            if status == 200:
                cluster.completions[task_id] += 1
            else:
                assert status == 409, body  # the lease ran out and another holds the task
            break


async def drive_run(cluster: Cluster, http: aiohttp.ClientSession, run_id: str,
                    home: str) -> None:
    """Answer the run's open gate until it completes, through any replica."""
    answered: set[str] = set()
    while True:
        await asyncio.sleep(random.uniform(0.05, 0.4))  # spread the answers over the test
        try:
            status, run = await call(http, "GET",
                                     f"{cluster.url(home)}/orchestrations/runs/{run_id}",
                                     ANSWERER)
            assert status == 200, run
            if run["status"] == "completed":
                return
            assert run["status"] in ("paused", "running"), run
            gate = run.get("approval_id")
            if run["status"] != "paused" or not gate or gate in answered:
                continue
            status, body = await call(
                http, "POST", f"{cluster.url(home)}/orchestrations/runs/{run_id}/resume",
                ANSWERER, {"response": f"{run['current_step_id']} of {run_id}",
                           "approval_id": gate})
        except NET_ERRORS:
            continue  # not acknowledged: read the run again and answer what is open
        assert status in (200, 409), body  # 409: an earlier, unacknowledged answer won
        answered.add(gate)


async def follow(cluster: Cluster, http: aiohttp.ClientSession, home: str,
                 seen: list[int]) -> None:
    """Read every event as an SSE client of ``home``; after a drop, resume on a live
    replica with ``Last-Event-ID``."""
    while True:
        headers = {**ANSWERER, **({"Last-Event-ID": str(seen[-1])} if seen else {})}
        try:
            async with http.get(f"{cluster.url(home)}/events/stream", headers=headers,
                                timeout=aiohttp.ClientTimeout(total=None,
                                                              sock_read=10)) as r:
                assert r.status == 200
                async for raw in r.content:
                    line = raw.decode().rstrip("\r\n")
                    if line.startswith("id:"):
                        seen.append(int(line[3:].strip()))
                    elif line.startswith("event: subscription.dropped"):
                        seen.pop()  # its id is the resume point, not an event
                        break
        except NET_ERRORS:
            pass
        await asyncio.sleep(0.05)


async def until_stalled(progress: Any, goal: int, stall: float = 20.0) -> None:
    """Wait until ``await progress()`` reaches ``goal``, however long that takes on a
    loaded machine, but no longer than ``stall`` seconds without it moving (stuck)."""
    best, moved = -1, time.monotonic()
    while True:
        now = await progress()
        if now >= goal:
            return
        if now > best:
            best, moved = now, time.monotonic()
        elif time.monotonic() - moved > stall:
            return  # the assertions below say what is missing
        await asyncio.sleep(0.3)


async def database(url: str) -> dict[str, Any]:
    base, schema = url.split("?schema=")
    conn = await asyncpg.connect(base, server_settings={"search_path": schema})
    try:
        return {
            "tasks": dict(await conn.fetch("SELECT id, status FROM tasks")),
            "events": [r[0] for r in await conn.fetch("SELECT seq FROM events ORDER BY seq")],
            "completed": Counter(r[0] for r in await conn.fetch(
                "SELECT task_id FROM events WHERE event_type = 'task.completed'")),
            "runs": dict(await conn.fetch("SELECT run_id, status FROM runs")),
            "resumed": [(r[0], r[1]) for r in await conn.fetch(
                "SELECT run_id, payload FROM events WHERE event_type = 'run.resumed' "
                "ORDER BY seq")],
            "answers": Counter(r[0] for r in await conn.fetch(
                "SELECT object_id FROM audit_log WHERE action = 'gate.answer'")),
            "agents": [tuple(r) for r in await conn.fetch(
                "SELECT id, running, status FROM agents")],
            "gates": [tuple(r) for r in await conn.fetch(
                "SELECT run_id, approval_id, status FROM approvals WHERE run_id IS NOT NULL")],
        }
    finally:
        await conn.close()


async def test_three_replicas_one_killed_and_restarted_lose_nothing(tmp_path: Path) -> None:
    url = pg.server().schema_url()
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "gates.toml").write_text(GATES)
    config = (f'[storage]\nurl = "{url}"\n'
              "[tasks]\nlease_seconds = 3.0\nmaintenance_interval_seconds = 0.2\n"
              "[logging]\nlevel = \"WARNING\"\n")
    cluster = Cluster(tmp_path, config, defs)
    started = time.monotonic()
    background: list[asyncio.Task[Any]] = []
    seen: dict[str, list[int]] = {name: [] for name in "abc"}
    try:
        await asyncio.gather(*(cluster.start(name) for name in "abc"))
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=connector) as http:
            for name in "abc":
                background.append(asyncio.create_task(follow(cluster, http, name, seen[name])))
            runs = []
            for n in range(RUNS):
                status, run = await call(http, "POST",
                                         f"{cluster.url('abc'[n % 3])}/orchestrations/gates/run",
                                         STARTER, {"message": f"run {n}"})
                assert status == 200, run
                runs.append(run["run_id"])
            agents = []
            for n in range(WORKERS):
                status, agent = await call(http, "POST", f"{cluster.url('abc'[n % 3])}/agents/"
                                           "register", STARTER, {"name": f"w{n}",
                                                                 "type": "dev_agent"})
                assert status == 200, agent
                agents.append(agent["data"]["id"])
            for n, agent_id in enumerate(agents):
                background.append(asyncio.create_task(
                    work(cluster, http, "abc"[n % 3], agent_id)))
            half_done = asyncio.Event()
            creating = asyncio.create_task(create_tasks(cluster, http, half_done))
            driving = asyncio.gather(*(drive_run(cluster, http, run_id, "abc"[n % 3])
                                       for n, run_id in enumerate(runs)))
            await half_done.wait()
            await cluster.kill("b")
            killed_at = time.monotonic() - started
            await asyncio.sleep(1.0)
            cluster.restarts += 1
            await cluster.start("b")
            await creating
            await asyncio.wait_for(driving, 180)

            async def tasks_done() -> int:
                nonlocal facts
                facts = await database(url)
                return sum(facts["tasks"].get(t) == "completed" for t in cluster.acknowledged)

            facts: dict[str, Any] = {}
            await until_stalled(tasks_done, TASKS)
            cluster.stop.set()
            last = max(facts["events"])

            async def streamed() -> int:
                return min(len(s) for s in seen.values()) if min(
                    (s[-1] if s else 0) for s in seen.values()) < last else len(facts["events"])

            await until_stalled(streamed, len(facts["events"]))
            facts = await database(url)
    finally:
        cluster.stop.set()
        for job in background:
            job.cancel()
        for job in background:
            with contextlib.suppress(BaseException):
                await job
        for proc in cluster.procs.values():
            proc.__exit__()
        await pg.server().drop_schema(url)

    # no acknowledged write lost, none completed twice
    assert len(cluster.acknowledged) == TASKS
    unfinished = {t: facts["tasks"].get(t) for t in cluster.acknowledged
                  if facts["tasks"].get(t) != "completed"}
    assert not unfinished, (
        f"{len(unfinished)} acknowledged tasks not completed after "
        f"{time.monotonic() - started:.0f} s (b killed at {killed_at:.1f} s): "
        f"{Counter(unfinished.values())}; agents {facts['agents']}; "
        f"completions seen {sum(cluster.completions.values())}")
    assert len(facts["tasks"]) == TASKS  # the idempotency keys made resends one task
    assert set(facts["completed"].values()) == {1}
    assert set(cluster.completions.values()) == {1}
    # every run finished, each gate applied once
    assert set(facts["runs"].values()) == {"completed"} and len(facts["runs"]) == RUNS
    steps: dict[str, list[str]] = {}
    for run_id, payload in facts["resumed"]:
        steps.setdefault(run_id, []).append(json.loads(payload)["step_id"])
    assert steps == {run_id: ["g1", "g2"] for run_id in runs}
    gates = [approval for _, approval, _ in facts["gates"]]
    assert len(gates) == 2 * RUNS
    assert {facts["answers"][g] for g in gates} == {1}
    # every SSE client saw every event, once, in seq order
    for name, got in seen.items():
        first = next((i for i, (x, y) in enumerate(zip(got, facts["events"], strict=False))
                      if x != y), min(len(got), len(facts["events"])))
        assert got == facts["events"], (
            f"the SSE client of {name}: {len(got)} events, {len(facts['events'])} committed; "
            f"first difference at index {first}: {got[first - 2:first + 3]} vs "
            f"{facts['events'][first - 2:first + 3]}")
    elapsed = time.monotonic() - started
    print(f"cluster: {TASKS} tasks, {RUNS} runs, b killed at {killed_at:.1f} s, "
          f"{len(facts['events'])} events, {elapsed:.1f} s")
