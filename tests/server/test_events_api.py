"""Events over HTTP against a real server and engine: publish, list, SSE stream and resume."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from switchboard.engine.engine import Engine
from switchboard.engine.models import Event
from switchboard.engine.publish import publish_event
from switchboard.engine.store.base import Tx
from switchboard.server.resources import events as events_module
from tests.server.streaming import Live, SSEReader, start_live, stream_config

pytestmark = pytest.mark.both_stores


@pytest.fixture
async def live(tmp_path: Path, store_url: str) -> AsyncIterator[Live]:
    server = await start_live(stream_config(tmp_path, storage={"url": store_url}))
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def publish(engine: Engine, count: int, event_type: str = "demo.tick", **kw: Any) -> list[int]:
    seqs = []
    for n in range(count):
        event = await publish_event(engine, event_type=event_type, payload={"n": n}, **kw)
        seqs.append(event.seq)
    return seqs


# -- publish ------------------------------------------------------------------------------


async def test_publish_needs_role_agent(live: Live, http: aiohttp.ClientSession) -> None:
    body = {"event_type": "deployment.completed", "payload": {"service": "api"}}
    async with http.post(f"{live.base}/events/publish", json=body,
                         headers=live.headers("user")) as resp:
        assert resp.status == 403
        assert "agent" in (await resp.json())["detail"]
    async with http.post(f"{live.base}/events/publish", json=body) as resp:
        assert resp.status == 401
    for role in ("agent", "admin"):
        async with http.post(f"{live.base}/events/publish", json=body,
                             headers=live.headers(role)) as resp:
            assert resp.status == 200, await resp.text()
            out = await resp.json()
            assert out["success"] is True
            assert out["event_type"] == "deployment.completed"
            assert out["message"] == "Event published successfully"
            assert isinstance(out["seq"], int) and out["seq"] > 0


async def test_publish_seed_003_body_is_stored_as_sent(live: Live, http: aiohttp.ClientSession) -> None:
    body = {
        "event_type": "deployment.completed",
        "source_agent": "ops_agent",
        "payload": {"service": "api-backend", "version": "v1.2.3", "environment": "production"},
        "task_id": "task_abc123",
        "trace_id": "trace_xyz789",
        "priority": "high",  # alias of P1
        "run_id": "run_1",
    }
    # seed 003's client signs its tokens with sub = its agent id, and sends that id as source
    headers = {"Authorization": f"Bearer {live.token('agent', sub='ops_agent')}"}
    async with http.post(f"{live.base}/events/publish", json=body, headers=headers) as resp:
        seq = (await resp.json())["seq"]
    [event] = await live.engine.bus.history(seq - 1, limit=1)
    assert event.seq == seq
    assert event.as_dict() | {"timestamp": None} == {
        "seq": seq, "event_type": "deployment.completed", "source_agent": "ops_agent",
        "payload": body["payload"], "task_id": "task_abc123", "run_id": "run_1",
        "agent_id": None, "trace_id": "trace_xyz789", "priority": "P1", "timestamp": None,
    }


async def test_publish_source_defaults_to_caller(live: Live, http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": f"Bearer {live.token('agent', sub='ops-agent-7')}"}
    async with http.post(f"{live.base}/events/publish", json={"event_type": "x.y"},
                         headers=headers) as resp:
        seq = (await resp.json())["seq"]
    [event] = await live.engine.bus.history(seq - 1, limit=1)
    assert event.source_agent == "ops-agent-7"
    assert event.payload == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"payload": {}}, "event_type"),
        ({"event_type": ""}, "event_type"),
        ({"event_type": "has space"}, "event_type"),
        ({"event_type": "a.b", "priority": "P9"}, "priority"),
        ({"event_type": "a.b", "payload": [1, 2]}, "payload"),
        ({"event_type": "a.b", "task_id": 5}, "task_id"),
        ({"event_type": "a.b", "priorty": "P1"}, "priorty"),
    ],
)
async def test_publish_validation_names_the_field(
    live: Live, http: aiohttp.ClientSession, body: dict[str, Any], field: str
) -> None:
    async with http.post(f"{live.base}/events/publish", json=body,
                         headers=live.headers("agent")) as resp:
        assert resp.status == 400, await resp.text()
        assert field in (await resp.json())["detail"]


async def test_publish_bad_json_is_400(live: Live, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{live.base}/events/publish", data=b"{nope",
                         headers=live.headers("agent") | {"Content-Type": "application/json"}) as resp:
        assert resp.status == 400


# -- list ---------------------------------------------------------------------------------


async def test_list_after_type_and_limit(live: Live, http: aiohttp.ClientSession) -> None:
    ticks = await publish(live.engine, 3, "demo.tick")
    alerts = await publish(live.engine, 2, "system_alert")
    other = await publish(live.engine, 1, "deploy.done", task_id="t1")
    url = f"{live.base}/events"
    headers = live.headers("user")

    async with http.get(url, headers=headers) as resp:
        page = await resp.json()
    assert [e["seq"] for e in page["data"]] == ticks + alerts + other
    assert page["last_seq"] == other[-1] and page["next_after"] == other[-1]
    assert page["data"][0]["payload"] == {"n": 0} and page["data"][0]["event_type"] == "demo.tick"

    async with http.get(url, params={"after": ticks[1]}, headers=headers) as resp:
        assert [e["seq"] for e in (await resp.json())["data"]] == ticks[2:] + alerts + other

    async with http.get(url, params=[("type", "demo."), ("type", "deploy.")],
                        headers=headers) as resp:
        assert [e["seq"] for e in (await resp.json())["data"]] == ticks + other
    async with http.get(url, params={"type": "system_alert,deploy."}, headers=headers) as resp:
        assert [e["seq"] for e in (await resp.json())["data"]] == alerts + other
    async with http.get(url, params={"task_id": "t1"}, headers=headers) as resp:
        assert [e["seq"] for e in (await resp.json())["data"]] == other

    async with http.get(url, params={"limit": 2}, headers=headers) as resp:
        page = await resp.json()
    assert [e["seq"] for e in page["data"]] == ticks[:2]
    assert page["next_after"] == ticks[1] and page["last_seq"] == other[-1]

    async with http.get(url, params={"after": other[-1]}, headers=headers) as resp:
        page = await resp.json()
    assert page == {"data": [], "last_seq": other[-1], "next_after": other[-1]}


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "1001"}, {"after": "-1"},
                                    {"after": "x"}])
async def test_list_rejects_bad_query(live: Live, http: aiohttp.ClientSession,
                                      params: dict[str, str]) -> None:
    async with http.get(f"{live.base}/events", params=params, headers=live.headers()) as resp:
        assert resp.status == 400
        assert next(iter(params)) in (await resp.json())["detail"]


async def test_list_requires_authentication(live: Live, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{live.base}/events") as resp:
        assert resp.status == 401


# -- SSE ----------------------------------------------------------------------------------


async def open_stream(live: Live, http: aiohttp.ClientSession, *, params: Any = None,
                      last_event_id: int | None = None) -> aiohttp.ClientResponse:
    headers = live.headers("user")
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    resp = await http.get(f"{live.base}/events/stream", params=params, headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    return resp


async def wait_subscribers(live: Live, count: int) -> None:
    """The handler subscribes before sending headers, but be explicit about it anyway."""
    for _ in range(100):
        if live.engine.bus.subscriber_count >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("stream never subscribed")


async def test_stream_sends_live_events_with_ids(live: Live, http: aiohttp.ClientSession) -> None:
    before = await publish(live.engine, 2)  # history: not sent without after/Last-Event-ID
    resp = await open_stream(live, http)
    await wait_subscribers(live, 1)
    seqs = await publish(live.engine, 3, "demo.live", task_id="t9")
    events = await SSEReader(resp).take(3)
    assert [int(e.id) for e in events] == seqs and seqs[0] > before[-1]
    assert {e.event for e in events} == {"demo.live"}
    data = events[0].json()
    assert data["seq"] == seqs[0] and data["payload"] == {"n": 0} and data["task_id"] == "t9"
    assert data["event_type"] == "demo.live" and data["timestamp"].endswith("Z")
    resp.close()


async def test_stream_filters_by_type_and_task(live: Live, http: aiohttp.ClientSession) -> None:
    resp = await open_stream(live, http, params=[("type", "keep."), ("task_id", "t1")])
    await wait_subscribers(live, 1)
    await publish(live.engine, 1, "drop.me", task_id="t1")
    await publish(live.engine, 1, "keep.me", task_id="t2")
    wanted = await publish(live.engine, 1, "keep.me", task_id="t1")
    [event] = await SSEReader(resp).take(1)
    assert int(event.id) == wanted[0]
    resp.close()


async def test_stream_resumes_from_last_event_id_and_after(
    live: Live, http: aiohttp.ClientSession
) -> None:
    seqs = await publish(live.engine, 6)
    # Last-Event-ID wins over ?after= (a browser reconnect keeps the original URL)
    resp = await open_stream(live, http, params={"after": 0}, last_event_id=seqs[2])
    reader = SSEReader(resp)
    replayed = await reader.take(3)
    assert [int(e.id) for e in replayed] == seqs[3:]
    more = await publish(live.engine, 2)
    assert [int(e.id) for e in await reader.take(2)] == more
    resp.close()

    resp = await open_stream(live, http, params={"after": seqs[4]})
    got = await SSEReader(resp).take(3)
    assert [int(e.id) for e in got] == [seqs[5], *more]
    resp.close()


async def test_stream_rejects_a_bad_last_event_id(live: Live, http: aiohttp.ClientSession) -> None:
    headers = live.headers("user") | {"Last-Event-ID": "abc"}
    async with http.get(f"{live.base}/events/stream", headers=headers) as resp:
        assert resp.status == 400
        assert "Last-Event-ID" in (await resp.json())["detail"]
    async with http.get(f"{live.base}/events/stream") as resp:
        assert resp.status == 401


async def test_stream_keepalive_comment(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    live = await start_live(stream_config(tmp_path, server={"sse_keepalive_seconds": 0.05}))
    try:
        resp = await open_stream(live, http)
        reader = SSEReader(resp)
        with pytest.raises(TimeoutError):
            await reader.next(timeout=0.3)  # no events, only comments
        assert reader.comments.count("ping") >= 2
        resp.close()
    finally:
        await live.stop()


async def test_slow_subscriber_is_dropped_with_resume_point(
    live: Live, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_module, "STREAM_MAX_BUFFER", 5)
    first = await publish(live.engine, 1)
    resp = await open_stream(live, http, params={"after": 0})
    reader = SSEReader(resp)
    assert int((await reader.next()).id) == first[0]

    def burst(tx: Tx) -> list[Event]:  # 20 events in one commit overflow a 5-event buffer
        return [tx.emit("demo.burst", {"n": n}) for n in range(20)]

    # seqs are read once committed: a store may number a batch's events at its end (Tx.numbered)
    seqs = [event.seq for event in await live.engine.store.write(burst)]
    dropped = await reader.next()
    assert dropped.event == "subscription.dropped"
    assert dropped.json() == {"resume_after": first[0]} and dropped.id == str(first[0])
    assert await reader.next() is None  # the server ended the stream
    resp.close()

    resp = await open_stream(live, http, last_event_id=int(dropped.id))
    assert [int(e.id) for e in await SSEReader(resp).take(20)] == seqs
    resp.close()


async def test_stream_resume_across_server_restart(tmp_path: Path) -> None:
    """Stop engine and server mid-stream, publish while down, resume: nothing lost or doubled."""
    config = stream_config(tmp_path)
    received: list[int] = []
    published: list[int] = []
    async with aiohttp.ClientSession() as http:
        live = await start_live(config)
        published += await publish(live.engine, 5)
        resp = await open_stream(live, http, params={"after": 0})
        reader = SSEReader(resp)
        received += [int(e.id) for e in await reader.take(3)]
        published += await publish(live.engine, 2)
        received += [int(e.id) for e in await reader.take(2)]
        await live.stop()  # shutdown ends the stream; the client saw 5 of 7
        # (whatever was already in flight may also arrive; a real client keeps the last id)
        while (event := await reader.next(timeout=2.0)) is not None:
            received.append(int(event.id))
        resp.close()

        # while the server is down, the engine (another process, say) keeps working
        engine = Engine(config, run_maintenance=False)
        await engine.start()
        published += await publish(engine, 3)
        await engine.stop()

        live = await start_live(config)
        try:
            resp = await open_stream(live, http, last_event_id=received[-1])
            reader = SSEReader(resp)
            missing = len(published) - len(received)
            received += [int(e.id) for e in await reader.take(missing)]
            published += await publish(live.engine, 2)  # and live again after the replay
            received += [int(e.id) for e in await reader.take(2)]
            resp.close()
        finally:
            await live.stop()
    assert received == published
    assert len(set(received)) == len(received) == 12


async def test_stream_releases_its_subscription_when_the_client_leaves(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    live = await start_live(stream_config(tmp_path, server={"sse_keepalive_seconds": 0.05}))
    try:
        resp = await open_stream(live, http)
        await wait_subscribers(live, 1)
        resp.close()  # no events flow: only the keep-alive can notice
        for _ in range(100):
            if live.engine.bus.subscriber_count == 0:
                break
            await asyncio.sleep(0.02)
        assert live.engine.bus.subscriber_count == 0
    finally:
        await live.stop()
