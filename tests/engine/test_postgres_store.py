"""The PostgreSQL store on a real server (issue 16): migrations and the version check,
group commit, claims across replicas, events in seq order on every replica, one leader.

Each test gets a fresh schema in this run's database (``tests.pg``); two stores on one
URL are two replicas."""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.engine.clock import ManualClock
from switchboard.engine.engine import Engine
from switchboard.engine.errors import NotFound, StartupError
from switchboard.engine.events import EventFilter
from switchboard.engine.models import Event
from switchboard.engine.store.migrations import MIGRATIONS
from switchboard.engine.store.postgres import PostgresStore
from switchboard.engine.store.queries import Many, Q
from switchboard.engine.tasks import TaskSpec
from tests import pg
from tests.conftest import make_config


@pytest.fixture
async def url() -> AsyncIterator[str]:
    address = pg.server().schema_url()
    try:
        yield address
    finally:
        await pg.server().drop_schema(address)


async def test_migrations_once_and_a_newer_schema_refused(url: str) -> None:
    store = PostgresStore(url)
    await store.open()
    assert await store.schema_version() == len(MIGRATIONS)
    assert await store.integrity_check() == "ok"
    await store.close()
    again = PostgresStore(url)  # a second start applies nothing
    await again.open()
    rows = await again.read(lambda c: c.fetchall("SELECT version FROM schema_version"))
    assert [r[0] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
    await again.write(lambda tx: tx.execute("INSERT INTO schema_version VALUES ($1)",
                                            len(MIGRATIONS) + 3))
    await again.close()
    with pytest.raises(StartupError, match=f"schema version {len(MIGRATIONS) + 3}, newer"):
        await PostgresStore(url).open()


async def test_replicas_starting_together_migrate_once(url: str) -> None:
    stores = [PostgresStore(url) for _ in range(3)]
    await asyncio.gather(*(s.open() for s in stores))
    rows = await stores[0].read(lambda c: c.fetchall("SELECT version FROM schema_version"))
    assert len(rows) == len(MIGRATIONS)
    for store in stores:
        await store.close()


async def test_unreachable_server_is_one_line() -> None:
    with pytest.raises(StartupError, match=re.escape("cannot connect to PostgreSQL at "
                                                     "postgresql://nobody@127.0.0.1:1/x")):
        await PostgresStore("postgresql://nobody:secret@127.0.0.1:1/x").open()


async def test_group_commit_and_op_isolation(url: str) -> None:
    store = PostgresStore(url)
    await store.open()

    def insert(i: int):
        def op(tx):
            tx.execute("INSERT INTO counters (name, value) VALUES ($1, $2)", f"c{i}", i)
            if i % 10 == 3:
                raise ValueError("this one fails alone")
            return i
        return op

    results = await asyncio.gather(*(store.write(insert(i)) for i in range(200)),
                                   return_exceptions=True)
    assert [r for r in results if not isinstance(r, ValueError)] == [
        i for i in range(200) if i % 10 != 3]
    assert store.commits < 50  # ops shared commits
    count = await store.read(lambda c: c.fetchone("SELECT COUNT(*) FROM counters"))
    assert count == (180,)

    def nested(tx):
        tx.execute("INSERT INTO counters VALUES ('kept', 1)")
        with pytest.raises(KeyError), tx.savepoint():
            tx.execute("INSERT INTO counters VALUES ('undone', 1)")
            tx.emit("undone.event")
            raise KeyError("x")
        tx.emit("kept.event")

    got: list[Event] = []
    store.set_event_sink(got.extend)
    await store.write(nested)
    names = await store.read(lambda c: c.fetchall(
        "SELECT name FROM counters WHERE name IN ('kept', 'undone')"))
    assert names == [("kept",)]
    assert [e.event_type for e in got] == ["kept.event"]
    await store.close()


def _engine(tmp: Path, url: str, clock: ManualClock, name: str) -> Engine:
    return Engine(make_config(tmp / name, storage={"url": url}), clock=clock,
                  run_maintenance=False)


async def test_two_replicas_claim_each_task_once(url: str, tmp_path: Path) -> None:
    """SKIP LOCKED under READ COMMITTED: workers on two replicas draining one queue at once
    never get the same task, and every task is handed out."""
    clock = ManualClock()
    a, b = _engine(tmp_path, url, clock, "a"), _engine(tmp_path, url, clock, "b")
    await a.start()
    await b.start()
    try:
        for i in range(6):
            await a.agents.create(f"w{i}", "dev_agent", agent_id=f"agent_w{i}",
                                  configuration={"max_concurrent_tasks": 100})
        ids = {(await a.tasks.create(TaskSpec(type="bugfix",
                                              priority=random.choice(["P2", "P3"]))))[0].id
               for _ in range(120)}
        claimed: list[str] = []

        async def drain(engine: Engine, agent: str) -> None:
            while (task := await engine.tasks.claim(agent)) is not None:
                claimed.append(task.id)

        await asyncio.gather(*(drain(a if i % 2 else b, f"agent_w{i}") for i in range(6)))
        assert len(claimed) == len(set(claimed)), "a task was handed out twice"
        assert sorted(claimed) == sorted(ids)  # each once, none left
        running = {x.id: x.running for x in await b.agents.all()}
        assert sum(running.values()) == 120
    finally:
        await a.stop()
        await b.stop()


async def test_claims_go_by_priority_then_age(url: str, tmp_path: Path) -> None:
    clock = ManualClock()
    a = _engine(tmp_path, url, clock, "a")
    async with a:
        await a.agents.create("w", "dev_agent", agent_id="agent_w",
                              configuration={"max_concurrent_tasks": 10})
        made = []
        for priority in ["P3", "P2", "P3", "P2", "P3"]:  # P0/P1 wait for approval
            clock.advance(1)
            made.append((await a.tasks.create(TaskSpec(type="bugfix", priority=priority)))[0])
        order = [(await a.tasks.claim("agent_w")).id for _ in made]
        expected = [t.id for t in sorted(made, key=lambda t: (t.priority, t.created_at))]
        assert order == expected
        plan = await a.store.read(lambda c: c.fetchall(
            "EXPLAIN SELECT id FROM tasks WHERE status = 'assigned' AND assigned_agent = 'x' "
            "AND available_at <= 1 ORDER BY priority, available_at, qseq LIMIT 1"))
        assert "tasks_ready" in " ".join(r[0] for r in plan)  # the partial index on ready rows


async def test_every_replica_sees_every_event_once_in_seq_order(url: str,
                                                                 tmp_path: Path) -> None:
    """Writers on three replicas at once; a subscriber on each sees the same events, each
    once, in seq order: the ones of its own replica and the others' alike."""
    clock = ManualClock()
    engines = [_engine(tmp_path, url, clock, n) for n in "abc"]
    for engine in engines:
        await engine.start()
    try:
        subs = [await e.bus.subscribe(after_seq=0, event_filter=EventFilter(types=("x.",)))
                for e in engines]

        async def writer(engine: Engine, n: int) -> None:
            for i in range(40):
                await engine.store.write(lambda tx, i=i: tx.emit("x.tick", {"n": n, "i": i}))
                if i % 7 == 0:
                    await asyncio.sleep(0)

        await asyncio.gather(*(writer(e, n) for n, e in enumerate(engines)))
        table = await engines[0].store.read(lambda c: c.fetchall(
            "SELECT seq FROM events WHERE event_type = 'x.tick' ORDER BY seq"))
        want = [r[0] for r in table]
        assert len(want) == 120
        for sub in subs:
            seen: list[int] = []
            while len(seen) < len(want):
                event = await sub.next(timeout=5)
                assert event is not None, f"stalled after {len(seen)} events"
                seen.append(event.seq)
            assert seen == want
    finally:
        for engine in engines:
            await engine.stop()


async def test_a_cursor_reader_never_skips_a_late_committing_lower_seq(url: str) -> None:
    """The hazard of sequences: seq 7 may commit after seq 8. Seqs are handed out in commit
    order here, so a reader paging ``seq > cursor`` while writers race sees every event."""
    writers = [PostgresStore(url) for _ in range(3)]
    for store in writers:
        await store.open()
    reader = writers[0]
    done = asyncio.Event()
    seen: list[int] = []

    async def read_forever() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            rows = await reader.read(lambda c, after=cursor: c.all(Q.event_after, {
                "types": Many(()), "words": Many(()), "after": after, "before": 2**62,
                "limit": 1000}))
            seen.extend(r[0] for r in rows)
            if rows:
                cursor = rows[-1][0]
            if finished and not rows:
                return
            await asyncio.sleep(0)

    async def write(store: PostgresStore) -> None:
        for i in range(60):
            def op(tx, i=i):
                tx.emit("race.first", {"i": i})
                tx.execute("SELECT pg_sleep($1)", random.random() / 500)  # hold it a little
                tx.emit("race.second", {"i": i})
            await store.write(op)

    reading = asyncio.create_task(read_forever())
    await asyncio.gather(*(write(s) for s in writers))
    done.set()
    await reading
    table = await reader.read(lambda c: c.fetchall("SELECT seq FROM events ORDER BY seq"))
    assert seen == [r[0] for r in table]
    for store in writers:
        await store.close()


async def test_one_leader_and_it_moves_when_its_replica_dies(url: str) -> None:
    a, b = PostgresStore(url), PostgresStore(url)
    await a.open()
    await b.open()
    try:
        assert await a.lead("maintenance")
        assert not await b.lead("maintenance")
        assert await a.lead("maintenance")  # still held
        assert await b.lead("other-job")  # roles are independent
        assert a._control is not None
        holder = a._control.get_server_pid()
        await b.read(lambda c: c.fetchone("SELECT pg_terminate_backend($1)", holder))
        for _ in range(50):
            if await b.lead("maintenance"):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the lock did not move to the surviving replica")
        assert not await a.lead("maintenance")  # a reconnects as a follower
    finally:
        await a.close()
        await b.close()


async def test_one_task_completed_on_two_replicas_at_once_completes_once(
        url: str, tmp_path: Path) -> None:
    """A write op's check-then-update reads lock the row: two replicas finishing one task
    at the same moment serialize, and the second is refused (no double completion)."""
    clock = ManualClock()
    a, b = _engine(tmp_path, url, clock, "a"), _engine(tmp_path, url, clock, "b")
    await a.start()
    await b.start()
    try:
        await a.agents.create("w", "dev_agent", agent_id="agent_w")
        for _ in range(10):
            await a.tasks.create(TaskSpec(type="bugfix", priority="P2"))
            task = await a.tasks.claim("agent_w")
            assert task is not None
            outcomes = await asyncio.gather(
                a.tasks.complete(task.id, {"by": "a"}, lease_id=task.lease_id),
                b.tasks.complete(task.id, {"by": "b"}, lease_id=task.lease_id),
                return_exceptions=True)
            assert sum(not isinstance(o, BaseException) for o in outcomes) == 1, outcomes
        agent = next(x for x in await a.agents.all() if x.id == "agent_w")
        assert agent.tasks_completed == 10 and agent.running == 0
    finally:
        await a.stop()
        await b.stop()


async def test_sla_sweeps_run_on_one_replica_only(url: str, tmp_path: Path) -> None:
    """Three replicas running maintenance on one database: each approval's reminders and its
    breach are applied once (the sweep reads due rows without locking them, so a sweep on
    two replicas at once would remind and breach twice)."""
    clock = ManualClock()
    engines = [Engine(make_config(tmp_path / name, storage={"url": url},
                                  tasks={"maintenance_interval_seconds": 0.02},
                                  approvals={"sla": {"P1": 100.0}, "reminders": [0.5],
                                             "on_timeout": "escalate"}),
                      clock=clock) for name in ("a", "b", "c")]
    for eng in engines:
        await eng.start()
    try:
        for n in range(5):
            await engines[n % 3].tasks.create(TaskSpec(type="deployment", priority="P1",
                                                       payload={"n": n}))
        for step in (60.0, 60.0):
            clock.advance(step)
            await asyncio.sleep(0.4)  # several maintenance ticks on every replica
        events = await engines[1].bus.history(0, EventFilter(types=("approval.reminder",
                                                                    "approval.overdue")),
                                              limit=None)
        kinds = Counter((e.event_type, e.task_id) for e in events)
        assert len(kinds) == 10 and set(kinds.values()) == {1}, kinds
        leaders = [int(eng.store.pool_stats()["leads_maintenance"]) for eng in engines]
        assert sum(leaders) == 1
    finally:
        for eng in engines:
            await eng.stop()


async def test_replicas_locking_rows_and_emitting_in_either_order_never_deadlock(
        url: str) -> None:
    """Batches of (emit, bump a shared counter row) on one replica and (bump, emit) on
    another, at once. Were the events lock taken at a batch's first emit, one batch would
    hold it and wait for the row while the other holds the row (from an earlier op, so
    rolling the op back does not release it) and waits for the lock: the same deadlock on
    every retry, and the batch fails. The lock is taken after every op instead, just before
    the events are inserted and committed."""
    a, b = PostgresStore(url), PostgresStore(url)
    await a.open()
    await b.open()

    def emit(tx: Any) -> None:
        tx.emit("x.event")

    def bump(tx: Any) -> None:
        tx.run(Q.metrics_note_completed, {"minute": 1, "ms": 1})

    async def lane(store: PostgresStore, first: Any, second: Any) -> None:
        for _ in range(40):  # batches of two ops, many of them: the two writers interleave
            await asyncio.gather(store.write(first), store.write(second))

    try:
        await asyncio.wait_for(asyncio.gather(lane(a, emit, bump), lane(b, bump, emit)), 30)
        row = await a.read(lambda c: c.fetchone(
            "SELECT completed FROM metrics_minute WHERE minute = 1"))
        assert row is not None and row[0] == 80
    finally:
        await a.close()
        await b.close()


async def test_a_replica_running_slow_ops_does_not_hold_up_the_others_events(url: str) -> None:
    """The events lock is held only to number, insert and commit a batch's events, not
    while its ops run: a replica whose batch emits and then works for a while (here: sleeps
    in PostgreSQL) does not stop another replica's emitting writes from committing."""
    a, b = PostgresStore(url), PostgresStore(url)
    await a.open()
    await b.open()
    try:
        def slow(tx: Any) -> Event:
            event = tx.emit("x.slow")
            tx.execute("SELECT pg_sleep(1.5)")
            return event

        slow_write = asyncio.create_task(a.write(slow))
        await asyncio.sleep(0.3)  # a's batch is running its op
        started = asyncio.get_running_loop().time()
        fast = await asyncio.wait_for(b.write(lambda tx: tx.emit("x.fast")), 5)
        assert asyncio.get_running_loop().time() - started < 0.8
        assert not slow_write.done()
        late = await slow_write
        assert (fast.seq, late.seq) == (1, 2)  # commit order
        rows = await a.read(lambda c: c.fetchall("SELECT seq, event_type FROM events "
                                                 "ORDER BY seq"))
        assert rows == [(1, "x.fast"), (2, "x.slow")]
    finally:
        await a.close()
        await b.close()


async def test_emit_hooks_and_numbered_callbacks_see_the_committed_seq(url: str) -> None:
    """Seqs are known only at the end of a batch: hooks and ``numbered`` callbacks run then,
    with the seq the event is stored under; an op rolled back leaves no seq behind."""
    store = PostgresStore(url)
    await store.open()
    hooked: list[int] = []
    store.add_emit_hook(lambda tx, event: hooked.append(event.seq))
    try:
        def op(tx: Any) -> Event:
            event = tx.emit("x.one")
            tx.numbered(lambda: tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)", 1000 + event.seq))
            return event

        def failing(tx: Any) -> None:
            tx.emit("x.undone")
            raise ValueError("no")

        results = await asyncio.gather(store.write(op), store.write(failing), store.write(op),
                                       return_exceptions=True)
        assert isinstance(results[1], ValueError)
        first, second = results[0], results[2]
        assert isinstance(first, Event) and isinstance(second, Event)
        assert (first.seq, second.seq) == (1, 2)  # gapless: the undone op drew none
        assert hooked == [1, 2]
        rows = await store.read(lambda c: c.fetchall(
            "SELECT version FROM schema_version WHERE version > 1000 ORDER BY version"))
        assert [r[0] for r in rows] == [1001, 1002]
    finally:
        await store.close()


async def test_replicas_locking_rows_and_auditing_in_either_order_never_deadlock(
        url: str) -> None:
    """The audit chain's lock is the events lock's twin: taken by an op in the middle of a
    batch, it deadlocks with another replica's row locks on every retry (the cluster test
    met it answering gates). Audit rows are appended at the batch's end instead."""
    from switchboard.engine.actors import SYSTEM
    from switchboard.engine.audit import record

    a, b = PostgresStore(url), PostgresStore(url)
    await a.open()
    await b.open()
    actor = SYSTEM

    def audit(tx: Any) -> None:
        record(tx, actor, "x.audited", "x", None)

    def bump(tx: Any) -> None:
        tx.run(Q.metrics_note_completed, {"minute": 1, "ms": 1})

    async def lane(store: PostgresStore, first: Any, second: Any) -> None:
        for _ in range(40):
            await asyncio.gather(store.write(first), store.write(second))

    try:
        await asyncio.wait_for(asyncio.gather(lane(a, audit, bump), lane(b, bump, audit)), 30)
        rows = await a.read(lambda c: c.fetchall("SELECT seq FROM audit_log ORDER BY seq"))
        assert [r[0] for r in rows] == list(range(1, 81))
    finally:
        await a.close()
        await b.close()


async def test_a_task_read_is_one_statement_with_its_logs_in_order(url: str,
                                                                    tmp_path: Path) -> None:
    """``Q.task_with_logs`` on PostgreSQL: a task's log lines in order, none, or not found."""
    clock = ManualClock()
    engine = _engine(tmp_path, url, clock, "a")
    await engine.start()
    try:
        agent = await engine.agents.create("w", "dev_agent")
        bare, _ = await engine.tasks.create(TaskSpec(type="bugfix"))
        assert (await engine.tasks.get(bare.id)).logs == []
        await engine.tasks.create(TaskSpec(type="bugfix", priority="P0"))
        claimed = await engine.tasks.claim(agent.id)
        assert claimed is not None
        for word in ("one", "two", "three"):  # same timestamp: insertion order decides
            await engine.tasks.add_log(claimed.id, "info", word)
        task = await engine.tasks.get(claimed.id)
        assert [(log.level, log.message) for log in task.logs] == [
            ("info", "one"), ("info", "two"), ("info", "three")]
        assert task.id == claimed.id and task.status == "in_progress"
        with pytest.raises(NotFound):
            await engine.tasks.get("task_nope")
    finally:
        await engine.stop()
