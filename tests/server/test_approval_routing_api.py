"""Assignees, delegation, quorum and approval figures over HTTP (issue 14), against a real
server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.server.conftest import LiveApi, start_live_api

ROUTING = {"assign": {"P1": ["user:alice"], "P0": ["role:agent"]},
           "delegates": ["user:carol"], "quorum": {"P0": 2}}


@pytest.fixture
async def routed(tmp_path: Path) -> Any:
    live, runner = await start_live_api(tmp_path, approvals=ROUTING)
    try:
        yield live
    finally:
        await runner.cleanup()
        await live.engine.stop()


async def call(api: LiveApi, http: aiohttp.ClientSession, method: str, path: str,
               who: tuple[str, str], body: Any = None) -> tuple[int, Any]:
    async with http.request(method, api.base + path, json=body,
                            headers=api.headers(*who)) as r:
        return r.status, await r.json()


CREATOR = ("agent", "agent-a")
ALICE = ("user", "alice")
BOB = ("user", "bob")
CAROL = ("user", "carol")
ADMIN = ("admin", "root")


async def new_task(api: LiveApi, http: aiohttp.ClientSession, priority: str) -> dict[str, Any]:
    status, data = await call(api, http, "POST", "/tasks", CREATOR,
                              {"type": "bugfix", "priority": priority})
    assert status == 201, data
    return data["task"]


async def test_pending_for_me_and_reassign(routed: LiveApi,
                                           http: aiohttp.ClientSession) -> None:
    task = await new_task(routed, http, "P1")
    approval_id = task["approval_id"]
    for who, count in ((ALICE, 1), (BOB, 0), (ADMIN, 0)):
        status, data = await call(routed, http, "GET", "/approvals/pending?assignee=me", who)
        assert status == 200 and data["count"] == count, (who, data)
    status, data = await call(routed, http, "GET", "/approvals/pending", BOB)
    assert status == 200 and data["count"] == 1
    assert data["approvals"][0]["assignees"] == ["user:alice"]

    status, data = await call(routed, http, "GET", "/approvals/pending?assignee=bob", ALICE)
    assert 400 <= status < 500 and "assignee" in str(data["detail"])
    status, data = await call(routed, http, "POST", f"/approvals/{approval_id}/reassign",
                              ALICE, {"assignees": ["carol"]})
    assert 400 <= status < 500 and "assignees" in str(data["detail"])
    status, data = await call(routed, http, "POST", f"/approvals/{approval_id}/reassign",
                              BOB, {"assignees": ["user:carol"]})
    assert status == 403 and "assigned to user:alice" in data["detail"]
    status, data = await call(routed, http, "POST", f"/approvals/{approval_id}/reassign",
                              ALICE, {"assignees": ["user:mallory"]})
    assert status == 403 and "not to user:mallory" in data["detail"]
    status, data = await call(routed, http, "POST", f"/approvals/{approval_id}/reassign",
                              ALICE, {"assignees": ["user:carol"], "reason": "on leave"})
    assert status == 200 and data["approval"]["assignees"] == ["user:carol"], data
    status, data = await call(routed, http, "GET", "/approvals/pending?assignee=me", CAROL)
    assert [a["approval_id"] for a in data["approvals"]] == [approval_id]
    status, data = await call(routed, http, "POST", f"/approvals/{approval_id}/approve", CAROL)
    assert status == 200 and data["status"] == "approved"
    status, data = await call(routed, http, "POST", f"/approvals/{approval_id}/reassign",
                              CAROL, {"assignees": ["user:carol"]})
    assert status == 409
    status, data = await call(routed, http, "GET",
                              f"/audit?object_id={approval_id}", ADMIN)
    assert [e["action"] for e in data["data"]] == ["approval.reassign", "approval.approve"]


async def test_quorum_shows_progress_and_refuses_a_second_vote(
        routed: LiveApi, http: aiohttp.ClientSession) -> None:
    task = await new_task(routed, http, "P0")
    approval_id = task["approval_id"]
    url = f"/approvals/{approval_id}/approve"
    status, data = await call(routed, http, "POST", url, ("agent", "agent-b"))
    assert status == 200 and data["status"] == "pending" and "1 of 2" in data["message"]
    status, data = await call(routed, http, "POST", url, ("agent", "agent-b"))
    assert status == 409 and "already voted" in data["detail"]
    status, data = await call(routed, http, "GET", f"/approvals/{approval_id}", BOB)
    approval = data["approval"]
    assert approval["progress"] == "1 of 2" and approval["quorum"] == 2
    assert approval["votes"][0]["by"] == "agent-b" and approval["votes"][0]["at"].endswith("Z")
    status, data = await call(routed, http, "GET", f"/tasks/{task['task_id']}", BOB)
    assert data["task"]["status"] == "awaiting_approval"
    status, data = await call(routed, http, "POST", url, ("agent", "agent-c"))
    assert status == 200 and data["status"] == "approved"
    status, data = await call(routed, http, "GET", f"/tasks/{task['task_id']}", BOB)
    assert data["task"]["status"] == "assigned"


async def test_stats_and_metrics_report_approval_figures(
        routed: LiveApi, http: aiohttp.ClientSession) -> None:
    await new_task(routed, http, "P1")
    async with http.get(routed.base + "/stats") as r:
        data = await r.json()
    figures = data["approvals"]
    assert figures["pending_by_priority"]["P1"] == 1 and figures["overdue"] == 0
    assert set(figures["decision_latency"]) == {"P0", "P1", "P2", "P3"}
    assert data["queue"]["pending_approvals"] == 1
    async with http.get(routed.root + "/metrics") as r:
        text = await r.text()
    assert 'switchboard_approvals_pending_by_priority{priority="P1"} 1.0' in text
    assert "switchboard_approvals_overdue 0.0" in text
