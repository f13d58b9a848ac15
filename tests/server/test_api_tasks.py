"""Tasks over HTTP: seed 003 create/get/status, seed 001 list, the worker protocol."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.server.conftest import KEYS, LiveApi

pytestmark = pytest.mark.both_stores


async def post(http: aiohttp.ClientSession, url: str, role: str, api: LiveApi,
               json: Any = None, params: Any = None) -> tuple[int, Any]:
    async with http.post(url, json=json, params=params, headers=api.headers(role)) as r:
        return r.status, (await r.json() if r.status != 204 else None)


async def test_create_p2_assigned_to_dev_agent(api: LiveApi, http: aiohttp.ClientSession) -> None:
    status, body = await post(http, f"{api.base}/tasks", "agent", api,
                              {"type": "bugfix", "payload": {"issue": "123"}, "priority": "P2"})
    assert status == 201
    assert body["success"] is True
    assert body["message"] == "Task created and assigned to dev_agent"
    task = body["task"]
    assert task["task_id"] == body["task_id"] == task["id"]
    assert task["status"] == "assigned" and task["assigned_agent"] == "dev_agent"
    assert task["priority"] == "P2" and task["created_at"].endswith("Z")
    async with http.get(f"{api.base}/tasks/{body['task_id']}", headers=api.headers("user")) as r:
        got = await r.json()
    assert r.status == 200 and got["task"]["task_id"] == body["task_id"]
    assert got["data"]["status"] == "assigned"  # seed 001's envelope too


async def test_create_validation_names_field(api: LiveApi, http: aiohttp.ClientSession) -> None:
    for payload, field in [
        ({"type": "bugfix", "priority": False}, "priority"),
        ({"type": "bugfix", "priority": "urgent"}, "priority"),
        ({"type": "teleport"}, "type"),
        ({"payload": {}}, "type"),
        ({"type": "bugfix", "priorty": "P1"}, "priorty"),
        ({"type": "bugfix", "sla_target": -5}, "sla_target"),
        ({"type": "bugfix", "schedule": {"type": "at", "at": "never"}}, "schedule.at"),
    ]:
        status, body = await post(http, f"{api.base}/tasks", "agent", api, payload)
        assert status == 400, (payload, status, body)
        assert field in body["detail"], (payload, body)


async def test_idempotency_key(api: LiveApi, http: aiohttp.ClientSession) -> None:
    body = {"type": "bugfix", "idempotency_key": "gh-123"}
    s1, b1 = await post(http, f"{api.base}/tasks", "agent", api, body)
    s2, b2 = await post(http, f"{api.base}/tasks", "agent", api, body)
    assert (s1, s2) == (201, 200) and b1["task_id"] == b2["task_id"]
    async with http.post(f"{api.base}/tasks", json={"type": "bugfix"},
                         headers={**api.headers("agent"), "Idempotency-Key": "hdr-1"}) as r1:
        first = await r1.json()
    async with http.post(f"{api.base}/tasks", json={"type": "bugfix"},
                         headers={**api.headers("agent"), "Idempotency-Key": "hdr-1"}) as r2:
        second = await r2.json()
    assert first["task_id"] == second["task_id"]


async def test_unknown_task_404(api: LiveApi, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{api.base}/tasks/task_missing", headers=api.headers("user")) as r:
        assert r.status == 404 and "task_missing" in (await r.json())["detail"]


async def test_patch_status_flow(api: LiveApi, http: aiohttp.ClientSession) -> None:
    _, created = await post(http, f"{api.base}/tasks", "agent", api, {"type": "bugfix"})
    url = f"{api.base}/tasks/{created['task_id']}/status"
    async with http.patch(url, params={"status": "in_progress"}, headers=api.headers("agent")) as r:
        assert r.status == 200
        assert await r.json() == {"success": True, "task_id": created["task_id"],
                                  "status": "in_progress"}
    async with http.patch(url, params={"status": "failed", "error": "tests broke"},
                          headers=api.headers("agent")) as r:
        assert (await r.json())["status"] == "failed"
    async with http.patch(url, params={"status": "completed"}, headers=api.headers("agent")) as r:
        assert r.status == 409 and "failed" in (await r.json())["detail"]
    async with http.patch(url, params={"status": "sleeping"}, headers=api.headers("agent")) as r:
        assert r.status == 400 and "status" in (await r.json())["detail"]


async def test_list_filters_and_pagination(api: LiveApi, http: aiohttp.ClientSession) -> None:
    for i in range(25):
        await post(http, f"{api.base}/tasks", "agent", api,
                   {"type": "bugfix" if i % 2 else "deployment",
                    "priority": "low" if i % 5 == 0 else "medium"})
    async with http.get(f"{api.base}/tasks", params={"limit": "10", "page": "2"},
                        headers=api.headers("user")) as r:
        body = await r.json()
    assert body["pagination"] == {"page": 2, "limit": 10, "total": 25, "pages": 3}
    assert len(body["data"]) == 10
    async with http.get(f"{api.base}/tasks", params={"priority": "low"},
                        headers=api.headers("user")) as r:
        assert (await r.json())["pagination"]["total"] == 5
    async with http.get(f"{api.base}/tasks", params={"status": "pending"},
                        headers=api.headers("user")) as r:
        assert (await r.json())["pagination"]["total"] == 0
    async with http.get(f"{api.base}/tasks", params={"created_after": "2000-01-01T00:00:00Z"},
                        headers=api.headers("user")) as r:
        assert (await r.json())["pagination"]["total"] == 25
    async with http.get(f"{api.base}/tasks", params={"limit": "500"},
                        headers=api.headers("user")) as r:
        assert r.status == 400 and "limit" in (await r.json())["detail"]


async def test_worker_protocol(api: LiveApi, http: aiohttp.ClientSession) -> None:
    status, agent = await post(http, f"{api.base}/agents/register", "agent", api,
                               {"name": "dev-1", "type": "dev_agent"})
    assert status == 200
    agent_id = agent["data"]["id"]
    status, nothing = await post(http, f"{api.base}/tasks/claim", "agent", api,
                                 {"agent_id": agent_id, "wait": 0})
    assert status == 204
    _, created = await post(http, f"{api.base}/tasks", "agent", api, {"type": "bugfix"})
    status, claimed = await post(http, f"{api.base}/tasks/claim", "agent", api,
                                 {"agent_id": agent_id, "wait": 1})
    assert status == 200 and claimed["task_id"] == created["task_id"]
    lease = claimed["lease_id"]
    tid = claimed["task_id"]
    status, prog = await post(http, f"{api.base}/tasks/{tid}/progress", "agent", api,
                              {"progress": 65, "message": "Processing batch 1 of 10",
                               "lease_id": lease})
    assert status == 200 and prog["progress"] == 65
    status, _ = await post(http, f"{api.base}/tasks/{tid}/logs", "agent", api,
                           {"level": "warning", "message": "slow"})
    assert status == 201
    status, _ = await post(http, f"{api.base}/tasks/{tid}/heartbeat", "agent", api, {})
    assert status == 404
    status, _ = await post(http, f"{api.base}/agents/{agent_id}/heartbeat", "agent", api,
                           {"cpu_usage": 23.1, "memory_usage": 65.2})
    assert status == 200
    status, wrong = await post(http, f"{api.base}/tasks/{tid}/complete", "agent", api,
                               {"lease_id": "not-mine", "result": {}})
    assert status == 409 and "no longer valid" in wrong["detail"]
    status, done = await post(http, f"{api.base}/tasks/{tid}/complete", "agent", api,
                              {"lease_id": lease, "result": {"records_processed": 1000}})
    assert status == 200 and done["status"] == "completed"
    async with http.get(f"{api.base}/tasks/{tid}", headers=api.headers("user")) as r:
        task = (await r.json())["task"]
    assert task["result"] == {"records_processed": 1000}
    assert [line["message"] for line in task["logs"]] == ["Processing batch 1 of 10", "slow"]
    assert task["duration"] is not None and task["completed_at"]
    async with http.get(f"{api.base}/agents/{agent_id}", headers=api.headers("user")) as r:
        metrics = (await r.json())["data"]["metrics"]
    assert metrics["tasks_completed"] == 1 and metrics["success_rate"] == 100.0


async def test_cancel_retry_priority(api: LiveApi, http: aiohttp.ClientSession) -> None:
    _, created = await post(http, f"{api.base}/tasks", "agent", api,
                            {"type": "bugfix", "priority": "P3"})
    tid = created["task_id"]
    status, body = await post(http, f"{api.base}/tasks/{tid}/cancel", "agent", api,
                              {"reason": "duplicate"})
    assert status == 200 and body["status"] == "cancelled"
    status, body = await post(http, f"{api.base}/tasks/{tid}/retry", "agent", api)
    assert status == 200 and body["status"] == "assigned"
    async with http.patch(f"{api.base}/tasks/{tid}/priority", json={"priority": "high"},
                          headers=api.headers("agent")) as r:
        assert r.status == 403
    async with http.patch(f"{api.base}/tasks/{tid}/priority", json={"priority": "high"},
                          headers=api.headers("admin")) as r:
        assert r.status == 200 and (await r.json())["priority"] == "P1"


async def test_api_key_header(api: LiveApi, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{api.base}/tasks", headers={"X-API-Key": KEYS["user"]}) as r:
        assert r.status == 200
    async with http.post(f"{api.base}/tasks", json={"type": "bugfix"},
                         headers={"X-API-Key": KEYS["user"]}) as r:
        assert r.status == 403
