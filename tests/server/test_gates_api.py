"""Issue 9 over HTTP: nobody walks around the human gate.

A real server on 127.0.0.1 with two agent principals (agent-a, agent-b), a user (viewer) and
an admin (root). Each bypass the issue lists is tried as an outsider would, then refused.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from switchboard.engine.audit import AuditQuery
from switchboard.engine.events import EventFilter
from tests.engine.test_separation import GATES, restricted
from tests.server.conftest import LiveApi, start_live_api

pytestmark = pytest.mark.both_stores


@pytest.fixture
async def gapi(tmp_path: Path, store_url: str) -> Any:
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "gates.toml").write_text(GATES)
    (defs / "editorial.toml").write_text(restricted("editorial", ["admin", "user"]))
    (defs / "admin-only.toml").write_text(restricted("admin-only", ["admin"]))
    (defs / "users-only.toml").write_text(restricted("users-only", ["user"]))
    live, runner = await start_live_api(tmp_path / "data", store_url,
                                        orchestrations={"dir": str(defs), "watch": False})
    try:
        yield live
    finally:
        await runner.cleanup()
        await live.engine.stop()


class Who:
    """Headers for the four principals."""

    def __init__(self, api: LiveApi) -> None:
        self.a = api.headers("agent", "agent-a")
        self.b = api.headers("agent", "agent-b")
        self.user = api.headers("user", "viewer")
        self.admin = api.headers("admin", "root")


async def call(http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str],
               body: Any = None) -> tuple[int, Any]:
    async with http.request(method, url, json=body, headers=headers) as r:
        data = await r.json() if r.content_type == "application/json" else None
        return r.status, data


async def p0(api: LiveApi, http: aiohttp.ClientSession, headers: dict[str, str]) -> dict:
    status, body = await call(http, "POST", f"{api.base}/tasks", headers,
                              {"type": "deployment", "priority": "P0"})
    assert status == 201 and body["task"]["status"] == "awaiting_approval"
    return body["task"]


async def claim(api: LiveApi, http: aiohttp.ClientSession, headers: dict[str, str],
                agent_id: str) -> int:
    status, _ = await call(http, "POST", f"{api.base}/tasks/claim", headers,
                           {"agent_id": agent_id})
    return status


async def start(api: LiveApi, http: aiohttp.ClientSession, orch: str,
                headers: dict[str, str]) -> dict:
    status, body = await call(http, "POST", f"{api.base}/orchestrations/{orch}/run", headers,
                              {"message": "x"})
    assert status == 200 and body["status"] == "paused", body
    return body


async def test_the_creator_cannot_approve_its_own_p0(gapi: LiveApi,
                                                     http: aiohttp.ClientSession) -> None:
    who = Who(gapi)
    task = await p0(gapi, http, who.a)
    approve = f"{gapi.base}/approvals/{task['approval_id']}/approve"
    status, body = await call(http, "POST", approve, who.a)
    assert status == 403 and "self-approval is not allowed" in body["detail"]
    status, body = await call(http, "GET", f"{gapi.base}/tasks/{task['id']}", who.user)
    assert body["task"]["status"] == "awaiting_approval"
    status, body = await call(http, "POST", approve, who.b)
    assert status == 200 and body["status"] == "approved"


async def test_self_approval_when_configured(tmp_path: Path, store_url: str,
                                             http: aiohttp.ClientSession) -> None:
    api, runner = await start_live_api(tmp_path, store_url, approvals={"allow_self_approval": True})
    try:
        who = Who(api)
        task = await p0(api, http, who.a)
        status, _ = await call(http, "POST",
                               f"{api.base}/approvals/{task['approval_id']}/approve", who.a)
        assert status == 200
        rows = await api.engine.audit.list(AuditQuery(object_id=task["approval_id"]))
        assert [(r.action, r.principal, r.auth_method) for r in rows] == [
            ("approval.self_approve", "agent-a", "jwt")]
        assert rows[0].request_id
    finally:
        await runner.cleanup()
        await api.engine.stop()


async def test_cancel_then_retry_does_not_skip_the_approval(
        gapi: LiveApi, http: aiohttp.ClientSession) -> None:
    who = Who(gapi)
    status, reg = await call(http, "POST", f"{gapi.base}/agents/register", who.b,
                             {"name": "ops worker", "type": "ops_agent"})
    worker = reg["data"]["id"]
    task = await p0(gapi, http, who.a)
    url = f"{gapi.base}/tasks/{task['id']}"
    assert (await call(http, "POST", f"{url}/cancel", who.a))[0] == 200
    status, body = await call(http, "POST", f"{url}/retry", who.b)  # not the creator
    assert status == 403 and "agent-a" in body["detail"]
    status, body = await call(http, "POST", f"{url}/retry", who.a)
    assert status == 200 and body["status"] == "awaiting_approval"
    assert await claim(gapi, http, who.b, worker) == 204  # the worker gets nothing
    _, got = await call(http, "GET", url, who.user)
    new_approval = got["task"]["approval_id"]
    assert new_approval != task["approval_id"]
    _, pending = await call(http, "GET", f"{gapi.base}/approvals/pending", who.user)
    assert [a["approval_id"] for a in pending["approvals"]] == [new_approval]
    assert (await call(http, "PATCH", f"{url}/status?status=in_progress", who.a))[0] == 409
    status, _ = await call(http, "POST", f"{gapi.base}/approvals/{new_approval}/approve", who.b)
    assert status == 200
    assert await claim(gapi, http, who.b, worker) == 200


async def test_patch_status_cannot_leave_awaiting_approval(
        gapi: LiveApi, http: aiohttp.ClientSession) -> None:
    who = Who(gapi)
    task = await p0(gapi, http, who.a)
    for target in ("in_progress", "completed", "failed"):
        status, body = await call(http, "PATCH",
                                  f"{gapi.base}/tasks/{task['id']}/status?status={target}",
                                  who.b)
        assert status == 409 and "awaiting approval" in body["detail"], body


async def test_gate_roles_are_membership_not_rank(gapi: LiveApi,
                                                  http: aiohttp.ClientSession) -> None:
    who = Who(gapi)
    run = await start(gapi, http, "editorial", who.a)
    resume = f"{gapi.base}/orchestrations/runs/{run['run_id']}/resume"
    status, body = await call(http, "POST", resume, who.b, {"response": {"answer": "ship"}})
    assert status == 403 and "admin or user" in body["detail"], body
    status, body = await call(http, "POST", resume, who.user, {"response": {"answer": "ship"}})
    assert status == 200 and body["status"] == "completed", body
    # the approvals inbox applies the same rule
    run = await start(gapi, http, "editorial", who.a)
    approve = f"{gapi.base}/approvals/{run['approval_id']}/approve"
    assert (await call(http, "POST", approve, who.a, {"response": {"answer": "x"}}))[0] == 403
    status, body = await call(http, "POST", approve, who.user, {"response": {"answer": "x"}})
    assert status == 200 and body["message"] == "Approved by viewer"


async def test_cancel_at_an_admin_only_gate(gapi: LiveApi, http: aiohttp.ClientSession) -> None:
    who = Who(gapi)
    run = await start(gapi, http, "admin-only", who.a)
    cancel = f"{gapi.base}/orchestrations/runs/{run['run_id']}/cancel"
    status, body = await call(http, "POST", cancel, who.a)
    assert status == 403 and "admin" in body["detail"]
    _, got = await call(http, "GET", f"{gapi.base}/orchestrations/runs/{run['run_id']}", who.user)
    assert got["status"] == "paused"
    status, body = await call(http, "POST", cancel, who.admin)
    assert status == 200 and body["status"] == "cancelled"


async def test_break_glass_is_visible_on_the_approval(gapi: LiveApi,
                                                      http: aiohttp.ClientSession) -> None:
    who = Who(gapi)
    run = await start(gapi, http, "users-only", who.a)
    status, body = await call(http, "POST",
                              f"{gapi.base}/orchestrations/runs/{run['run_id']}/resume",
                              who.admin, {"response": "override", "approval_id":
                                          run["approval_id"]})
    assert status == 200 and body["status"] == "completed"
    _, got = await call(http, "GET", f"{gapi.base}/approvals/{run['approval_id']}", who.user)
    assert got["approval"]["decided_by"] == "root" and got["approval"]["break_glass"] is True
    rows = await gapi.engine.audit.list(AuditQuery(object_id=run["approval_id"]))
    assert [r.action for r in rows] == ["approval.break_glass"]


async def test_resume_names_the_gate(gapi: LiveApi, http: aiohttp.ClientSession) -> None:
    who = Who(gapi)
    run = await start(gapi, http, "gates", who.a)
    resume = f"{gapi.base}/orchestrations/runs/{run['run_id']}/resume"
    first = run["approval_id"]
    status, body = await call(http, "POST", resume, who.b,
                              {"response": "one", "approval_id": first, "step_id": "g1"})
    assert status == 200 and body["status"] == "paused"
    assert body["approval_id"] != first
    status, body = await call(http, "POST", resume, who.b,
                              {"response": "dup", "approval_id": first})
    assert status == 409 and "no longer open" in body["detail"]
    status, body = await call(http, "POST", f"{resume}/stream", who.b,
                              {"response": "dup", "step_id": "g1"})
    assert status == 409 and "no longer open" in body["detail"]
    status, body = await call(http, "POST", resume, who.b,
                              {"response": "x", "approval_id": "approval_nope"})
    assert status == 404
    # seed 000's shape, no ids: answers the gate that is open
    status, body = await call(http, "POST", resume, who.b, {"response": "two"})
    assert status == 200 and body["status"] == "completed"
    assert body["shared_state"] == {"first": "one", "second": "two"}


@pytest.mark.slow
async def test_fifty_concurrent_resumes_times_fifty_runs(
        gapi: LiveApi, http: aiohttp.ClientSession) -> None:
    """Each gate of each run is answered exactly once; every other resume gets 409."""
    who = Who(gapi)
    runs = await asyncio.gather(*(start(gapi, http, "gates", who.a) for _ in range(50)))
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def resume(run: dict, answer: str, **gate: str) -> tuple[str, int]:
            status, _ = await call(session, "POST",
                                   f"{gapi.base}/orchestrations/runs/{run['run_id']}/resume",
                                   who.b, {"response": answer, **gate})
            return run["run_id"], status

        first = await asyncio.gather(*(resume(run, f"first {i}", approval_id=run["approval_id"])
                                       for run in runs for i in range(50)))
        second = await asyncio.gather(*(resume(run, f"second {i}", step_id="g2")
                                        for run in runs for i in range(50)))
    for results in (first, second):
        assert Counter(status for _, status in results) == {200: 50, 409: 2450}
        assert Counter(run_id for run_id, status in results if status == 200) == {
            run["run_id"]: 1 for run in runs}
    engine = gapi.engine
    answered = Counter(r.object_id for r in await engine.audit.list(
        AuditQuery(action="gate.answer", limit=1000)))
    for run in runs:
        done = await engine.runs.get(run["run_id"])
        assert done.status == "completed"
        assert [s.step_id for s in done.step_history] == ["g1", "g2"]
        assert done.shared_state["first"].startswith("first ")
        assert done.shared_state["second"].startswith("second ")
        gates = await engine.approvals.for_run(run["run_id"])
        assert [(g.step_id, g.status) for g in gates] == [("g1", "approved"),
                                                          ("g2", "approved")]
        answers = await engine.bus.history(
            0, EventFilter(types=("run.resumed",), run_id=run["run_id"]), limit=100)
        assert [e.payload["step_id"] for e in answers] == ["g1", "g2"]
        assert [answered[g.approval_id] for g in gates] == [1, 1]


async def test_the_python_client_names_the_gate(gapi: LiveApi) -> None:
    from switchboard.server.sdk.client import AsyncClient, Conflict

    async with AsyncClient(gapi.base, token=gapi.token("agent", "agent-b")) as client:
        run = await client.orchestrations.run("gates", "x")
        first = run.approval_id
        assert first
        after = await client.runs.resume(run.run_id, "one", approval_id=first)
        assert after.status == "paused"
        with pytest.raises(Conflict):
            await client.runs.resume(run.run_id, "dup", approval_id=first)
        with pytest.raises(Conflict):
            await client.runs.resume(run.run_id, "dup", step_id="g1")
        events = [e async for e in client.runs.resume_stream(run.run_id, "two", step_id="g2")]
        assert events[-2].event == "orchestration_complete"
