"""Approvals (seed 003) and agents (seed 001) over HTTP."""

from __future__ import annotations

import aiohttp
import pytest

from tests.server.conftest import LiveApi

pytestmark = pytest.mark.both_stores


async def _p1_task(api: LiveApi, http: aiohttp.ClientSession) -> dict:
    async with http.post(f"{api.base}/tasks", json={"type": "deployment", "priority": "P1"},
                         headers=api.headers("agent", "requester")) as r:  # not the approver
        return await r.json()


async def test_pending_get_approve_history(api: LiveApi, http: aiohttp.ClientSession) -> None:
    created = await _p1_task(api, http)
    assert created["task"]["status"] == "awaiting_approval"
    async with http.get(f"{api.base}/approvals/pending", headers=api.headers("user")) as r:
        pending = await r.json()
    assert pending["success"] and pending["count"] == 1
    approval = pending["approvals"][0]
    assert approval["task_id"] == created["task_id"] and approval["priority"] == "P1"
    assert approval["status"] == "pending" and approval["reason"]
    aid = approval["approval_id"]
    async with http.post(f"{api.base}/approvals/{aid}/approve",
                         headers=api.headers("agent", "agent-user")) as r:
        assert r.status == 200
        assert await r.json() == {"success": True, "approval_id": aid, "status": "approved",
                                  "message": "Approved by agent-user"}
    async with http.get(f"{api.base}/approvals/{aid}", headers=api.headers("user")) as r:
        got = (await r.json())["approval"]
    assert got["status"] == "approved" and got["approved_by"] == "agent-user"
    assert got["approved_at"]
    async with http.get(f"{api.base}/tasks/{created['task_id']}", headers=api.headers("user")) as r:
        assert (await r.json())["task"]["status"] == "assigned"
    async with http.post(f"{api.base}/approvals/{aid}/reject",
                         headers=api.headers("agent")) as r:
        assert r.status == 409 and "already approved by agent-user" in (await r.json())["detail"]
    async with http.get(f"{api.base}/approvals/history", params={"limit": "10"},
                        headers=api.headers("user")) as r:
        history = await r.json()
    assert history["count"] == 1 and history["history"][0]["approved_by"] == "agent-user"


async def test_reject_with_query_reason(api: LiveApi, http: aiohttp.ClientSession) -> None:
    created = await _p1_task(api, http)
    aid = created["task"]["approval_id"]
    async with http.post(f"{api.base}/approvals/{aid}/reject",
                         params={"reason": "Security concerns"},
                         headers=api.headers("agent", "agent-user")) as r:
        body = await r.json()
    assert body["message"] == "Rejected by agent-user" and body["status"] == "rejected"
    async with http.get(f"{api.base}/tasks/{created['task_id']}", headers=api.headers("user")) as r:
        task = (await r.json())["task"]
    assert task["status"] == "rejected" and "Security concerns" in task["error"]


async def test_user_cannot_approve(api: LiveApi, http: aiohttp.ClientSession) -> None:
    created = await _p1_task(api, http)
    aid = created["task"]["approval_id"]
    async with http.post(f"{api.base}/approvals/{aid}/approve", headers=api.headers("user")) as r:
        assert r.status == 403 and "requires role agent" in (await r.json())["detail"]
    async with http.post(f"{api.base}/approvals/approval_nope/approve",
                         headers=api.headers("agent")) as r:
        assert r.status == 404


