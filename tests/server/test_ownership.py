"""Issue 9, object-level authorization: principals are bound to the agents and tasks they act on.

Each test runs against a real server on 127.0.0.1 with separate principals: two agent
principals A (``agent-a``) and B (``agent-b``), a user and an admin. Every bypass from the
issue is tried as an outsider would: B acting on A's agent id or on the task A holds.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from switchboard.engine.audit import AuditQuery
from tests.server.conftest import LiveApi

A, B = "agent-a", "agent-b"


async def call(http: aiohttp.ClientSession, api: LiveApi, method: str, path: str, who: str,
               json_body: Any = None, params: Any = None) -> tuple[int, Any]:
    """``who`` is ``agent-a``/``agent-b`` (role agent), ``user`` or ``admin``."""
    role, sub = ("agent", who) if who.startswith("agent-") else (who, f"{who}-1")
    async with http.request(method, f"{api.base}{path}", json=json_body, params=params,
                            headers=api.headers(role, sub)) as r:
        text = await r.text()
        return r.status, (json.loads(text) if text else None)


async def audit_rows(api: LiveApi, action: str, object_id: str | None = None) -> list[Any]:
    return await api.engine.audit.list(AuditQuery(action=action, object_id=object_id))


async def register(http: aiohttp.ClientSession, api: LiveApi, who: str, agent_id: str,
                   agent_type: str = "dev_agent") -> dict[str, Any]:
    status, body = await call(http, api, "POST", "/agents/register", who,
                              {"name": agent_id, "type": agent_type, "agent_id": agent_id})
    assert status == 200, body
    return body["data"]


async def a_holds_a_task(http: aiohttp.ClientSession, api: LiveApi) -> tuple[str, str]:
    """A registers ``agent_a1`` and claims a fresh bugfix task. -> (task id, lease id)."""
    await register(http, api, A, "agent_a1")
    status, created = await call(http, api, "POST", "/tasks", A, {"type": "bugfix"})
    assert status == 201
    status, claimed = await call(http, api, "POST", "/tasks/claim", A,
                                 {"agent_id": "agent_a1", "wait": 1})
    assert status == 200 and claimed["task_id"] == created["task_id"], claimed
    return claimed["task_id"], claimed["lease_id"]


async def task_of(api: LiveApi, task_id: str) -> Any:
    return await api.engine.tasks.get(task_id)


# -- B acting on the task A holds -------------------------------------------------------------

WORKER_MUTATIONS = [
    ("complete", "POST", "/complete", {"result": {"by": "B"}}, None),
    ("fail", "POST", "/fail", {"error": "B says no"}, None),
    ("fail-retry", "POST", "/fail", {"error": "B says again", "retry": True}, None),
    ("cancel", "POST", "/cancel", {"reason": "B cancels"}, None),
    ("logs", "POST", "/logs", {"level": "error", "message": "forged by B"}, None),
    ("progress", "POST", "/progress", {"progress": 99}, None),
    ("release", "POST", "/release", {}, None),
    ("lease", "POST", "/lease", {}, None),
    ("status-completed", "PATCH", "/status", None, {"status": "completed"}),
    ("status-failed", "PATCH", "/status", None, {"status": "failed", "error": "B"}),
    ("status-in_progress", "PATCH", "/status", None, {"status": "in_progress"}),
]


@pytest.mark.parametrize(("name", "method", "suffix", "body", "params"), WORKER_MUTATIONS,
                         ids=[m[0] for m in WORKER_MUTATIONS])
async def test_other_agent_cannot_act_on_a_held_task(
        api: LiveApi, http: aiohttp.ClientSession, name: str, method: str, suffix: str,
        body: Any, params: Any) -> None:
    task_id, lease = await a_holds_a_task(http, api)
    status, reply = await call(http, api, method, f"/tasks/{task_id}{suffix}", B, body, params)
    assert status == 403, (name, status, reply)
    assert "held by another principal" in reply["detail"], reply
    assert lease not in reply["detail"]
    task = await task_of(api, task_id)
    assert task.status == "in_progress" and task.lease_id == lease and task.progress == 0
    assert all("forged" not in line.message for line in task.logs)
    # A's own completion still goes through
    status, done = await call(http, api, "POST", f"/tasks/{task_id}/complete", A,
                              {"lease_id": lease, "result": {"by": "A"}})
    assert status == 200 and done["status"] == "completed"
    assert (await task_of(api, task_id)).result == {"by": "A"}


async def test_a_guessed_lease_is_a_conflict_and_changes_nothing(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    task_id, lease = await a_holds_a_task(http, api)
    for suffix in ("/release", "/lease", "/complete"):
        status, reply = await call(http, api, "POST", f"/tasks/{task_id}{suffix}", B,
                                   {"lease_id": "0123456789abcdef"})
        assert status == 409 and "no longer valid" in reply["detail"], (suffix, reply)
    assert (await task_of(api, task_id)).lease_id == lease


async def test_the_holder_acts_without_a_lease_seed003_flow(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    """Seed 003: PATCH in_progress, then completed, never sending a lease."""
    status, created = await call(http, api, "POST", "/tasks", A, {"type": "bugfix"})
    tid = created["task_id"]
    status, _ = await call(http, api, "PATCH", f"/tasks/{tid}/status", A,
                           params={"status": "in_progress"})
    assert status == 200
    assert (await task_of(api, tid)).claimed_principal == A
    status, _ = await call(http, api, "PATCH", f"/tasks/{tid}/status", A,
                           params={"status": "in_progress"})  # a repeat is harmless
    assert status == 200
    for suffix, body in (("/progress", {"progress": 40}),
                         ("/logs", {"message": "halfway"}), ("/lease", {})):
        status, reply = await call(http, api, "POST", f"/tasks/{tid}{suffix}", A, body)
        assert status in (200, 201), (suffix, reply)
    status, reply = await call(http, api, "PATCH", f"/tasks/{tid}/status", B,
                               params={"status": "completed"})
    assert status == 403 and "held by another principal" in reply["detail"]
    status, reply = await call(http, api, "PATCH", f"/tasks/{tid}/status", A,
                               params={"status": "completed"}, json_body={"result": {"ok": 1}})
    assert status == 200 and reply["status"] == "completed"
    status, _ = await call(http, api, "PATCH", f"/tasks/{tid}/status", A,
                           params={"status": "completed"})
    assert status == 200  # repeating your own report
    status, reply = await call(http, api, "PATCH", f"/tasks/{tid}/status", B,
                               params={"status": "completed"})
    assert status in (403, 409) and reply["detail"]


async def test_an_unheld_task_cannot_be_failed_by_a_bystander(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    status, created = await call(http, api, "POST", "/tasks", A, {"type": "bugfix"})
    tid = created["task_id"]
    for who in (A, B):  # nobody holds it: a worker must claim it first
        status, reply = await call(http, api, "POST", f"/tasks/{tid}/fail", who,
                                   {"error": "nope"})
        assert status == 403 and "claim it first" in reply["detail"], reply
        status, reply = await call(http, api, "POST", f"/tasks/{tid}/logs", B,
                                   {"message": "forged"})
        assert status == 403, reply
    assert (await task_of(api, tid)).status == "assigned"


# -- admins override, audited -------------------------------------------------------------------

async def test_admin_override_is_allowed_and_audited(api: LiveApi, http: aiohttp.ClientSession) -> None:
    task_id, _ = await a_holds_a_task(http, api)
    status, _ = await call(http, api, "POST", f"/tasks/{task_id}/progress", "admin",
                           {"progress": 10})
    assert status == 200
    status, reply = await call(http, api, "POST", f"/tasks/{task_id}/complete", "admin",
                               {"result": {"by": "admin"}})
    assert status == 200 and reply["status"] == "completed"
    rows = await audit_rows(api, "task.override", task_id)
    assert [(r.principal, r.role) for r in rows] == [("admin-1", "admin")] * 2
    assert {json.loads(r.after)["action"] for r in rows} == {"progress", "complete"}
    assert all(json.loads(r.before)["holder"] == A for r in rows)
    # the holder acting on its own task writes no override row
    task_id2, lease2 = await a_holds_a_task(http, api)
    await call(http, api, "POST", f"/tasks/{task_id2}/complete", A, {"lease_id": lease2})
    assert await audit_rows(api, "task.override", task_id2) == []


async def test_admin_acting_as_an_owned_agent_is_audited(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    await register(http, api, A, "agent_a1")
    status, _ = await call(http, api, "POST", "/agents/agent_a1/heartbeat", "admin", {})
    assert status == 200
    rows = await audit_rows(api, "agent.override", "agent_a1")
    assert len(rows) == 1 and json.loads(rows[0].before)["owner"] == A
    assert (await api.engine.agents.get("agent_a1")).owner == A  # an override does not rebind


# -- B acting as A's agent ----------------------------------------------------------------------

async def test_claim_as_another_principals_agent_http(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    await register(http, api, A, "agent_a1")
    await call(http, api, "POST", "/tasks", A, {"type": "bugfix"})
    status, reply = await call(http, api, "POST", "/tasks/claim", B,
                               {"agent_id": "agent_a1", "wait": 0})
    assert status == 403
    assert reply["detail"].startswith("agent agent_a1 belongs to another principal"), reply
    assert (await api.engine.tasks.list(_running()))[1] == 0


def _running() -> Any:
    from switchboard.engine.tasks import TaskQuery

    return TaskQuery(status="in_progress")


async def test_claim_as_another_principals_agent_websocket(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    await register(http, api, A, "agent_a1")
    await call(http, api, "POST", "/tasks", A, {"type": "bugfix"})
    async with http.ws_connect(f"{api.base}/ws") as ws:
        await ws.send_json({"type": "auth", "token": api.token("agent", B)})
        assert (await ws.receive_json(timeout=5))["type"] == "auth_ok"
        await ws.send_json({"type": "claim", "agent_id": "agent_a1", "wait": 0, "id": 7})
        reply = await ws.receive_json(timeout=5)
    assert reply["type"] == "error" and reply["id"] == 7, reply
    assert "belongs to another principal" in reply["detail"]
    assert (await api.engine.tasks.list(_running()))[1] == 0
    # and A claims over the WebSocket, becoming the holder
    async with http.ws_connect(f"{api.base}/ws") as ws:
        await ws.send_json({"type": "auth", "token": api.token("agent", A)})
        await ws.receive_json(timeout=5)
        await ws.send_json({"type": "claim", "agent_id": "agent_a1", "wait": 1})
        reply = await ws.receive_json(timeout=5)
    assert reply["type"] == "task_assigned", reply
    assert (await task_of(api, reply["task"]["task_id"])).claimed_principal == A


async def test_heartbeat_as_another_principals_agent(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    await register(http, api, A, "agent_a1")
    await call(http, api, "POST", "/agents/agent_a1/heartbeat", A, {})
    status, reply = await call(http, api, "POST", "/agents/agent_a1/heartbeat", B,
                               {"status": "error"})
    assert status == 403 and "belongs to another principal" in reply["detail"]
    agent = await api.engine.agents.get("agent_a1")
    assert agent.status == "active" and agent.owner == A


@pytest.mark.parametrize("agent_type", ["dev_agent", "ops_agent"])
async def test_register_over_another_principals_agent(
        api: LiveApi, http: aiohttp.ClientSession, agent_type: str) -> None:
    await register(http, api, A, "agent_a1")
    status, reply = await call(http, api, "POST", "/agents/register", B,
                               {"name": "imposter", "type": agent_type, "agent_id": "agent_a1"})
    assert status == 403 and "belongs to another principal" in reply["detail"], reply
    agent = await api.engine.agents.get("agent_a1")
    assert (agent.owner, agent.type, agent.name) == (A, "dev_agent", "agent_a1")
    again = await register(http, api, A, "agent_a1")  # A re-attaching after a restart
    assert again["id"] == "agent_a1" and again["owner"] == A


async def test_a_pre_created_agent_binds_to_its_first_agent_principal(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    status, created = await call(http, api, "POST", "/agents", "admin",
                                 {"name": "pre", "type": "dev_agent", "id": "agent_pre"})
    assert status == 201 and created["data"]["owner"] is None
    # A and B race for it: exactly one binds it, atomically
    results = await asyncio.gather(*[
        call(http, api, "POST", "/agents/agent_pre/heartbeat", who, {})
        for who in (A, B) * 5])
    winners = {who for (status, _), who in zip(results, (A, B) * 5, strict=True)
               if status == 200}
    assert len(winners) == 1, results
    owner = (await api.engine.agents.get("agent_pre")).owner
    assert {owner} == winners
    loser = B if owner == A else A
    status, reply = await call(http, api, "POST", "/tasks/claim", loser,
                               {"agent_id": "agent_pre"})
    assert status == 403 and "belongs to another principal" in reply["detail"]


async def test_an_unowned_agent_binds_on_first_claim(api: LiveApi, http: aiohttp.ClientSession) -> None:
    await call(http, api, "POST", "/agents", "admin",
               {"name": "pre", "type": "dev_agent", "id": "agent_pre"})
    status, _ = await call(http, api, "POST", "/tasks/claim", B, {"agent_id": "agent_pre"})
    assert status == 204
    assert (await api.engine.agents.get("agent_pre")).owner == B
    # an admin using an unowned agent does not bind it
    await call(http, api, "POST", "/agents", "admin",
               {"name": "pre2", "type": "dev_agent", "id": "agent_pre2"})
    status, _ = await call(http, api, "POST", "/agents/agent_pre2/heartbeat", "admin", {})
    assert status == 200 and (await api.engine.agents.get("agent_pre2")).owner is None


async def test_admin_sets_the_owner_on_create_and_update_audited(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    status, created = await call(http, api, "POST", "/agents", "admin",
                                 {"name": "b's", "type": "dev_agent", "id": "agent_b1",
                                  "owner": B})
    assert status == 201 and created["data"]["owner"] == B
    status, reply = await call(http, api, "POST", "/tasks/claim", A, {"agent_id": "agent_b1"})
    assert status == 403
    status, updated = await call(http, api, "PUT", "/agents/agent_b1", "admin",
                                 {"owner": A, "name": "now a's"})
    assert status == 200 and updated["data"]["owner"] == A
    status, _ = await call(http, api, "POST", "/tasks/claim", A, {"agent_id": "agent_b1"})
    assert status == 204
    status, _ = await call(http, api, "PUT", "/agents/agent_b1", A, {"owner": A})
    assert status == 403  # the route is admin-only
    created_rows = await audit_rows(api, "agent.create", "agent_b1")
    assert len(created_rows) == 1 and json.loads(created_rows[0].after)["owner"] == B
    update_rows = await audit_rows(api, "agent.update", "agent_b1")
    assert len(update_rows) == 1
    assert json.loads(update_rows[0].before) == {"owner": B, "name": "b's"}
    assert json.loads(update_rows[0].after) == {"owner": A, "name": "now a's"}
    status, _ = await call(http, api, "DELETE", "/agents/agent_b1", "admin")
    assert status == 200
    assert len(await audit_rows(api, "agent.delete", "agent_b1")) == 1


# -- cancel: what an agent may do to tasks it created -------------------------------------------

async def test_cancel_rules_for_creators_holders_and_bystanders(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    # the creator cancels its own unclaimed task; a bystander cannot
    _, mine = await call(http, api, "POST", "/tasks", A, {"type": "bugfix"})
    status, reply = await call(http, api, "POST", f"/tasks/{mine['task_id']}/cancel", B)
    assert status == 403 and "created by another principal" in reply["detail"], reply
    status, reply = await call(http, api, "POST", f"/tasks/{mine['task_id']}/cancel", A,
                               {"reason": "duplicate"})
    assert status == 200 and reply["status"] == "cancelled"
    rows = await audit_rows(api, "task.cancel", mine["task_id"])
    assert len(rows) == 1 and rows[0].principal == A and rows[0].reason == "duplicate"
    assert json.loads(rows[0].before)["status"] == "assigned"
    assert json.loads(rows[0].after)["status"] == "cancelled"
    # once claimed by someone else, the creator may not cancel it; the holder may
    _, created = await call(http, api, "POST", "/tasks", A, {"type": "bugfix"})
    await register(http, api, B, "agent_b1")
    status, claimed = await call(http, api, "POST", "/tasks/claim", B,
                                 {"agent_id": "agent_b1", "wait": 1})
    assert claimed["task_id"] == created["task_id"]
    status, reply = await call(http, api, "POST", f"/tasks/{created['task_id']}/cancel", A)
    assert status == 403 and "held by another principal" in reply["detail"]
    status, reply = await call(http, api, "POST", f"/tasks/{created['task_id']}/cancel", B)
    assert status == 200 and reply["status"] == "cancelled"
    # admins may cancel anything unfinished
    _, other = await call(http, api, "POST", "/tasks", B, {"type": "bugfix"})
    status, _ = await call(http, api, "POST", f"/tasks/{other['task_id']}/cancel", "admin")
    assert status == 200
    # users cannot reach the route at all
    _, again = await call(http, api, "POST", "/tasks", A, {"type": "bugfix"})
    status, reply = await call(http, api, "POST", f"/tasks/{again['task_id']}/cancel", "user")
    assert status == 403 and "requires role agent" in reply["detail"]


async def test_cancelling_an_awaiting_approval_task_audits_both(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    _, created = await call(http, api, "POST", "/tasks", A, {"type": "bugfix", "priority": "P1"})
    assert created["task"]["status"] == "awaiting_approval"
    tid, aid = created["task_id"], created["task"]["approval_id"]
    status, _ = await call(http, api, "POST", f"/tasks/{tid}/cancel", A, {"reason": "not needed"})
    assert status == 200
    assert len(await audit_rows(api, "task.cancel", tid)) == 1
    rows = await audit_rows(api, "approval.cancel", aid)
    assert len(rows) == 1 and rows[0].principal == A
    assert json.loads(rows[0].before)["status"] == "pending"


# -- requeue gives up the holder ----------------------------------------------------------------

async def test_a_released_task_has_no_holder_until_claimed_again(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    task_id, lease = await a_holds_a_task(http, api)
    status, _ = await call(http, api, "POST", f"/tasks/{task_id}/release", A, {"lease_id": lease})
    assert status == 200
    assert (await task_of(api, task_id)).claimed_principal is None
    await register(http, api, B, "agent_b1")
    status, claimed = await call(http, api, "POST", "/tasks/claim", B, {"agent_id": "agent_b1"})
    assert status == 200 and claimed["task_id"] == task_id
    status, reply = await call(http, api, "POST", f"/tasks/{task_id}/complete", A, {})
    assert status == 403, reply
    status, reply = await call(http, api, "POST", f"/tasks/{task_id}/complete", A,
                               {"lease_id": lease})
    assert status == 409, reply  # the old lease is lost, as the SDK expects
    status, _ = await call(http, api, "POST", f"/tasks/{task_id}/complete", B, {})
    assert status == 200


# -- lease ids are for holders only --------------------------------------------------------------

async def test_lease_id_is_never_shown_to_users(api: LiveApi, http: aiohttp.ClientSession) -> None:
    task_id, lease = await a_holds_a_task(http, api)
    await call(http, api, "POST", f"/tasks/{task_id}/progress", A, {"progress": 5,
                                                                     "lease_id": lease})
    texts = []
    for path, params in ((f"/tasks/{task_id}", None), ("/tasks", None),
                         ("/tasks", {"status": "running"}), ("/events", {"limit": "100"})):
        async with http.get(f"{api.base}{path}", params=params,
                            headers=api.headers("user")) as r:
            assert r.status == 200, path
            texts.append(await r.text())
    async with http.get(f"{api.base}/events/stream", params={"after": "0"},
                        headers={**api.headers("user"), "Accept": "text/event-stream"}) as r:
        chunk = b""
        while b"task.progress" not in chunk:
            chunk += await asyncio.wait_for(r.content.readany(), 5)
        texts.append(chunk.decode())
    async with http.ws_connect(f"{api.base}/ws") as ws:
        await ws.send_json({"type": "auth", "token": api.token("user")})
        await ws.receive_json(timeout=5)
        await ws.send_json({"type": "subscribe", "channel": "all_events", "after": 0})
        while True:
            msg = await ws.receive_json(timeout=5)
            texts.append(json.dumps(msg))
            if msg.get("event_type") == "task.progress":
                break
    for text in texts:
        assert lease not in text and '"lease_id"' not in text, text[:300]
