"""The seeds' base paths: seed 001 at /v1 in its own words, seeds 002/003 at the root.

Against a real engine on a temporary SQLite file and a real server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from switchboard.server.app_keys import ROUTES_KEY
from switchboard.server.contract import seed001 as words
from switchboard.server.dialects import root as root_dialect
from switchboard.server.dialects import seed001 as seed001_dialect
from tests.server.conftest import LiveApi, start_live_api

CLIENT = {"client_id": "seed-client", "client_secret": "seed-client-secret-0123", "role": "agent"}


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[LiveApi, Any]]:
    api, runner = await start_live_api(tmp_path, auth={"oauth_clients": [CLIENT]})
    try:
        yield api, runner
    finally:
        await runner.cleanup()
        await api.engine.stop()


@pytest.fixture
def api(live: tuple[LiveApi, Any]) -> LiveApi:
    return live[0]


async def call(http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str],
               body: Any = None) -> tuple[int, Any]:
    async with http.request(method, url, json=body, headers=headers) as r:
        data = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, data


async def make_agent(api: LiveApi, http: aiohttp.ClientSession, agent_id: str) -> None:
    status, data = await call(http, "POST", f"{api.base}/agents", api.headers("admin"),
                              {"id": agent_id, "name": agent_id, "type": "data_processor"})
    assert status == 201, data


async def claim(api: LiveApi, http: aiohttp.ClientSession, agent_id: str) -> dict[str, Any]:
    status, data = await call(http, "POST", f"{api.base}/tasks/claim",
                              api.headers("agent", "worker-1"), {"agent_id": agent_id})
    assert status == 200, data
    return data["task"]


# -- seed 001 at /v1 ----------------------------------------------------------------------------


async def test_v1_tasks_speak_seed_001s_statuses_and_priorities(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    await make_agent(api, http, "agent_123")
    v1 = f"{api.root}/v1"
    agent = api.headers("agent", "seed-client")
    status, created = await call(http, "POST", f"{v1}/tasks", agent, {
        "agent_id": "agent_123", "type": "data_processing", "payload": {"source": "database"},
        "priority": "medium"})
    assert status == 201, created
    task = created["data"]
    assert (task["status"], task["priority"], task["agent_id"]) == ("pending", "medium",
                                                                  "agent_123")
    assert (task["status_detail"], task["priority_code"]) == ("assigned", "P2")
    status, critical = await call(http, "POST", f"{v1}/tasks", agent,
                                  {"agent_id": "agent_123", "type": "data_processing",
                                   "priority": "critical"})
    assert status == 201 and critical["data"]["status"] == "pending", critical
    assert critical["data"]["status_detail"] == "awaiting_approval"
    assert critical["data"]["priority"] == "critical"

    # ?status=pending shows queued work and work awaiting approval; running shows held work
    _, pending = await call(http, "GET", f"{v1}/tasks?status=pending", agent)
    assert {t["id"] for t in pending["data"]} == {task["id"], critical["data"]["id"]}
    assert pending["pagination"]["total"] == 2
    held = await claim(api, http, "agent_123")
    assert held["id"] == task["id"]
    _, running = await call(http, "GET", f"{v1}/tasks?status=running", agent)
    assert [t["id"] for t in running["data"]] == [task["id"]]
    assert running["data"][0]["status"] == "running"
    _, one = await call(http, "GET", f"{v1}/tasks/{task['id']}", agent)
    assert (one["data"]["status"], one["data"]["progress"]) == ("running", 0)
    _, by_priority = await call(http, "GET", f"{v1}/tasks?priority=critical", agent)
    assert [t["id"] for t in by_priority["data"]] == [critical["data"]["id"]]

    # a cancelled task is failed in seed 001's words (our word kept in status_detail)
    status, _ = await call(http, "POST", f"{api.base}/tasks/{critical['data']['id']}/cancel",
                           api.headers("admin"))
    assert status == 200
    _, failed = await call(http, "GET", f"{v1}/tasks?status=failed", agent)
    assert [(t["status"], t["status_detail"]) for t in failed["data"]] == [("failed",
                                                                           "cancelled")]
    # the canonical API keeps its own words
    _, canonical = await call(http, "GET", f"{api.base}/tasks/{task['id']}", agent)
    assert (canonical["data"]["status"], canonical["data"]["priority"]) == ("in_progress", "P2")


async def test_v1_refuses_words_outside_seed_001_with_400_naming_the_field(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    v1 = f"{api.root}/v1"
    status, data = await call(http, "GET", f"{v1}/tasks?status=in_progress",
                              api.headers("user"))
    assert status == 400 and "status" in data["detail"], data
    status, data = await call(http, "POST", f"{v1}/tasks", api.headers("agent"),
                              {"type": "x", "priority": "urgent"})
    assert status == 400 and "priority" in data["detail"], data


async def test_v1_serves_seed_001s_other_routes_and_oauth_at_the_root(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    await make_agent(api, http, "agent_7")
    v1 = f"{api.root}/v1"
    _, agents = await call(http, "GET", f"{v1}/agents", api.headers("user"))
    assert [a["id"] for a in agents["data"]] == ["agent_7"] and "pagination" in agents
    status, health = await call(http, "GET", f"{v1}/health", {})
    assert status == 200 and health["status"] == "healthy"
    status, metrics = await call(http, "GET", f"{v1}/metrics?period=1h", api.headers("user"))
    assert status == 200 and metrics["data"]["period"] == "1h"
    status, text = await call(http, "GET", f"{api.root}/metrics", {})
    assert status == 200 and "switchboard_tasks" in text  # the root stays Prometheus
    status, _ = await call(http, "GET", f"{v1}/workflows", api.headers("user"))
    assert status == 200
    status, token = await call(http, "POST", f"{api.root}/oauth/token", {}, {
        "grant_type": "client_credentials", "client_id": CLIENT["client_id"],
        "client_secret": CLIENT["client_secret"]})
    assert status == 200 and token["token_type"] == "bearer", token
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    status, _ = await call(http, "GET", f"{v1}/agents", bearer)
    assert status == 200
    status, _ = await call(http, "POST", f"{api.root}/oauth/token", {}, {
        "grant_type": "client_credentials", "client_id": CLIENT["client_id"],
        "client_secret": "wrong-secret-0123456789"})
    assert status == 401
    # unauthenticated and under-privileged callers are refused at /v1 as at /api/v1
    assert (await call(http, "GET", f"{v1}/tasks", {}))[0] == 401
    assert (await call(http, "POST", f"{v1}/tasks", api.headers("user"), {"type": "x"}))[0] == 403


async def test_v1_websocket_delivers_task_completed_on_the_seeds_agent_channel(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    await make_agent(api, http, "agent_123")
    async with http.ws_connect(f"{api.root}/v1/ws") as ws:
        await ws.send_json({"type": "auth", "token": api.token("user")})
        assert (await ws.receive_json(timeout=5))["type"] == "auth_ok"
        # the seed's own two subscriptions, as its example sends them
        await ws.send_json({"type": "subscribe", "channel": "agent_events",
                            "agent_id": "agent_123"})
        await ws.send_json({"type": "subscribe", "channel": "system_events"})
        for _ in range(2):
            assert (await ws.receive_json(timeout=5))["type"] == "subscribed"
        status, created = await call(http, "POST", f"{api.root}/v1/tasks", api.headers("agent"),
                                     {"agent_id": "agent_123", "type": "data_processing",
                                      "priority": "high"})
        assert status == 201
        task_id = created["data"]["id"]
        status, _ = await call(http, "GET", f"{api.base}/approvals/pending", api.headers("user"))
        approval = created["data"]["approval_id"]
        status, data = await call(http, "POST", f"{api.base}/approvals/{approval}/approve",
                                  api.headers("admin"))
        assert status == 200, data
        held = await claim(api, http, "agent_123")
        status, data = await call(http, "POST", f"{api.base}/tasks/{task_id}/complete",
                                  api.headers("agent", "worker-1"),
                                  {"lease_id": held["lease_id"], "result": {"ok": True}})
        assert status == 200, data
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["type"] != "task_completed":
            seen.append(await ws.receive_json(timeout=5))
    statuses = [m["payload"].get("status") for m in seen if m["type"] == "task_update"]
    assert set(statuses) <= set(words.Seed001Status) and "running" in statuses, seen
    done = seen[-1]
    assert done["channel"] == "agent_events" and done["task_id"] == task_id
    assert done["payload"]["status"] == "completed" and done["priority"] == "high"


async def test_v1_websocket_keeps_the_canonical_channels(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    """The SDKs' ``tasks.watch`` subscribes to task_events with a task_id at ``/v1/ws``."""
    await make_agent(api, http, "agent_9")
    async with http.ws_connect(f"{api.root}/v1/ws") as ws:
        await ws.send_json({"type": "auth", "token": api.token("agent")})
        assert (await ws.receive_json(timeout=5))["type"] == "auth_ok"
        status, created = await call(http, "POST", f"{api.root}/v1/tasks", api.headers("agent"),
                                     {"agent_id": "agent_9", "type": "data_processing"})
        task_id = created["data"]["id"]
        await ws.send_json({"type": "subscribe", "channel": "task_events", "task_id": task_id,
                            "after": 0})
        assert (await ws.receive_json(timeout=5))["type"] == "subscribed"
        first = await ws.receive_json(timeout=5)
        assert first["task_id"] == task_id and first["payload"]["status"] == "pending"


