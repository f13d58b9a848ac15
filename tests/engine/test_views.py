"""Engine view queries (engine.views) against a real SQLite file: the overview from one
snapshot, task pages in the operator's order over the whole store, id search, events
before a point, and orchestration info without server paths."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from switchboard.engine.actors import Actor
from switchboard.engine.clock import ManualClock
from switchboard.engine.engine import Engine
from switchboard.engine.errors import ValidationFailed
from switchboard.engine.publish import publish_event
from switchboard.engine.tasks import TaskSpec
from switchboard.engine.views import EventQuery, TaskFilter
from tests.conftest import make_config

pytestmark = pytest.mark.both_stores  # issue 16: on SQLite and on PostgreSQL

WORKER = Actor("worker-1", "agent")
ALICE = Actor("alice", "admin")


async def _task(engine: Engine, clock: ManualClock, type: str = "bugfix",
                priority: str = "P2", **extra: object) -> str:
    clock.advance(1)
    task, _ = await engine.tasks.create(TaskSpec(type=type, priority=priority, **extra))
    return task.id


async def _finish(engine: Engine, agent_id: str, status: str = "completed") -> str:
    task = await engine.tasks.claim(agent_id, actor=WORKER)
    assert task is not None
    if status == "completed":
        await engine.tasks.complete(task.id, {"ok": True}, lease_id=task.lease_id)
    else:
        await engine.tasks.fail(task.id, "boom", lease_id=task.lease_id, actor=WORKER)
    return task.id


async def test_overview_counts_everything_from_one_snapshot(engine: Engine,
                                                            clock: ManualClock) -> None:
    agent = await engine.agents.register("w", "dev_agent", actor=WORKER)
    await engine.agents.heartbeat(agent.id, actor=WORKER)
    done = await _task(engine, clock)
    await _finish(engine, agent.id)
    await _task(engine, clock)
    await _finish(engine, agent.id, "failed")
    running = await _task(engine, clock)
    claimed = await engine.tasks.claim(agent.id, actor=WORKER)
    assert claimed is not None and claimed.id == running
    await _task(engine, clock, priority="P3")
    await _task(engine, clock, type="deployment", priority="P1")
    await _task(engine, clock, type="incident", priority="P0")

    view = await engine.views.overview()

    assert view.tasks_by_status == {
        "pending": 0, "awaiting_approval": 2, "assigned": 1, "in_progress": 1,
        "completed": 1, "failed": 1, "rejected": 0, "cancelled": 0}
    assert view.total_tasks == 6
    assert view.tasks_by_priority["P2"].processing == 1
    assert view.tasks_by_priority["P3"].waiting == 1
    assert (view.tasks_by_priority["P0"].waiting, view.tasks_by_priority["P1"].waiting) == (1, 1)
    assert view.approvals_waiting == 2
    assert view.approvals_by_priority == {"P0": 1, "P1": 1, "P2": 0, "P3": 0}
    assert view.agents_by_health == {"healthy": 1} and view.agents_total == 1
    assert set(view.runs_by_status) == {"running", "paused", "completed", "failed",
                                        "cancelled"}
    assert len(view.throughput) == len(view.created) == len(view.failed) == 60
    assert (view.throughput[-1], view.failed[-1], view.created[-1]) == (1, 1, 6)
    assert view.last_seq == engine.bus.last_seq
    assert done  # the first task is counted among the completed


async def test_overview_never_mixes_two_commits(engine: Engine, clock: ManualClock) -> None:
    """Each P1 task and its approval commit together, so in any snapshot the number of
    tasks awaiting approval equals the number of pending approvals. Counts read in
    separate statements (the console's old several-calls overview) can disagree."""
    stop = asyncio.Event()

    async def create() -> None:
        while not stop.is_set():
            await asyncio.gather(*(engine.tasks.create(TaskSpec(type="deployment",
                                                                priority="P1"))
                                   for _ in range(20)))

    writer = asyncio.create_task(create())
    try:
        for _ in range(40):
            view = await engine.views.overview()
            assert view.approvals_waiting == view.tasks_by_status["awaiting_approval"]
            assert view.total_tasks == sum(view.tasks_by_status.values())
    finally:
        stop.set()
        await writer


async def test_default_task_view_is_unfinished_by_urgency_then_recent_finished(
        engine: Engine, clock: ManualClock) -> None:
    agent = await engine.agents.register("w", "dev_agent", actor=WORKER)
    # finished ones first, oldest to newest
    for _ in range(3):
        await _task(engine, clock, priority="P2")
        await _finish(engine, agent.id)
    old_p3 = await _task(engine, clock, priority="P3")
    old_p2 = await _task(engine, clock, priority="P2")
    new_p2 = await _task(engine, clock, priority="P2")
    gated = await _task(engine, clock, type="deployment", priority="P1")

    page = await engine.views.tasks()

    ids = [t.id for t in page.tasks]
    finished = (await engine.tasks.list(_completed_query()))[0]
    assert ids[:4] == [gated, old_p2, new_p2, old_p3]
    assert ids[4:] == [t.id for t in finished]  # newest created first
    assert page.total == 7 and page.by_status == {"completed": 3, "assigned": 3,
                                                  "awaiting_approval": 1}
    assert page.last_seq == engine.bus.last_seq

    # pages join without gap or overlap across the unfinished/finished seam
    pieces = [await engine.views.tasks(offset=offset, limit=3) for offset in (0, 3, 6)]
    assert [t.id for p in pieces for t in p.tasks] == ids
    assert all(p.total == 7 for p in pieces)


def _completed_query():  # the engine's own list, newest first, for comparison
    from switchboard.engine.tasks import TaskQuery
    return TaskQuery(status="completed", limit=100)


async def test_narrow_views_filter_and_count(engine: Engine, clock: ManualClock) -> None:
    agent = await engine.agents.register("w", "dev_agent", actor=WORKER)
    await _task(engine, clock, type="bugfix", priority="P2")
    await _task(engine, clock, type="feature", priority="P3")
    running = await _task(engine, clock, type="refactor", priority="P2")
    while (claimed := await engine.tasks.claim(agent.id, actor=WORKER)) is not None:
        if claimed.id == running:
            break
        clock.advance(1)  # handed back later than the others: to the back of its priority
        await engine.tasks.release(claimed.id, claimed.lease_id, actor=WORKER)

    by_type = await engine.views.tasks(TaskFilter(type="feature"))
    assert [t.type for t in by_type.tasks] == ["feature"] and by_type.total == 1
    by_prio = await engine.views.tasks(TaskFilter(priority="low"))  # an alias of P3
    assert [t.priority for t in by_prio.tasks] == ["P3"]
    in_progress = await engine.views.tasks(TaskFilter(status="running"))
    assert [t.id for t in in_progress.tasks] == [running]
    assert in_progress.by_status == {"in_progress": 1}
    by_agent = await engine.views.tasks(TaskFilter(agent_id=agent.id))
    assert [t.id for t in by_agent.tasks] == [running]
    nothing = await engine.views.tasks(TaskFilter(status="completed", type="feature"))
    assert nothing.tasks == [] and nothing.total == 0
    with pytest.raises(ValidationFailed) as err:
        await engine.views.tasks(TaskFilter(status="sleeping"))
    assert err.value.field == "status"
    with pytest.raises(ValidationFailed) as err:
        await engine.views.tasks(limit=0)
    assert err.value.field == "limit"


async def test_text_and_short_ids_search_the_whole_store(engine: Engine,
                                                         clock: ManualClock) -> None:
    """Issue 13: ``:task <short id>`` and word filters found nothing beyond the newest ~500
    tasks the console fetched. The engine searches every row."""
    first = await _task(engine, clock, type="faq_update", source="wiki-import")
    for _ in range(6):
        await asyncio.gather(*(engine.tasks.create(TaskSpec(type="bugfix"))
                               for _ in range(100)))

    found = await engine.views.tasks(TaskFilter(text="FAQ wiki"), limit=10)
    assert [t.id for t in found.tasks] == [first] and found.total == 1
    assert (await engine.views.tasks(TaskFilter(text="faq_update"))).total == 1
    assert (await engine.views.tasks(TaskFilter(text="%"))).total == 0  # no wildcards
    assert (await engine.views.tasks(TaskFilter(text="faq_"), limit=1)).total == 1
    tail = first[-8:]  # the short id the console shows
    assert [t.id for t in (await engine.views.tasks(TaskFilter(text=tail))).tasks] == [first]

    match = await engine.views.find("task", tail[:6])
    assert match.ids == [first] and not match.more
    many = await engine.views.find("task", "task_", limit=5)
    assert len(many.ids) == 5 and many.more
    with pytest.raises(ValidationFailed) as err:
        await engine.views.find("widget", "x")  # type: ignore[arg-type]  # a bad kind, on purpose
    assert err.value.field == "kind"


async def test_find_resolves_agents_runs_and_approvals(engine: Engine,
                                                       clock: ManualClock) -> None:
    agent = await engine.agents.register("deploy-bot", "ops_agent", actor=WORKER)
    gated = await _task(engine, clock, type="deployment", priority="P1")
    approval_id = (await engine.tasks.get(gated)).approval_id
    assert approval_id is not None
    assert (await engine.views.find("agent", "deploy-b")).ids == [agent.id]
    assert (await engine.views.find("approval", approval_id[-6:])).ids == [approval_id]
    assert (await engine.views.find("run", "nothing-like-this")).ids == []


async def test_events_before_a_point_scroll_back(engine: Engine) -> None:
    seqs = []
    for i in range(30):
        kind = "deploy.started" if i % 3 == 0 else "build.finished"
        event = await publish_event(engine, event_type=kind, payload={"n": i, "who": "bob"})
        seqs.append(event.seq)

    newest = await engine.views.events(limit=10)
    assert [e.seq for e in newest.events] == seqs[-10:]  # oldest first
    older = await engine.views.events(before=newest.before, limit=10)
    assert [e.seq for e in older.events] == seqs[-20:-10]
    oldest = await engine.views.events(before=older.before, limit=100)
    assert [e.seq for e in oldest.events] == seqs[:-20] and oldest.before is None

    deploys = await engine.views.events(EventQuery(types=("deploy.",)), limit=100)
    assert [e.seq for e in deploys.events] == seqs[::3]
    words = await engine.views.events(EventQuery(text='build "n":7'), limit=100)
    assert [e.payload["n"] for e in words.events] == [7]


@pytest.fixture
async def orch_engine(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Engine]:
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "greet.toml").write_text(
        'id = "greet"\nname = "Greet"\ndescription = "Say hi"\n\n'
        '[[steps]]\nid = "ask"\ntype = "human"\nprompt = "Name?"\n'
        'fields = [{ name = "who", type = "text" }]\n')
    (folder / "broken.yaml").write_text("id: broken\nsteps: [ {type: nope} ]\n")
    (folder / "copy.toml").write_text((folder / "greet.toml").read_text())  # a duplicate id
    eng = Engine(make_config(tmp_path / "data", orchestrations={"dir": str(folder)}),
                 clock=clock, run_maintenance=False)
    await eng.start()
    try:
        yield eng
    finally:
        await eng.stop()


async def test_orchestration_info_names_files_inside_the_definitions_folder(
        orch_engine: Engine, tmp_path: Path) -> None:
    infos = {i.id: i for i in orch_engine.views.orchestrations()}
    greet = infos["greet"]
    assert (greet.name, greet.description, greet.steps) == ("Greet", "Say hi", 1)
    assert greet.source in ("greet.toml", "copy.toml") and greet.valid and greet.version
    broken = {i.source: i for i in infos.values() if not i.valid}
    assert "broken.yaml" in broken and broken["broken.yaml"].problems
    duplicate = next(i for i in broken.values() if "already defined" in i.problems[0])
    assert "greet.toml" in duplicate.problems[0] or "copy.toml" in duplicate.problems[0]
    for info in infos.values():  # issue 12: no response reveals a server path
        assert str(tmp_path) not in info.source + " ".join(info.problems)

    # a broken edit of a good file: the last good version stays, with the problems
    path = Path(orch_engine.config.orchestrations.dir) / greet.source
    path.write_text('id = "greet"\nsteps = 3\n')
    orch_engine.orchestrations.reload_file(path)
    again = {i.id: i for i in orch_engine.views.orchestrations()}["greet"]
    assert again.name == "Greet" and again.problems and again.source == greet.source
