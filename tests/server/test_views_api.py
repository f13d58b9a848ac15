"""``GET /api/v1/views/...`` against a real server: each view is the engine's own answer
(``engine.views``) in contract records, decoded by the SDK; bad input is a 4xx naming the
field. Role checks are covered for every route by ``test_route_roles``."""

from __future__ import annotations

from typing import Any

import aiohttp
import msgspec
import pytest

from switchboard.engine.actors import Actor
from switchboard.engine.events import EventFilter
from switchboard.engine.publish import publish_event
from switchboard.engine.tasks import TaskSpec
from switchboard.engine.views import EventQuery, TaskFilter
from switchboard.server import contract, convert
from switchboard.server.sdk.client import AsyncClient


async def _seed(engine: Any) -> list[str]:
    ids = []
    for n, (kind, priority) in enumerate([("bugfix", "P2"), ("deployment", "P0"),
                                          ("documentation", "P3"), ("bugfix", "P1")]):
        task, _ = await engine.tasks.create(
            TaskSpec(type=kind, priority=priority, payload={"n": n}), Actor("seed"))
        ids.append(task.id)
    await engine.tasks.cancel(ids[2], Actor("seed", "admin"), "not needed")
    for n in range(5):
        await publish_event(engine, event_type="demo.tick", payload={"n": n})
    return ids


@pytest.fixture
async def client(api: Any) -> Any:
    async with AsyncClient(api.base, token=api.token("user")) as c:
        yield c


async def test_overview_is_the_engines_in_one_request(api: Any, client: AsyncClient) -> None:
    await _seed(api.engine)
    got = await client.views.overview()
    want = convert.overview(await api.engine.views.overview())
    assert msgspec.structs.replace(got, at=want.at) == want  # a live clock: ``at`` moved
    assert got.total_tasks == 4 and got.tasks_by_status["cancelled"] == 1
    assert got.tasks_by_priority["P0"].waiting == 1
    assert len(got.throughput) == 60 and set(got.runs_by_status) >= {"running", "paused"}


async def test_task_pages_by_view_and_filter(api: Any, client: AsyncClient) -> None:
    ids = await _seed(api.engine)
    now = api.engine.clock.now()
    for query, flt in [({}, TaskFilter()), ({"status": "cancelled"}, TaskFilter(status="cancelled")),
                       ({"type": "bugfix"}, TaskFilter(type="bugfix")),
                       ({"text": "deploy"}, TaskFilter(text="deploy"))]:
        got = await client.views.tasks(**query, limit=2)
        want = convert.task_view_page(await api.engine.views.tasks(flt, limit=2), now)
        assert [t.id for t in got.tasks] == [t.id for t in want.tasks], query
        assert (got.total, got.by_status, got.limit) == (want.total, want.by_status, 2)
    default = await client.views.tasks()
    # unfinished most urgent first, the cancelled one last
    assert [t.id for t in default.tasks] == [ids[1], ids[3], ids[0], ids[2]]
    second = await client.views.tasks(offset=1, limit=2)
    assert [t.id for t in second.tasks] == [ids[3], ids[0]]


async def test_find_and_orchestrations(api: Any, client: AsyncClient) -> None:
    ids = await _seed(api.engine)
    found = await client.views.find("task", ids[1][-6:])
    assert found.ids == [ids[1]] and not found.more
    infos = await client.views.orchestrations()
    want = [convert.orchestration_info(i) for i in api.engine.views.orchestrations()]
    assert infos == want


async def test_events_before_a_point(api: Any, client: AsyncClient) -> None:
    await _seed(api.engine)
    newest = await client.views.events(types=["demo."], limit=3)
    assert [e.payload["n"] for e in newest.events] == [2, 3, 4]
    assert newest.before == newest.events[0].seq
    older = await client.views.events(types=["demo."], before=newest.before, limit=3)
    assert [e.payload["n"] for e in older.events] == [0, 1] and older.before is None
    page = await api.engine.views.events(EventQuery(types=("demo.",)), limit=3)
    assert newest == convert.event_view_page(page)
    everything = await api.engine.bus.history(0, EventFilter(), limit=1000)
    assert (await client.views.events(limit=1000)).events[-1].seq == everything[-1].seq


@pytest.mark.parametrize(("path", "field"), [
    ("/views/tasks?status=sleeping", "status"), ("/views/tasks?priority=P9", "priority"),
    ("/views/tasks?limit=0", "limit"), ("/views/tasks?offset=-1", "offset"),
    ("/views/tasks?text=" + "+".join(f"w{n}" for n in range(11)), "text"),
    ("/views/find?kind=task", "text"), ("/views/find?kind=planet&text=x", "kind"),
    ("/views/events?before=0", "before"), ("/views/events?limit=5000", "limit"),
])
async def test_bad_input_is_a_4xx_naming_the_field(api: Any, http: aiohttp.ClientSession,
                                                  path: str, field: str) -> None:
    async with http.get(api.base + path, headers=api.headers("user")) as resp:
        assert 400 <= resp.status < 500, (path, resp.status)
        assert field in (await resp.json())["detail"], path


async def test_views_answer_typed_records(api: Any, client: AsyncClient) -> None:
    await _seed(api.engine)
    page = await client.views.tasks()
    assert all(isinstance(t, contract.Task) and isinstance(t.status, contract.TaskStatus)
               for t in page.tasks)
