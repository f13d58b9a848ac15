"""The Python client against a real server on 127.0.0.1: every resource, typed results, errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from switchboard.server.contract import parse_time
from switchboard.server.sdk.client import (
    Agent,
    AsyncClient,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    Task,
    Unauthorized,
)
from tests.server.conftest import KEYS, SECRET, LiveApi


@pytest.fixture
async def client(api: LiveApi) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(api.root, token=api.token("admin")) as c:
        yield c


async def test_base_url_defaults_to_api_v1(api: LiveApi) -> None:
    async with AsyncClient(api.root) as bare, AsyncClient(api.base) as full:
        assert bare.base_url == full.base_url == api.base
        assert (await bare.health()).status == "healthy"  # public


async def test_tasks_create_get_list_typed(client: AsyncClient) -> None:
    task = await client.tasks.create("bugfix", {"issue": "123"}, priority="medium",
                                     trace_id="trace-1", source="github")
    assert isinstance(task, Task)
    assert task.status == "assigned" and task.assigned_agent == "dev_agent"
    assert task.priority == "P2" and task.trace_id == "trace-1" and task.task_id == task.id
    created = parse_time(task.created_at)  # the wire carries the ISO text as sent
    assert created is not None and created.tzinfo is not None
    got = await client.tasks.get(task.id)
    assert got.id == task.id and got.payload == {"issue": "123"} and got.logs == []
    for i in range(3):
        await client.tasks.create("deployment", {"n": i}, priority="P3")
    page = await client.tasks.list(type="deployment", limit=2)
    assert len(page) == 2 and page.pagination.total == 3 and page.pagination.pages == 2
    assert all(t.type == "deployment" for t in page)
    everything = [t async for t in client.tasks.iterate(priority="low")]
    assert len(everything) == 3


async def test_errors_are_typed_with_detail(client: AsyncClient, api: LiveApi) -> None:
    with pytest.raises(NotFound) as missing:
        await client.tasks.get("task_nope")
    assert missing.value.status == 404 and "task_nope" in missing.value.detail
    assert missing.value.request_id
    with pytest.raises(InvalidRequest) as invalid:
        await client.tasks.create("teleport")
    assert invalid.value.status == 400 and "type" in invalid.value.detail
    async with AsyncClient(api.root, token=api.token("user")) as reader:
        with pytest.raises(Forbidden) as forbidden:
            await reader.tasks.create("bugfix")
        assert "agent" in forbidden.value.detail
    async with AsyncClient(api.root, token="not-a-key-at-all-0000") as stranger:
        with pytest.raises(Unauthorized):
            await stranger.tasks.list()


async def test_worker_protocol_and_lease_conflicts(client: AsyncClient) -> None:
    agent = await client.agents.register("w1", "dev_agent", max_concurrent_tasks=5)
    assert agent.heartbeat_interval and agent.lease_seconds
    task = await client.tasks.create("bugfix", {"issue": "1"})
    claimed = await client.tasks.claim(agent.id, wait=1)
    assert claimed is not None and claimed.id == task.id and claimed.lease_id
    assert claimed.status == "in_progress" and claimed.claimed_by == agent.id
    assert await client.tasks.claim(agent.id, wait=0) is None
    ack = await client.tasks.progress(task.id, 40, "reading", lease_id=claimed.lease_id)
    assert ack.progress == 40 and ack.lease_expires_at is not None
    await client.tasks.log(task.id, "a warning", level="warning")
    extended = await client.tasks.extend_lease(task.id, claimed.lease_id)
    assert extended.lease_expires_at is not None
    done = await client.tasks.complete(task.id, {"fixed": True}, lease_id=claimed.lease_id)
    assert done.status == "completed"
    with pytest.raises(Conflict) as conflict:
        await client.tasks.complete(task.id, {"again": True}, lease_id=claimed.lease_id)
    assert "no longer valid" in conflict.value.detail
    final = await client.tasks.get(task.id)
    assert final.done and final.result == {"fixed": True} and final.progress == 100
    assert [log.message for log in final.logs] == ["reading", "a warning"]


async def test_fail_release_cancel_retry_priority(client: AsyncClient) -> None:
    agent = await client.agents.register("w2", "ops_agent")
    task = await client.tasks.create("deployment", max_attempts=3)
    claimed = await client.tasks.claim(agent.id, wait=1)
    assert claimed is not None
    released = await client.tasks.release(task.id, claimed.lease_id or "")
    assert released.status == "assigned"
    again = await client.tasks.claim(agent.id, wait=1)
    assert again is not None and again.attempts == 1  # a hand-back does not count
    failed = await client.tasks.fail(task.id, "boom", lease_id=again.lease_id)
    assert failed.status == "failed"
    assert (await client.tasks.retry(task.id)).status == "assigned"
    assert (await client.tasks.set_priority(task.id, "P0")).priority == "P0"
    assert (await client.tasks.cancel(task.id, reason="not needed")).status == "cancelled"
    seed3 = await client.tasks.create("bugfix")
    assert (await client.tasks.update_status(seed3.id, "in_progress")).status == "in_progress"
    assert (await client.tasks.update_status(seed3.id, "completed",
                                             result={"ok": 1})).status == "completed"
    assert (await client.tasks.get(seed3.id)).result == {"ok": 1}


async def test_idempotent_create(client: AsyncClient) -> None:
    first = await client.tasks.create("bugfix", idempotency_key="gh-42")
    second = await client.tasks.create("bugfix", idempotency_key="gh-42")
    assert first.id == second.id


async def test_agents_resource(client: AsyncClient) -> None:
    agent = await client.agents.create("Data Processing Agent", "data_processor",
                                       configuration={"max_concurrent_tasks": 10,
                                                      "timeout": 300, "retry_attempts": 3},
                                       environment="production", id="agent_fixed")
    assert isinstance(agent, Agent) and agent.id == "agent_fixed"
    assert agent.configuration.max_concurrent_tasks == 10 and agent.status == "initializing"
    beat = await client.agents.heartbeat(agent.id, cpu_usage=12.5, memory_usage=40.0)
    assert beat.status == "active" and beat.health.status == "healthy"
    assert beat.metrics.cpu_usage == 12.5
    active = await client.agents.list(status="active")
    assert [a.id for a in active] == ["agent_fixed"] and len(active) == 1
    renamed = await client.agents.update(agent.id, name="Renamed",
                                         configuration={"timeout": 600})
    assert renamed.name == "Renamed" and renamed.configuration.timeout == 600
    again = await client.agents.register("ignored", "data_processor", agent_id="agent_fixed")
    assert again.id == "agent_fixed"
    deleted = await client.agents.delete(agent.id)
    assert deleted.message == "Agent deleted successfully"


async def test_approvals_resource(api: LiveApi, client: AsyncClient) -> None:
    # requests come from an agent: nobody approves their own (separation of duties)
    async with AsyncClient(api.root, token=api.token("agent", "ops-bot")) as requester:
        task = await requester.tasks.create("deployment", {"service": "api"}, priority="P1")
        other = await requester.tasks.create("incident", priority="P0")
    assert task.status == "awaiting_approval" and task.approval_id
    pending = await client.approvals.pending()
    assert [a.approval_id for a in pending] == [other.approval_id, task.approval_id]  # P0 first
    assert pending[1].task_id == task.id and pending[1].status == "pending"
    decision = await client.approvals.approve(task.approval_id)
    assert decision.status == "approved" and decision.message == "Approved by admin-user"
    assert (await client.tasks.get(task.id)).status == "assigned"
    rejected = await client.approvals.reject(other.approval_id or "", reason="not now")
    assert rejected.status == "rejected"
    got = await client.approvals.get(other.approval_id or "")
    assert got.rejection_reason == "not now"
    history = await client.approvals.history(limit=10)
    assert {a.status for a in history} == {"approved", "rejected"}
    with pytest.raises(Conflict):
        await client.approvals.approve(task.approval_id)


async def test_system_resources(client: AsyncClient) -> None:
    health = await client.health()
    assert health.status == "healthy" and health.services.database.status == "healthy"
    await client.tasks.create("bugfix")
    stats = await client.stats()
    assert stats.queue.total_tasks == 1
    metrics = await client.metrics(period="1h")
    assert metrics.period == "1h" and "task_completion_rate" in metrics.metrics
    text = await client.system.prometheus()
    assert "switchboard_tasks" in text
    document = await client.system.openapi()
    assert document["openapi"].startswith("3.1")


async def test_auth_by_api_key_secret_and_minted_tokens(api: LiveApi) -> None:
    async with AsyncClient(api.base, api_key=KEYS["agent"]) as by_key:
        task = await by_key.tasks.create("bugfix")
        assert task.status == "assigned"
    async with AsyncClient(api.base, jwt_secret=SECRET, subject="dev-agent-1",
                           role="agent") as by_secret:
        assert (await by_secret.events.publish("build.started", {"task_id": task.id})).seq
    async with AsyncClient(api.base, jwt_secret="wrong-secret-" * 4, subject="x") as wrong:
        with pytest.raises(Unauthorized) as refused:
            await wrong.tasks.list()
        assert "signature" in refused.value.detail
    async with AsyncClient(api.base, api_key=KEYS["admin"]) as admin:
        minted = await admin.auth.mint_token("robot", "user")
        assert "***" in repr(minted) and minted.access_token not in repr(minted)
    async with AsyncClient(api.base, token=minted.access_token) as robot:
        assert len(await robot.tasks.list()) == 1
        with pytest.raises(Forbidden):
            await robot.tasks.create("bugfix")
    with pytest.raises(ValueError):
        AsyncClient(api.base, api_key="a" * 20, jwt_secret=SECRET)


async def test_events_publish_list_and_resuming_stream(client: AsyncClient) -> None:
    start = await client.events.position()
    published = [await client.events.publish(f"demo.{i}", {"i": i}, source_agent="ops_agent",
                                              trace_id="t-1", priority="P2")
                 for i in range(3)]
    assert [p.event_type for p in published] == ["demo.0", "demo.1", "demo.2"]
    listed = await client.events.list(start, types="demo.")
    assert [e.payload["i"] for e in listed] == [0, 1, 2] and listed.last_seq >= published[-1].seq
    seen = []
    async for event in client.events.stream(start, types="demo."):
        seen.append(event)
        if len(seen) == 2:
            break
    # a new stream resuming after the last seq seen gets exactly the rest
    rest = []
    stream = client.events.stream(seen[-1].seq, types="demo.")
    async for event in stream:
        rest.append(event)
        break
    assert [e.payload["i"] for e in seen + rest] == [0, 1, 2]
    assert rest[0].source_agent == "ops_agent" and rest[0].trace_id == "t-1"


async def test_stream_without_after_starts_now(client: AsyncClient) -> None:
    await client.events.publish("old.event")
    got: list[str] = []

    async def follow() -> None:
        async for event in client.events.stream(types=["new.", "old."]):
            got.append(event.event_type)
            return

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0.3)
    await client.events.publish("new.event")
    await asyncio.wait_for(follower, 5)
    assert got == ["new.event"]


async def test_websocket_claim_and_channel_subscription(client: AsyncClient) -> None:
    agent = await client.agents.register("ws-worker", "faq_agent")
    conn = await client.websocket()
    try:
        assert conn.principal["role"] == "admin"
        assert await conn.claim(agent.id, wait=0) is None
        created = await client.tasks.create("faq_update", {"q": "?"})
        data = await conn.claim(agent.id, wait=2)
        assert data is not None and data["id"] == created.id and data["lease_id"]
    finally:
        await conn.close()
    messages: list[dict] = []

    async def listen() -> None:
        async for message in client.events.subscribe("task_events", task_id=created.id):
            messages.append(message)
            if message["type"] == "task_completed":
                return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.3)
    await client.tasks.progress(created.id, 50, lease_id=data["lease_id"])
    await client.tasks.complete(created.id, {"answer": "!"}, lease_id=data["lease_id"])
    await asyncio.wait_for(listener, 5)
    assert [m["type"] for m in messages] == ["task_update", "task_completed"]
    assert messages[-1]["payload"]["result"] == {"answer": "!"}


async def test_watch_follows_a_task_to_the_end(client: AsyncClient) -> None:
    agent = await client.agents.register("watched", "dev_agent")
    task = await client.tasks.create("bugfix")
    snapshots: list[Task] = []

    async def watch() -> None:
        async for snapshot in client.tasks.watch(task.id):
            snapshots.append(snapshot)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.3)
    claimed = await client.tasks.claim(agent.id, wait=1)
    assert claimed is not None
    for pct in (25, 75):
        await client.tasks.progress(task.id, pct, f"at {pct}", lease_id=claimed.lease_id)
    await client.tasks.complete(task.id, {"ok": True}, lease_id=claimed.lease_id)
    await asyncio.wait_for(watcher, 5)
    assert snapshots[0].status == "assigned"
    assert [s.progress for s in snapshots if s.status == "in_progress"][-2:] == [25, 75]
    assert snapshots[-1].status == "completed" and snapshots[-1].result == {"ok": True}
    final = await client.tasks.wait(task.id, timeout=2)  # already final: returns at once
    assert final.done


async def test_no_credential_in_logs_or_urls(api: LiveApi, caplog: pytest.LogCaptureFixture
                                             ) -> None:
    caplog.set_level(logging.DEBUG)
    token = api.token("admin")
    async with AsyncClient(api.base, token=token) as c, \
            AsyncClient(api.base, jwt_secret=SECRET, subject="s") as minted, \
            AsyncClient(api.base, api_key=KEYS["agent"]) as keyed:
        agent = await c.agents.register("quiet", "dev_agent")
        await c.tasks.create("bugfix")
        conn = await c.websocket()
        await conn.claim(agent.id, wait=0)
        await conn.close()
        async for _ in c.events.stream(0):
            break
        await minted.stats()
        await keyed.tasks.list()
        with pytest.raises(NotFound):
            await keyed.tasks.get("missing")
        secret_texts = [token, SECRET, KEYS["agent"], minted.transport.auth_headers()
                        ["Authorization"].split()[1]]
        assert "***" in repr(minted.transport.credentials)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "GET /api/v1/events/stream" in text or "/api/v1/ws" in text
    for secret in secret_texts:
        assert secret not in text
