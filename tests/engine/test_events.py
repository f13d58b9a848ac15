"""Event log: persisted before delivery, replay then live without gap or duplicate."""

from __future__ import annotations

import asyncio

import pytest

from switchboard.engine.engine import Engine
from switchboard.engine.events import DROPPED, EventFilter
from switchboard.engine.tasks import TaskSpec

pytestmark = pytest.mark.both_stores  # issue 16: on SQLite and on PostgreSQL


async def test_internal_changes_are_events_with_monotonic_seq(engine: Engine) -> None:
    await engine.tasks.create(TaskSpec(type="bugfix"))
    await engine.tasks.create(TaskSpec(type="deployment", priority="P1"))
    events = await engine.bus.history(0)
    assert [e.event_type for e in events] == [
        "task.created", "task.assigned", "task.created", "approval.requested"]
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_publish_api_fields_round_trip(engine: Engine) -> None:
    from switchboard.engine.publish import publish_event

    event = await publish_event(engine, event_type="deployment.completed",
                                source_agent="ops_agent", payload={"service": "api-backend"},
                                task_id="task_abc123", trace_id="trace_xyz789", priority="P2")
    stored = (await engine.bus.history(event.seq - 1))[0]
    assert stored.event_type == "deployment.completed"
    assert stored.payload == {"service": "api-backend"}
    assert stored.trace_id == "trace_xyz789" and stored.priority == "P2"


async def test_replay_then_live_no_gap_no_duplicate(engine: Engine) -> None:
    for _ in range(30):
        await engine.tasks.create(TaskSpec(type="bugfix"))
    produced = asyncio.Event()

    async def producer() -> None:
        for _ in range(30):
            await engine.tasks.create(TaskSpec(type="bugfix"))
        produced.set()

    job = asyncio.create_task(producer())
    sub = await engine.bus.subscribe(after_seq=5)
    await job
    got = []
    while True:
        event = await sub.next(timeout=0.5)
        if event is None:
            break
        got.append(event.seq)
    sub.close()
    last = engine.bus.last_seq
    assert got == list(range(6, last + 1))


async def test_filters(engine: Engine) -> None:
    t, _ = await engine.tasks.create(TaskSpec(type="bugfix"))
    await engine.tasks.create(TaskSpec(type="deployment", priority="P0"))
    approvals = await engine.bus.history(0, EventFilter(types=("approval.",)))
    assert [e.event_type for e in approvals] == ["approval.requested"]
    mine = await engine.bus.history(0, EventFilter(task_id=t.id))
    assert {e.task_id for e in mine} == {t.id}
    sub = await engine.bus.subscribe(None, EventFilter(types=("task.completed",)))
    await engine.tasks.create(TaskSpec(type="bugfix"))
    assert await sub.next(timeout=0.1) is None
    sub.close()


async def test_slow_subscriber_dropped_with_resume_marker(engine: Engine) -> None:
    sub = await engine.bus.subscribe(None, max_buffer=5)
    for _ in range(10):
        await engine.tasks.create(TaskSpec(type="bugfix"))
    first = await sub.next(timeout=0.1)
    assert first is not None and first.event_type == DROPPED
    assert first.payload["resume_after"] == 0
    # resuming from the marker replays everything missed
    again = await engine.bus.subscribe(after_seq=first.payload["resume_after"])
    seqs = []
    while (event := await again.next(timeout=0.1)) is not None:
        seqs.append(event.seq)
    assert len(seqs) == 20 and seqs == sorted(seqs)
    again.close()


async def test_events_survive_restart(tmp_path, clock) -> None:
    from switchboard.engine.engine import Engine as E
    from tests.conftest import make_config

    config = make_config(tmp_path)
    async with E(config, clock=clock, run_maintenance=False) as eng:
        await eng.tasks.create(TaskSpec(type="bugfix"))
        last = eng.bus.last_seq
    async with E(config, clock=clock, run_maintenance=False) as eng:
        assert eng.bus.last_seq == last
        await eng.tasks.create(TaskSpec(type="bugfix"))
        assert eng.bus.last_seq > last


async def test_a_subscriber_is_bounded_in_bytes_as_well_as_count(engine: Engine) -> None:
    """Issue 11: the buffer was bounded by count only (10,000 events whatever their size)."""
    sub = await engine.bus.subscribe(None, max_buffer=10_000, max_bytes=64 * 1024)
    big = {"blob": "x" * 20_000}
    for _ in range(4):  # 4 x ~20 KB > 64 KB, far under 10,000 events
        await engine.store.write(lambda tx: tx.emit("build.log", big))
    first = await sub.next(timeout=0.1)
    assert first is not None and first.event_type == DROPPED
    small = await engine.bus.subscribe(None, max_bytes=64 * 1024)
    await engine.tasks.create(TaskSpec(type="bugfix"))
    assert (await small.next(timeout=0.1)).event_type == "task.created"
    assert 0 < small.buffered_bytes < 64 * 1024
    small.close()


async def test_replay_is_read_a_page_at_a_time_with_no_gap_while_events_arrive(
        engine: Engine) -> None:
    """A resume from seq 0 used to load the whole history into memory at once; now a
    subscriber holds one page, and events committed during the replay are neither lost nor
    repeated at the seam."""
    engine.bus.replay_page = 50
    for _ in range(120):
        await engine.tasks.create(TaskSpec(type="bugfix"))  # 2 events each
    sub = await engine.bus.subscribe(0)
    seen: list[int] = []
    first = await sub.next(timeout=1)
    assert first is not None
    seen.append(first.seq)
    assert len(sub._buffer) <= engine.bus.replay_page
    while (event := await sub.next(timeout=0.2)) is not None:
        seen.append(event.seq)
        if len(seen) in (100, 239):  # during the replay, and right at its end
            await engine.tasks.create(TaskSpec(type="bugfix"))
    assert seen == list(range(1, engine.bus.last_seq + 1))
    sub.close()


async def test_retention_prunes_in_steps_that_other_writes_pass(engine, clock) -> None:
    """Events past the retention go in bounded write ops (not one DELETE holding the
    writer): everything old is deleted, nothing recent, and a write queued while the
    pruning runs commits before the pruning ends."""
    import asyncio

    await asyncio.gather(*(engine.store.write(lambda tx: tx.emit("test.old"))
                           for _ in range(25)))
    clock.advance(engine.config.storage.event_retention_days * 86_400 + 60)
    recent = await engine.store.write(lambda tx: tx.emit("test.recent"))
    commits = engine.store.commits
    finished: list[str] = []

    async def prune() -> None:
        finished.append(f"pruned {await engine.prune_events(step=4)}")

    async def write() -> None:
        await engine.store.write(lambda tx: tx.emit("test.meanwhile"))
        finished.append("write")

    await asyncio.gather(prune(), write())
    assert finished == ["write", "pruned 25"]
    assert engine.store.commits - commits >= 7  # 25 rows, 4 a step: 7 steps at least
    left = await engine.store.read(lambda c: c.fetchall(
        "SELECT seq, event_type FROM events ORDER BY seq"))
    assert left[0] == (recent.seq, "test.recent") and len(left) == 2
