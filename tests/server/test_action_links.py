"""Approval action links (issue 14): single-use, expiring, bound to one approval and one
person; refused when reused, expired, or for another approval; off by default."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from switchboard.engine.audit import AuditQuery
from switchboard.server.logfilters import QueryTokenFilter
from tests.server.conftest import LiveApi, start_live_api


@pytest.fixture
async def lapi(tmp_path: Path) -> Any:
    api, runner = await start_live_api(tmp_path, approvals={"action_links": True})
    try:
        yield api
    finally:
        await runner.cleanup()
        await api.engine.stop()


async def p1(api: LiveApi, http: aiohttp.ClientSession) -> dict[str, Any]:
    async with http.post(f"{api.base}/tasks", headers=api.headers("agent", "agent-a"),
                         json={"type": "bugfix", "priority": "P1"}) as r:
        return (await r.json())["task"]


async def link(api: LiveApi, http: aiohttp.ClientSession, approval_id: str,
               principal: str = "alice", **extra: Any) -> str:
    async with http.post(f"{api.base}/approvals/{approval_id}/links",
                         headers=api.headers("admin", "root"),
                         json={"principal": principal, **extra}) as r:
        assert r.status == 200, await r.text()
        url = (await r.json())["url"]
    return re.sub(r"^http://[^/]+", api.root, url)


def token_of(url: str) -> str:
    return url.split("token=", 1)[1]


async def test_open_then_decide_once(lapi: LiveApi, http: aiohttp.ClientSession) -> None:
    task = await p1(lapi, http)
    url = await link(lapi, http, task["approval_id"], role="agent")
    async with http.get(url) as r:  # opening it (or a chat app's preview) decides nothing
        page = await r.text()
        assert r.status == 200 and "Approve" in page and "alice" in page
        assert r.headers["Referrer-Policy"] == "no-referrer"
    assert (await lapi.engine.approvals.get(task["approval_id"])).status == "pending"
    act = url.split("?")[0]
    form = {"token": token_of(url), "decision": "approve"}
    async with http.post(act, data=form) as r:
        assert r.status == 200 and "approved" in await r.text()
    approval = await lapi.engine.approvals.get(task["approval_id"])
    assert (approval.status, approval.decided_by) == ("approved", "alice")
    async with http.post(act, data=form) as r:  # the same link again
        assert r.status == 403 and "already used" in await r.text()
    async with http.get(url) as r:
        assert r.status == 403
    [row] = await lapi.engine.audit.list(AuditQuery(action="approval.approve"))
    assert (row.principal, row.auth_method) == ("alice", "action_link")
    assert len(await lapi.engine.audit.list(AuditQuery(action="approval.link"))) == 1


async def test_refused_for_another_approval_expired_or_forged(
        lapi: LiveApi, http: aiohttp.ClientSession) -> None:
    first, second = await p1(lapi, http), await p1(lapi, http)
    url = await link(lapi, http, first["approval_id"])
    other = f"{lapi.base}/approvals/{second['approval_id']}/act"
    async with http.post(other, data={"token": token_of(url), "decision": "approve"}) as r:
        assert r.status == 403 and "another approval" in await r.text()
    forged = token_of(url)[:-2] + ("AA" if not token_of(url).endswith("AA") else "BB")
    async with http.post(url.split("?")[0], data={"token": forged, "decision": "approve"}) as r:
        assert r.status == 403 and "not a valid" in await r.text()
    expired = await link(lapi, http, first["approval_id"], ttl_seconds=60)
    lapi.engine.action_links.clock = type("Later", (), {
        "now": staticmethod(lambda: lapi.engine.clock.now() + 120)})()
    async with http.post(expired.split("?")[0],
                         data={"token": token_of(expired), "decision": "reject"}) as r:
        assert r.status == 403 and "expired" in await r.text()
    assert (await lapi.engine.approvals.get(first["approval_id"])).status == "pending"


async def test_a_link_follows_the_same_rules_as_the_api(
        lapi: LiveApi, http: aiohttp.ClientSession) -> None:
    task = await p1(lapi, http)  # created by agent-a: its own link cannot approve it
    url = await link(lapi, http, task["approval_id"], principal="agent-a", role="agent")
    async with http.post(url.split("?")[0],
                         data={"token": token_of(url), "decision": "approve"}) as r:
        assert r.status == 403 and "self-approval" in await r.text()
    assert (await lapi.engine.approvals.get(task["approval_id"])).status == "pending"


async def test_off_by_default_and_minting_is_admin_only(
        tmp_path: Path, http: aiohttp.ClientSession) -> None:
    api, runner = await start_live_api(tmp_path)
    try:
        task = await p1(api, http)
        async with http.post(f"{api.base}/approvals/{task['approval_id']}/links",
                             headers=api.headers("admin"), json={"principal": "alice"}) as r:
            assert r.status == 404 and "action_links" in (await r.json())["detail"]
        async with http.post(f"{api.base}/approvals/{task['approval_id']}/links",
                             headers=api.headers("agent"), json={"principal": "alice"}) as r:
            assert r.status == 403
    finally:
        await runner.cleanup()
        await api.engine.stop()


def test_the_access_log_never_shows_a_link_token() -> None:
    record = logging.LogRecord("aiohttp.access", logging.INFO, __file__, 1, '%s "%s" %s',
                               ("127.0.0.1", "GET /api/v1/approvals/a/act?token=abc.def&x=1 "
                                "HTTP/1.1", 200), None)
    assert QueryTokenFilter().filter(record)
    assert "abc.def" not in record.getMessage() and "token=<redacted>&x=1" in record.getMessage()
