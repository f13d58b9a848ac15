"""``RemoteBackend`` against a real server: every Backend method answers what the in-process
backend answers on the same engine; the live stream survives a server restart with no gap and
no duplicate and reports its connection state; errors keep the server's detail and status;
and the approval workflow works by keys in attach mode.

Why compare with ``InProcessBackend`` rather than with fixed values: the promise is that
screens cannot tell the two apart, so the in-process answer *is* the expected one. Both
answer the wire contract's records, so they are compared whole, field for field.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from switchboard.console.backend import (
    BackendError,
    ConnectionState,
    InProcessBackend,
    StreamItem,
    TaskView,
)
from switchboard.console.remote import RemoteBackend
from switchboard.engine.actors import Actor
from switchboard.engine.clock import ManualClock
from switchboard.engine.config import Config
from switchboard.engine.engine import Engine
from switchboard.engine.publish import publish_event
from switchboard.engine.tasks import TaskSpec
from switchboard.server.api import build_api_app
from switchboard.server.app import start_server
from switchboard.server.auth import Authenticator
from tests.conftest import make_config
from tests.console.fixtures import BROKEN_TOML, REVIEW_TOML, START, FixedIds, seed, settle

SECRET = "remote-backend-test-secret-0123456789abcdef"

def world_config(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    """The console test world's orchestrations, plus a JWT secret for the API (and rate
    limits off unless ``sections`` say otherwise)."""
    orch_dir = tmp_path / "orchestrations"
    orch_dir.mkdir(exist_ok=True)
    (orch_dir / "review.toml").write_text(REVIEW_TOML, encoding="utf-8")
    (orch_dir / "broken.toml").write_text(BROKEN_TOML, encoding="utf-8")
    sections.setdefault("rate_limits", {"enabled": False})
    return make_config(tmp_path / "data", orchestrations={"dir": str(orch_dir), "watch": False},
                       storage={"synchronous": "OFF"}, auth={"jwt_secret": SECRET}, **sections)


@dataclass
class Server:
    """An engine served over HTTP on 127.0.0.1 (restartable on the same port)."""

    engine: Engine
    runner: Any
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, role: str = "admin", sub: str = "operator") -> str:
        return Authenticator(self.engine.config.auth).mint(sub, role)  # type: ignore[arg-type]

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.engine.stop()


async def serve(engine: Engine, port: int = 0) -> Server:
    if not engine.started:
        await engine.start()
    runner, bound = await start_server(build_api_app(engine), "127.0.0.1", port)
    return Server(engine, runner, bound)


@dataclass
class World:
    server: Server
    data: dict[str, Any]
    local: InProcessBackend
    remote: RemoteBackend

    @property
    def engine(self) -> Engine:
        return self.server.engine


@pytest.fixture
async def world(tmp_path: Path, fixed_ids: FixedIds) -> AsyncIterator[World]:
    engine = Engine(world_config(tmp_path), clock=ManualClock(START), run_maintenance=False)
    await engine.start()
    data = await seed(engine)
    server = await serve(engine)
    local = InProcessBackend(engine, Actor("operator", "admin"))
    remote = RemoteBackend(server.url, server.token())
    await local.start()
    await remote.start()
    try:
        yield World(server, data, local, remote)
    finally:
        await remote.close()
        await local.close()
        await server.stop()


# -- comparing records ---------------------------------------------------------------------


def norm(record: Any) -> Any:
    """A record (or list of them) as plain data, for a readable diff."""
    return msgspec.to_builtins(record)


async def same(call: Callable[[Any], Awaitable[Any]], world: World) -> Any:
    """Call a Backend method on both backends; both answers must be equal."""
    local = await call(world.local)
    remote = await call(world.remote)
    assert norm(remote) == norm(local)
    return remote


# -- every read ----------------------------------------------------------------------------


async def test_overview_matches(world: World) -> None:
    local = await world.local.overview()
    remote = await world.remote.overview()
    assert remote == local
    assert remote.approvals_waiting == 3 and remote.runs_by_status["paused"] == 1


@pytest.mark.parametrize("view", [
    TaskView(),
    TaskView(limit=3),
    TaskView(status="failed"),
    TaskView(status="running"),
    TaskView(status="awaiting_approval"),
    TaskView(priority="P2"),
    TaskView(type="bugfix", limit=1),
    TaskView(agent_id="agent-dev-1"),
    TaskView(status="completed", agent_id="agent-dev-2"),
], ids=lambda v: repr(v).removeprefix("TaskView"))
async def test_tasks_match(world: World, view: TaskView) -> None:
    local = await world.local.tasks(view)
    remote = await world.remote.tasks(view)
    assert remote.total == local.total
    assert [t.id for t in remote.tasks] == [t.id for t in local.tasks]
    assert norm(remote.tasks) == norm(local.tasks)


async def test_default_task_view_pages_like_the_engine(world: World) -> None:
    """Past one API page (100) per status: the active head is still the most urgent,
    oldest first, then the newest finished tasks."""
    engine, clock = world.engine, world.engine.clock
    assert isinstance(clock, ManualClock)
    for n in range(230):
        await engine.tasks.create(TaskSpec(type="refactor", priority="P3" if n % 10 else "P2",
                                           payload={"n": n}), Actor("seed"))
        clock.advance(1)
    assert (await engine.stats.queue())["by_priority"]["P3"]["waiting"] > 2 * 100
    for view in (TaskView(limit=40), TaskView(limit=120), TaskView(limit=300),
                 TaskView(status="assigned", limit=150)):
        local = await world.local.tasks(view)
        remote = await world.remote.tasks(view)
        assert remote.total == local.total
        assert [t.id for t in remote.tasks] == [t.id for t in local.tasks]


async def test_single_records_match(world: World) -> None:
    data = world.data
    for task in (data["claimed"], data["failed"], data["p0"]):
        remote = await same(lambda b, t=task: b.task(t.id), world)
        assert remote.log_lines or task is data["p0"]
    await same(lambda b: b.agents(), world)
    for agent_id in ("agent-dev-1", "agent-faq-1"):
        await same(lambda b, a=agent_id: b.agent(a), world)


async def test_approvals_match(world: World) -> None:
    pending = await same(lambda b: b.pending_approvals(), world)
    assert [a.priority for a in pending][:2] == ["P0", "P1"]
    assert any(a.kind == "gate" and a.fields for a in pending)
    for approval in pending:
        await same(lambda b, a=approval: b.approval(a.approval_id), world)
    await world.local.reject(pending[0].approval_id, reason="not today")
    history = await same(lambda b: b.approval_history(10), world)
    assert history[0].rejection_reason == "not today"
    assert history[0].request_reason == pending[0].request_reason


@pytest.mark.parametrize("query", [
    {}, {"limit": 5}, {"limit": 1}, {"types": ("task.",)}, {"types": ("approval.", "run.")},
    {"limit": 3, "types": ("task.completed",)},
], ids=repr)
async def test_recent_events_match(world: World, query: dict[str, Any]) -> None:
    remote = await same(lambda b: b.recent_events(**query), world)
    assert remote


async def test_recent_events_by_task_and_run_over_a_long_history(world: World) -> None:
    """The newest matching events are found even when thousands of others came after."""
    task_id, run_id = world.data["claimed"].id, world.data["run"].run_id

    def burst(tx: Any) -> None:
        for n in range(3000):
            tx.emit("demo.noise", {"n": n})

    await world.engine.store.write(burst)
    for query in ({"task_id": task_id}, {"run_id": run_id}, {"limit": 2, "task_id": task_id},
                  {"limit": 1000}):
        remote = await same(lambda b, q=query: b.recent_events(**q), world)
        assert remote


async def test_runs_and_orchestrations_match(world: World) -> None:
    runs = await same(lambda b: b.runs(), world)
    assert runs and runs[0].status == "paused"
    await same(lambda b: b.runs(status="paused", limit=1), world)
    await same(lambda b: b.runs(orchestration_id="orch-review"), world)
    await same(lambda b: b.runs(status="completed"), world)
    run = await same(lambda b: b.run(runs[0].run_id), world)
    assert run.human_input_required and run.approval_id
    local = await world.local.orchestrations()
    remote = await world.remote.orchestrations()
    # the API never names a server's absolute path (issue 12): both read the engine's view,
    # which names a file relative to the definitions folder
    assert remote == local
    assert all(not (o.source or "").startswith("/") for o in remote)
    assert all(not o.source.startswith("/") for o in remote)
    assert any(o.problems for o in remote) and any(o.valid and o.steps for o in remote)


# -- actions -------------------------------------------------------------------------------


async def test_actions_do_what_the_engine_then_holds(world: World) -> None:
    remote, local, data = world.remote, world.local, world.data
    await remote.approve(data["p1"].approval_id)
    approved = await local.approval(data["p1"].approval_id)
    assert approved.status == "approved" and approved.decided_by == "operator"

    await remote.reject(data["p0"].approval_id, reason="change freeze")
    rejected = await local.approval(data["p0"].approval_id)
    assert (rejected.status, rejected.rejection_reason) == ("rejected", "change freeze")

    pending_task = data["tasks"][0]
    await remote.set_task_priority(pending_task.id, "P1")
    assert (await local.task(pending_task.id)).priority == "P1"
    await remote.cancel_task(pending_task.id, "no longer needed")
    assert (await local.task(pending_task.id)).status == "cancelled"
    await remote.retry_task(data["failed"].id)
    assert (await local.task(data["failed"].id)).status in ("assigned", "pending")


async def test_runs_start_answer_cancel_and_retry_remotely(world: World) -> None:
    remote, local = world.remote, world.local
    run_id = await remote.start_run("orch-review", "PR #77")
    run = await remote.run(run_id)
    assert run.orchestration_id == "orch-review" and run.message == "PR #77"
    for _ in range(100):
        run = await remote.run(run_id)
        if run.status == "paused":
            break
        await asyncio.sleep(0.02)
    assert run.status == "paused" and run.approval_id
    await remote.resume_run(run_id, {"decision": "approve", "replicas": 3})
    assert (await remote.run(run_id)).status != "paused"
    assert await remote.run(run_id) == await local.run(run_id)

    other = world.data["run"]
    await remote.cancel_run(other.run_id)
    assert (await local.run(other.run_id)).status == "cancelled"
    with pytest.raises(BackendError) as remote_err:
        await remote.retry_run(other.run_id)
    with pytest.raises(BackendError) as local_err:
        await local.retry_run(other.run_id)
    assert (remote_err.value.status, remote_err.value.detail) == \
        (local_err.value.status, local_err.value.detail)


# -- errors --------------------------------------------------------------------------------


async def errors_of(world: World, call: Callable[[Any], Awaitable[Any]]
                    ) -> tuple[BackendError, BackendError]:
    with pytest.raises(BackendError) as local:
        await call(world.local)
    with pytest.raises(BackendError) as remote:
        await call(world.remote)
    return local.value, remote.value


async def test_errors_carry_the_servers_detail_and_status(world: World) -> None:
    data = world.data
    for call in (lambda b: b.task("task_missing"), lambda b: b.agent("nobody"),
                 lambda b: b.approval("approval_missing"), lambda b: b.run("run_missing"),
                 lambda b: b.start_run("orch-missing", "hi"),
                 lambda b: b.set_task_priority(data["done"].id, "P0"),
                 lambda b: b.cancel_task(data["done"].id)):
        local, remote = await errors_of(world, call)
        assert (remote.status, remote.detail) == (local.status, local.detail)
        assert remote.status in (404, 409, 400)

    # decided elsewhere: a 409 the gate form shows as such
    await world.local.approve(data["p1"].approval_id)
    local, remote = await errors_of(world, lambda b: b.approve(data["p1"].approval_id))
    assert remote.conflict and (remote.status, remote.detail) == (local.status, local.detail)

    # a gate answer that fails validation names the field, like the engine
    gate = data["run"].approval_id
    bad = {"decision": "approve", "replicas": 99}
    local, remote = await errors_of(world, lambda b: b.submit_gate(gate, bad))
    assert remote.status == 400 and (remote.detail, remote.field) == (local.detail, local.field)
    assert remote.field and remote.field.endswith("replicas")


async def test_roles_and_bad_credentials(world: World) -> None:
    viewer = RemoteBackend(world.server.url, world.server.token("user", "viewer"))
    try:
        await viewer.start()
        assert viewer.actor_name == "viewer"
        assert len(await viewer.pending_approvals()) == 3  # a user may read...
        with pytest.raises(BackendError) as err:  # ...but not decide
            await viewer.approve(world.data["p1"].approval_id)
        assert err.value.status == 403 and err.value.detail
    finally:
        await viewer.close()

    stranger = RemoteBackend(world.server.url, "not-a-token")
    try:
        with pytest.raises(BackendError) as err:
            await stranger.start()
        assert err.value.status == 401
        items: list[StreamItem] = []
        with pytest.raises(BackendError) as err:
            async for item in stranger.stream():
                items.append(item)
        assert err.value.status == 401
        assert [i.state for i in items] == [ConnectionState.DISCONNECTED]
        assert stranger.state == ConnectionState.DISCONNECTED
    finally:
        await stranger.close()


async def test_unreachable_server_is_a_503_not_a_crash(world: World) -> None:
    port = world.server.port
    await world.server.runner.cleanup()
    nowhere = RemoteBackend(f"127.0.0.1:{port}/", "t0ken", backoff=0.01)
    try:
        assert nowhere.address == f"http://127.0.0.1:{port}"
        await nowhere.start()  # does not raise: the stream will keep trying
        with pytest.raises(BackendError) as err:
            await nowhere.task("anything")
        assert err.value.status == 503 and "t0ken" not in err.value.detail
        assert "t0ken" not in repr(nowhere)
    finally:
        await nowhere.close()
    world.server.runner = (await serve(world.engine, port)).runner  # for the fixture's stop


async def test_one_request_per_backend_method(world: World) -> None:
    """Attach mode asks the server once per screen read: an overview refresh is one
    request, the default task view one, so the server's rate limits never bite a console."""
    from aiohttp import web

    seen: list[str] = []

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        seen.append(f"{request.method} {request.path}")
        return await handler(request)

    app = build_api_app(world.engine)
    app.middlewares.insert(0, count)
    runner, port = await start_server(app, "127.0.0.1", 0)
    remote = RemoteBackend(f"http://127.0.0.1:{port}", world.server.token())
    data = world.data
    calls: list[Callable[[], Awaitable[Any]]] = [
        remote.overview, lambda: remote.tasks(TaskView()), lambda: remote.task(data["p0"].id),
        remote.agents, lambda: remote.agent("agent-dev-1"), remote.pending_approvals,
        remote.approval_history, lambda: remote.approval(data["p0"].approval_id),
        remote.recent_events, remote.runs, lambda: remote.run(data["run"].run_id),
        remote.orchestrations, lambda: remote.find("task", data["p0"].id[-4:]),
        lambda: remote.set_task_priority(data["tasks"][0].id, "P1"),
        lambda: remote.approve(data["p1"].approval_id)]
    try:
        for call in calls:
            seen.clear()
            await call()
            assert len(seen) == 1, (call, seen)
    finally:
        await remote.close()
        await runner.cleanup()