async def test_agents_crud_seed001(api: LiveApi, http: aiohttp.ClientSession) -> None:
    body = {"name": "New Processing Agent", "type": "data_processor",
            "configuration": {"max_concurrent_tasks": 5, "timeout": 300, "retry_attempts": 3},
            "environment": "production"}
    async with http.post(f"{api.base}/agents", json=body, headers=api.headers("agent")) as r:
        assert r.status == 403  # agents cannot manage agents
    async with http.post(f"{api.base}/agents", json=body, headers=api.headers("admin")) as r:
        assert r.status == 201
        created = (await r.json())["data"]
    assert created["status"] == "initializing" and created["created_at"]
    aid = created["id"]
    async with http.put(f"{api.base}/agents/{aid}", headers=api.headers("admin"),
                        json={"name": "Updated Agent Name",
                              "configuration": {"max_concurrent_tasks": 15, "timeout": 600}}) as r:
        updated = (await r.json())["data"]
    assert updated["name"] == "Updated Agent Name"
    assert updated["configuration"] == {"max_concurrent_tasks": 15, "timeout": 600.0,
                                        "retry_attempts": 3}
    async with http.get(f"{api.base}/agents", params={"status": "initializing", "limit": "20"},
                        headers=api.headers("user")) as r:
        listing = await r.json()
    assert listing["pagination"]["total"] == 1
    assert set(listing["data"][0]["metrics"]) >= {"tasks_completed", "success_rate",
                                                  "avg_response_time"}
    async with http.get(f"{api.base}/agents/{aid}", headers=api.headers("user")) as r:
        detail = (await r.json())["data"]
    assert set(detail["health"]) == {"status", "last_check", "uptime"}
    async with http.delete(f"{api.base}/agents/{aid}", headers=api.headers("agent")) as r:
        assert r.status == 403
    async with http.delete(f"{api.base}/agents/{aid}", headers=api.headers("admin")) as r:
        deleted = await r.json()
    assert deleted["message"] == "Agent deleted successfully" and deleted["deleted_at"]
    async with http.get(f"{api.base}/agents/{aid}", headers=api.headers("user")) as r:
        assert r.status == 404


async def test_agent_validation(api: LiveApi, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{api.base}/agents", headers=api.headers("admin"),
                         json={"name": "x", "type": "t",
                               "configuration": {"max_concurrent_tasks": 0}}) as r:
        assert r.status == 400
        assert "configuration.max_concurrent_tasks" in (await r.json())["detail"]
    async with http.get(f"{api.base}/agents", params={"status": "sleepy"},
                        headers=api.headers("user")) as r:
        assert r.status == 400 and "status" in (await r.json())["detail"]


async def test_health_stats_metrics(api: LiveApi, http: aiohttp.ClientSession) -> None:
    for path in ("/health", "/api/v1/health"):
        async with http.get(api.root + path) as r:
            health = await r.json()
        assert r.status == 200 and health["status"] == "healthy"
        database = health["services"]["database"]
        assert database["response_time"] >= 0
        assert database["kind"] == api.engine.store.kind
        assert set(health["queue_stats"]) == {"pending_tasks", "processing_tasks", "total_tasks"}
    await _p1_task(api, http)
    async with http.get(api.root + "/stats") as r:
        stats = await r.json()
    assert stats["queue"]["pending_tasks"] == 1 and stats["queue"]["total_tasks"] == 1
    assert stats["timestamp"].endswith("Z")
    async with http.get(f"{api.base}/metrics", params={"period": "1h"},
                        headers=api.headers("user")) as r:
        metrics = (await r.json())["data"]
    assert metrics["period"] == "1h"
    assert set(metrics["metrics"]) >= {"task_completion_rate", "response_time", "error_rate"}
    assert len(metrics["metrics"]["error_rate"]) == 60
    async with http.get(f"{api.base}/metrics", params={"period": "2y"},
                        headers=api.headers("user")) as r:
        assert r.status == 400
    async with http.get(api.root + "/metrics") as r:
        text = await r.text()
    assert r.status == 200 and "switchboard_approvals_pending 1.0" in text
    assert f'switchboard_store_info{{kind="{api.engine.store.kind}"}} 1.0' in text
    assert "switchboard_store_ping_milliseconds " in text
    if api.engine.store.kind == "postgres":  # the pool's figures: a pool with a ceiling
        pool = dict(line.split(" ") for line in text.splitlines()
                    if line.startswith("switchboard_store_pool_"))
        assert float(pool["switchboard_store_pool_max"]) >= float(
            pool["switchboard_store_pool_size"]) >= 1
        assert "switchboard_store_write_queue " in text


async def test_token_minting(api: LiveApi, http: aiohttp.ClientSession) -> None:
    body = {"user_id": "dev-agent-1", "role": "agent"}
    async with http.post(f"{api.base}/auth/token", json=body) as r:
        assert r.status == 401
    async with http.post(f"{api.base}/auth/token", json=body, headers=api.headers("agent")) as r:
        assert r.status == 403
    async with http.post(f"{api.base}/auth/token", json=body, headers=api.headers("admin")) as r:
        minted = await r.json()
    assert minted["token_type"] == "bearer" and minted["expires_in"] == 86400
    async with http.post(f"{api.base}/tasks", json={"type": "bugfix"},
                         headers={"Authorization": f"Bearer {minted['access_token']}"}) as r:
        assert r.status == 201
    async with http.post(f"{api.base}/oauth/token", json={
            "grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}) as r:
        assert r.status == 401