# -- seeds 002 and 003 at the root --------------------------------------------------------------


async def test_root_speaks_seed_003(api: LiveApi, http: aiohttp.ClientSession) -> None:
    status, minted = await call(http, "POST", f"{api.root}/auth/token", api.headers("admin"),
                                {"user_id": "dev-agent-1", "role": "agent"})
    assert status == 200, minted
    agent = {"Authorization": f"Bearer {minted['access_token']}"}
    status, created = await call(http, "POST", f"{api.root}/tasks", agent,
                                 {"type": "bugfix", "payload": {"issue": "123"}, "priority": "P1"})
    assert status == 201 and created["task"]["status"] == "awaiting_approval", created
    _, got = await call(http, "GET", f"{api.root}/tasks/{created['task_id']}", agent)
    assert got["task"]["priority"] == "P1"
    _, pending = await call(http, "GET", f"{api.root}/approvals/pending", agent)
    assert pending["count"] == 1
    approval_id = pending["approvals"][0]["approval_id"]
    _, one = await call(http, "GET", f"{api.root}/approvals/{approval_id}", agent)
    assert one["approval"]["status"] == "pending"
    status, decided = await call(http, "POST", f"{api.root}/approvals/{approval_id}/approve",
                                 api.headers("admin"))
    assert status == 200 and decided["success"], decided
    _, history = await call(http, "GET", f"{api.root}/approvals/history", agent)
    assert history["count"] == 1
    status, published = await call(http, "POST", f"{api.root}/events/publish", agent, {
        "event_type": "deployment.completed", "source_agent": "dev-agent-1",
        "payload": {"service": "api-backend"}})
    assert status == 200 and published["success"], published
    status, moved = await call(http, "PATCH",
                               f"{api.root}/tasks/{created['task_id']}/status?status=in_progress",
                               agent)
    assert status == 200 and moved["status"] == "in_progress", moved
    _, stats = await call(http, "GET", f"{api.root}/stats", {})
    assert stats["queue"]["total_tasks"] == 1
    status, data = await call(http, "POST", f"{api.root}/tasks", agent, {"priority": "P2"})
    assert status == 400 and "type" in data["detail"], data