# -- the live stream -----------------------------------------------------------------------


class Collector:
    """Consumes a backend's stream in the background, recording states and event seqs."""

    def __init__(self, backend: Any, after: int | None = None) -> None:
        self.items: list[StreamItem] = []
        self.seqs: list[int] = []
        self.states: list[ConnectionState] = []
        self.error: BaseException | None = None
        self._task = asyncio.ensure_future(self._run(backend, after))

    async def _run(self, backend: Any, after: int | None) -> None:
        try:
            async for item in backend.stream(after, coalesce=0.01):
                self.items.append(item)
                if not item.events and (not self.states or self.states[-1] != item.state):
                    self.states.append(item.state)
                self.seqs.extend(e.seq for e in item.events)
        except Exception as exc:
            self.error = exc

    async def wait_for(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not check():
            assert self.error is None, self.error
            assert loop.time() < deadline, (self.states, self.seqs)
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def publish(engine: Engine, count: int) -> list[int]:
    return [(await publish_event(engine, event_type="demo.tick", payload={"n": n})).seq
            for n in range(count)]


async def test_stream_matches_the_in_process_stream(world: World) -> None:
    start = world.engine.bus.last_seq
    local, remote = Collector(world.local, start), Collector(world.remote, start)
    try:
        await local.wait_for(lambda: local.states == [ConnectionState.CONNECTED])
        await remote.wait_for(lambda: remote.states == [ConnectionState.CONNECTED])
        assert remote.items[0].events == [] and remote.items[0].last_seq == start
        await world.remote.approve(world.data["p1"].approval_id)
        seqs = await publish(world.engine, 30)
        await remote.wait_for(lambda: seqs[-1] in remote.seqs)
        await local.wait_for(lambda: seqs[-1] in local.seqs)
        assert remote.seqs == local.seqs
        remote_events = [e for i in remote.items for e in i.events]
        local_events = [e for i in local.items for e in i.events]
        assert norm(remote_events) == norm(local_events)
        assert len(remote.items) < 1 + len(remote.seqs)  # bursts arrive coalesced
        assert remote.items[-1].last_seq == seqs[-1] == world.remote.last_seq
    finally:
        await local.stop()
        await remote.stop()


async def test_stream_from_now_then_resume_where_the_app_left_off(world: World) -> None:
    first = Collector(world.remote)  # None: only what happens from now on
    try:
        await first.wait_for(lambda: first.states == [ConnectionState.CONNECTED])
        assert first.items[0].last_seq == world.engine.bus.last_seq
        seqs = await publish(world.engine, 3)
        await first.wait_for(lambda: first.seqs == seqs)
    finally:
        await first.stop()
    resume_at = first.items[-1].last_seq
    more = await publish(world.engine, 4)  # nobody listening
    second = Collector(world.remote, resume_at)
    try:
        await second.wait_for(lambda: second.seqs == more)
    finally:
        await second.stop()


async def test_closing_the_backend_ends_its_stream_as_disconnected(world: World) -> None:
    backend = RemoteBackend(world.server.url, world.server.token())
    stream = Collector(backend)
    await stream.wait_for(lambda: stream.states == [ConnectionState.CONNECTED])
    await backend.close()
    await asyncio.wait_for(stream._task, 2.0)  # the stream ends by itself
    assert stream.states == [ConnectionState.CONNECTED, ConnectionState.DISCONNECTED]
    assert stream.error is None and backend.state == ConnectionState.DISCONNECTED


async def test_stream_survives_a_server_restart_without_gap_or_duplicate(
        tmp_path: Path) -> None:
    config = make_config(tmp_path / "data", auth={"jwt_secret": SECRET},
                         rate_limits={"enabled": False})
    server = await serve(Engine(config, run_maintenance=False))
    port = server.port
    backend = RemoteBackend(server.url, server.token(), backoff=0.05, max_backoff=0.2,
                            disconnected_after=0.3)
    await backend.start()
    published = await publish(server.engine, 5)
    stream = Collector(backend, after=0)
    try:
        await stream.wait_for(lambda: stream.seqs == published)
        await server.stop()  # engine and server go away mid-stream
        await stream.wait_for(lambda: ConnectionState.RECONNECTING in stream.states)

        engine = Engine(config, run_maintenance=False)  # same data dir, another process, say
        await engine.start()
        published += await publish(engine, 3)  # while nobody serves the stream
        await asyncio.sleep(0.4)  # long enough to be called disconnected
        await stream.wait_for(lambda: ConnectionState.DISCONNECTED in stream.states)
        assert stream.seqs == published[:5]

        server = await serve(engine, port)  # back on the same port
        await stream.wait_for(lambda: stream.seqs == published)
        published += await publish(engine, 2)  # and live again after the replay
        await stream.wait_for(lambda: stream.seqs == published)
        assert stream.states == [ConnectionState.CONNECTED, ConnectionState.RECONNECTING,
                                 ConnectionState.DISCONNECTED, ConnectionState.CONNECTED]
        assert len(set(stream.seqs)) == len(stream.seqs) == 10
        assert backend.state == ConnectionState.CONNECTED
    finally:
        await stream.stop()
        await backend.close()
        await server.stop()
    assert backend.state == ConnectionState.DISCONNECTED


async def test_stream_dropped_by_a_slow_read_resumes_from_its_last_seq(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from switchboard.server.resources import events as events_module

    monkeypatch.setattr(events_module, "STREAM_MAX_BUFFER", 5)
    start = world.engine.bus.last_seq
    stream = Collector(world.remote, start)
    try:
        await stream.wait_for(lambda: stream.states == [ConnectionState.CONNECTED])

        def burst(tx: Any) -> list[int]:  # 50 events in one commit overflow a 5-event buffer
            return [tx.emit("demo.burst", {"n": n}).seq for n in range(50)]

        seqs = await world.engine.store.write(burst)
        await stream.wait_for(lambda: stream.seqs[-1:] == seqs[-1:])
        assert stream.seqs == seqs
        assert ConnectionState.RECONNECTING in stream.states
        assert stream.states[-1] == ConnectionState.CONNECTED
    finally:
        await stream.stop()


# -- the console in attach mode, driven by keys ------------------------------------------------


@pytest.fixture
async def served(tmp_path: Path, fixed_ids: FixedIds) -> AsyncIterator[tuple[Server, dict[str, Any]]]:
    """The seeded console world behind a real server, with no backend attached yet."""
    engine = Engine(world_config(tmp_path), clock=ManualClock(START), run_maintenance=False)
    await engine.start()
    data = await seed(engine)
    server = await serve(engine)
    try:
        yield server, data
    finally:
        await server.stop()


async def until(pilot: Any, check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until ``check()`` holds (failing after ``timeout`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "the console did not get there in time"
        await pilot.pause(0.02)


async def quiet(pilot: Any) -> None:
    """Until the console is connected, its visible views have loaded and no worker is busy
    (but the event stream's, which runs for as long as the app does); fails loudly."""
    await settle(pilot)


def attached_app(server: Server, **backend_options: Any) -> Any:
    from switchboard.console.app import build_app

    backend = RemoteBackend(server.url, server.token(sub="operator"), **backend_options)
    return build_app(backend, clock=server.engine.clock, cursor_blink=False)


async def move_to(pilot: Any, key: str) -> None:
    """Press j (from the top: g) until the table's cursor is on ``key``."""
    table = pilot.app.screen.table
    await pilot.press("g")
    for _ in range(len(table.rows)):
        if table.current_key == key:
            return
        await pilot.press("j")
    assert table.current_key == key


def screen_text(app: Any) -> list[str]:
    """What the terminal shows, as text lines (the way ``export_screenshot`` renders it)."""
    import io

    from rich.console import Console

    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(),
                      force_terminal=True, color_system=None, record=True)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return console.export_text().splitlines()


WALK = [["1"], ["2"], ["2", "enter"], ["3"], ["3", "j", "j", "enter"], ["4"], ["4", "enter"],
        ["5"], ["5", "G", "f"], ["6"], ["7"]]


async def screen_after(app: Any, keys: list[str]) -> list[str]:
    async with app.run_test(size=(120, 40)) as pilot:
        await quiet(pilot)
        await pilot.press(*keys)
        await quiet(pilot)
        return screen_text(app)


@pytest.mark.parametrize("keys", WALK, ids=" ".join)
async def test_every_screen_shows_the_same_in_both_modes(served: tuple[Server, dict[str, Any]],
                                                         keys: list[str]) -> None:
    """Screens cannot tell the backends apart: each view, detail and the gate form render
    the same text in-process and attached (but the header's address)."""
    from switchboard.console.app import build_app

    server, _ = served
    local_app = build_app(InProcessBackend(server.engine, Actor("operator", "admin")),
                          clock=server.engine.clock, cursor_blink=False)
    here = await screen_after(local_app, keys)
    there = await screen_after(attached_app(server), keys)
    assert "in-process" in here[0] and server.url in there[0]
    assert there[1:] == here[1:], "\n".join([*here[:14], "----", *there[:14]])
    assert sum(1 for line in there if line.strip()) > 3  # a screen with something on it


async def test_attach_mode_approval_workflow_by_keys(served: tuple[Server, dict[str, Any]]
                                                     ) -> None:
    from switchboard.console.dialogs.gate_form import GateFormScreen
    from switchboard.console.dialogs.prompt import PromptDialog
    from switchboard.console.screens.approvals import ApprovalsScreen
    server, data = served
    engine = server.engine
    app = attached_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await quiet(pilot)
        assert app.connection_state == ConnectionState.CONNECTED
        assert app.approvals_waiting == 3 and not app.embedded
        await pilot.press("5")
        await quiet(pilot)
        assert isinstance(app.screen, ApprovalsScreen)

        # approve the P1 task: no confirmation below P0
        await move_to(pilot, data["p1"].approval_id)
        await pilot.press("a")
        await quiet(pilot)
        approval = await engine.approvals.get(data["p1"].approval_id)
        assert (approval.status, approval.decided_by) == ("approved", "operator")
        assert (await engine.tasks.get(data["p1"].id)).status != "awaiting_approval"
        assert data["p1"].approval_id not in app.screen.approvals

        # reject the P0 with a reason typed into the prompt
        await move_to(pilot, data["p0"].approval_id)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, PromptDialog))
        await pilot.press(*"change freeze", "enter")
        await quiet(pilot)
        approval = await engine.approvals.get(data["p0"].approval_id)
        assert (approval.status, approval.rejection_reason) == ("rejected", "change freeze")
        assert (await engine.tasks.get(data["p0"].id)).status == "rejected"

        # the gate form: one invalid number, then a valid one; the run resumes
        gate_id = data["run"].approval_id
        await move_to(pilot, gate_id)
        await pilot.press("f")
        await quiet(pilot)
        form = app.screen
        assert isinstance(form, GateFormScreen)
        await pilot.press("enter", "down", "enter")  # decision: the first choice
        await quiet(pilot)
        assert form.query_one("#field-0").value == "approve"
        await pilot.press("tab", *"99", "ctrl+s")
        await quiet(pilot)
        assert app.screen is form
        assert "at most 10" in str(form.query_one("#error-1").render())
        assert (await engine.runs.get(data["run"].run_id)).status == "paused"
        await pilot.press("backspace", "backspace", "3", "ctrl+s")
        await quiet(pilot)
        assert not isinstance(app.screen, GateFormScreen)
        gate = await engine.approvals.get(gate_id)
        assert gate.status == "approved" and gate.response["replicas"] == 3
        run = await engine.runs.wait(data["run"].run_id, timeout=5)
        assert run.status == "completed"
        for _ in range(100):
            if app.approvals_waiting == 0:
                break
            await pilot.pause(0.02)
        assert app.approvals_waiting == 0 and not app.screen.approvals


async def test_attach_mode_decided_elsewhere_and_connection_state(
        served: tuple[Server, dict[str, Any]]) -> None:
    """A decision made through the API closes nothing but tells the open form; a server
    restart shows in the header as reconnecting, then connected."""
    from switchboard.console.dialogs.gate_form import GateFormScreen
    from switchboard.console.widgets.header import StatusHeader
    server, data = served
    engine = server.engine
    app = attached_app(server, backoff=0.05, max_backoff=0.2)
    async with app.run_test(size=(120, 40)) as pilot:
        await quiet(pilot)
        await pilot.press("5")
        await quiet(pilot)
        await move_to(pilot, data["run"].approval_id)
        await pilot.press("f")
        await quiet(pilot)
        form = app.screen
        assert isinstance(form, GateFormScreen)

        await engine.approvals.approve(data["run"].approval_id, Actor("alice", "admin"),
                                       response={"decision": "reject", "replicas": 1})
        for _ in range(100):
            if form.decided_elsewhere:
                break
            await pilot.pause(0.02)
        assert form.decided_elsewhere == "approved by alice"
        assert "DECIDED ELSEWHERE" in str(form.query_one("#form-banner").render())
        await pilot.press("ctrl+s")
        await quiet(pilot)
        assert (await engine.approvals.get(data["run"].approval_id)).response["decision"] == \
            "reject"
        await pilot.press("escape")
        await quiet(pilot)

        header = app.screen.query_one(StatusHeader)
        assert server.url in str(header.render()) and "connected" in str(header.render())
        port = server.port
        await server.runner.cleanup()  # the server goes away; the engine keeps working
        for _ in range(200):
            if app.connection_state == ConnectionState.RECONNECTING:
                break
            await pilot.pause(0.02)
        assert app.connection_state == ConnectionState.RECONNECTING
        header.refresh()
        await pilot.pause()
        assert "reconnecting" in str(header.render())
        await engine.tasks.cancel(data["tasks"][1].id, Actor("bob"), reason="while away")
        server.runner = (await serve(engine, port)).runner
        for _ in range(200):
            if app.connection_state == ConnectionState.CONNECTED:
                break
            await pilot.pause(0.02)
        assert app.connection_state == ConnectionState.CONNECTED
        for _ in range(100):  # the event missed while away arrives on the resumed stream
            if any(e.event_type == "task.cancelled" and e.task_id == data["tasks"][1].id
                   for e in app.recent_events):
                break
            await pilot.pause(0.02)
        seqs = [e.seq for e in app.recent_events]
        assert seqs == sorted(set(seqs))
        assert any(e.task_id == data["tasks"][1].id for e in app.recent_events)
