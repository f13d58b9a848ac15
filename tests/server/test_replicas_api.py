"""Two API replicas on one PostgreSQL database (issue 16): what one client sends to both at
once must come out as it would from one server.

Each replica is a real engine and a real server on 127.0.0.1; both use the same fresh
schema of this run's database (``tests.pg``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests import pg
from tests.server.conftest import LiveApi, start_live_api


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[list[LiveApi]]:
    url = pg.server().schema_url()
    started: list[tuple[LiveApi, Any]] = []
    try:
        for name in ("a", "b"):
            started.append(await start_live_api(tmp_path / name, url))
        yield [live for live, _ in started]
    finally:
        for live, runner in started:
            await runner.cleanup()
            await live.engine.stop()
        await pg.server().drop_schema(url)


async def test_one_idempotency_key_sent_to_two_replicas_at_once_is_one_task(
        replicas: list[LiveApi], http: aiohttp.ClientSession) -> None:
    """Both replicas miss the key, both insert: the loser must answer with the winner's
    task (200), never a 500 from the unique index."""

    async def create(live: LiveApi, key: str) -> tuple[int, Any]:
        async with http.post(f"{live.base}/tasks", headers=live.headers("agent"),
                             json={"type": "bugfix", "priority": "P2",
                                   "idempotency_key": key}) as r:
            return r.status, await r.json()

    keys = [f"key-{n}" for n in range(40)]
    answers = await asyncio.gather(*(create(live, key) for key in keys for live in replicas))
    for index, key in enumerate(keys):
        (status_a, a), (status_b, b) = answers[2 * index], answers[2 * index + 1]
        assert sorted((status_a, status_b)) == [200, 201], (key, a, b)
        assert a["task"]["id"] == b["task"]["id"]
    async with http.get(f"{replicas[1].base}/tasks", params={"limit": "100"},
                        headers=replicas[1].headers("user")) as r:
        page = await r.json()
    assert page["pagination"]["total"] == len(keys)


async def test_one_approval_answered_on_two_replicas_at_once_is_decided_once(
        replicas: list[LiveApi], http: aiohttp.ClientSession) -> None:
    """Approve on one replica, reject on the other, at the same moment: one decision wins
    (200), the other hears 409; the task moves once."""
    a, b = replicas
    ids = []
    for n in range(10):
        async with http.post(f"{a.base}/tasks", headers=a.headers("agent", "requester"),
                             json={"type": "deployment", "priority": "P1",
                                   "payload": {"n": n}}) as r:
            ids.append((await r.json())["task"]["approval_id"])

    async def answer(live: LiveApi, aid: str, verb: str) -> int:
        async with http.post(f"{live.base}/approvals/{aid}/{verb}",
                             headers=live.headers("agent", f"approver-{verb}")) as r:
            await r.read()
            return r.status

    statuses = await asyncio.gather(*(answer(live, aid, verb) for aid in ids
                                      for live, verb in ((a, "approve"), (b, "reject"))))
    for index, aid in enumerate(ids):
        pair = sorted(statuses[2 * index:2 * index + 2])
        assert pair == [200, 409], (aid, pair)
    async with http.get(f"{b.base}/approvals/pending", headers=b.headers("user")) as r:
        assert (await r.json())["count"] == 0
    for index, aid in enumerate(ids):
        approval = await b.engine.approvals.get(aid)
        assert approval.status == ("approved" if statuses[2 * index] == 200 else "rejected")


async def test_agents_registered_on_two_replicas_at_once(
        replicas: list[LiveApi], http: aiohttp.ClientSession) -> None:
    """Registrations of one name on both replicas: each answer is a 2xx or a 4xx, never a 500."""
    async def register(live: LiveApi, n: int) -> int:
        async with http.post(f"{live.base}/agents", headers=live.headers("admin"),
                             json={"name": f"agent {n}", "type": "data_processor"}) as r:
            await r.read()
            return r.status

    statuses = await asyncio.gather(*(register(live, n) for n in range(10) for live in replicas))
    assert all(status < 500 for status in statuses), statuses