async def test_root_speaks_seed_002(api: LiveApi, http: aiohttp.ClientSession) -> None:
    agent = api.headers("agent")
    status, providers = await call(http, "GET", f"{api.root}/providers", agent)
    assert status == 200 and {"adk", "mcp"} <= set(providers["providers"]), providers
    status, templates = await call(http, "GET", f"{api.root}/templates", agent)
    assert status == 200, templates
    status, session = await call(http, "POST", f"{api.root}/sessions", agent,
                                 {"context": {"project": "x"}, "preferences": {}})
    assert status in (200, 201) and session["session_id"], session
    status, data = await call(http, "POST", f"{api.root}/generate", agent, {"task": ""})
    assert status == 400 and "task" in data["detail"], data


# -- structure ----------------------------------------------------------------------------------


async def test_dialect_routes_keep_their_canonical_routes_roles_and_never_collide(
        live: tuple[LiveApi, Any]) -> None:
    _, runner = live
    specs = list(runner.app[ROUTES_KEY])
    canonical = {(s.method, s.path): s for s in specs if s.base is None and not s.root_only}
    dialect = [s for s in specs if s.base is not None]
    assert dialect
    for spec in dialect:
        twin = canonical.get((spec.method, spec.path))
        if twin is not None:
            assert spec.role == twin.role, (spec.method, spec.base, spec.path)
        else:  # only seed 001's own WebSocket has no canonical twin by path and method
            assert (spec.base, spec.method, spec.path) == ("/v1", "GET", "/ws")
    paths = [(m, p) for m, p in runner.app[ROUTES_KEY].paths()]
    assert len(paths) == len(set(paths))
    for method, path in paths:
        if path.startswith(("/api/v1/", "/v1/")):
            continue
        first = path.strip("/").split("/")[0]
        assert first not in root_dialect.RESERVED_FIRST_SEGMENTS or (method, path) == (
            "GET", "/metrics"), path
    served = {(s.method, s.base + s.path) for s in dialect}
    for method, path in (*root_dialect.SEED002, *root_dialect.SEED003):
        assert (method, path) in served
    for method, path in seed001_dialect.SAME_WORDS:
        assert (method, "/v1" + path) in served
    assert ("POST", "/oauth/token") in served


async def test_rate_limits_count_v1_and_root_against_the_same_rules(tmp_path: Path) -> None:
    api, runner = await start_live_api(tmp_path, rate_limits={
        "enabled": True, "endpoints": {"POST /tasks": "2/minute"}})
    try:
        async with aiohttp.ClientSession() as http:
            headers = api.headers("agent", "limited")
            answers = []
            for url in (f"{api.base}/tasks", f"{api.root}/v1/tasks", f"{api.root}/tasks"):
                async with http.post(url, json={"type": "bugfix"}, headers=headers) as r:
                    answers.append((r.status, r.headers.get("X-RateLimit-Limit")))
            assert answers == [(201, "2"), (201, "2"), (429, "2")]
    finally:
        await runner.cleanup()
        await api.engine.stop()
    await asyncio.sleep(0)
