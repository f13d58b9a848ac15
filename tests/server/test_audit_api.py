"""``GET /api/v1/audit`` and ``/audit/verify`` against a real server and SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from switchboard.engine.actors import Actor
from switchboard.engine.audit import GENESIS, record
from switchboard.engine.clock import ManualClock, iso
from switchboard.engine.engine import Engine
from switchboard.engine.store.base import Tx
from tests.server.conftest import LiveApi, make_config

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
ALICE = Actor("alice", "user", "jwt", "req-a")
BOB = Actor("bob", "admin", "api_key", "req-b")


async def start(tmp_path: Path, clock: ManualClock) -> tuple[LiveApi, Any]:
    from switchboard.server.api import build_api_app
    from switchboard.server.app import start_server

    engine = Engine(make_config(storage={"data_dir": str(tmp_path)},
                                rate_limits={"enabled": False}),
                    clock=clock, run_maintenance=False)
    app = build_api_app(engine)
    await engine.start()
    runner, port = await start_server(app, "127.0.0.1", 0)
    return LiveApi(engine, port), runner


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[LiveApi, ManualClock]]:
    clock = ManualClock(START)
    api, runner = await start(tmp_path, clock)
    try:
        yield api, clock
    finally:
        await runner.cleanup()
        await api.engine.stop()


async def seed_rows(engine: Engine, clock: ManualClock) -> None:
    """Six rows, one a minute: three by alice on tasks, three by bob on approvals."""
    for n in range(3):
        def on_task(tx: Tx, n: int = n) -> None:
            record(tx, ALICE, "task.cancel", "task", f"task_{n}",
                   before={"status": "pending"}, after={"status": "cancelled"},
                   reason=f"dup {n}")
        await engine.store.write(on_task)
        clock.advance(60)
    for n, action in enumerate(("approval.approve", "approval.reject", "gate.answer")):
        def on_approval(tx: Tx, n: int = n, action: str = action) -> None:
            record(tx, BOB, action, "approval", f"approval_{n}",
                   after={"status": "decided", "answer": {"decision": "ship"}})
        await engine.store.write(on_approval)
        clock.advance(60)


async def get(http: aiohttp.ClientSession, api: LiveApi, path: str, role: str = "admin",
              **params: Any) -> tuple[int, Any]:
    async with http.get(f"{api.base}{path}", params=params, headers=api.headers(role)) as r:
        return r.status, await r.json()


async def seqs(http: aiohttp.ClientSession, api: LiveApi, **params: Any) -> list[int]:
    status, body = await get(http, api, "/audit", **params)
    assert status == 200, body
    return [row["seq"] for row in body["data"]]


async def test_rows_come_back_typed_and_whole(live: tuple[LiveApi, ManualClock],
                                              http: aiohttp.ClientSession) -> None:
    api, clock = live
    await seed_rows(api.engine, clock)
    status, body = await get(http, api, "/audit")
    assert status == 200
    assert body["next_after"] == 6 and len(body["data"]) == 6
    first = body["data"][0]
    assert first == {
        "seq": 1, "at": "2026-01-01T00:00:00.000Z", "timestamp": START,
        "principal": "alice", "role": "user", "auth_method": "jwt", "action": "task.cancel",
        "object_type": "task", "object_id": "task_0", "before": {"status": "pending"},
        "after": {"status": "cancelled"}, "reason": "dup 0", "request_id": "req-a",
        "prev_hash": GENESIS, "hash": first["hash"],
    }
    assert body["data"][1]["prev_hash"] == first["hash"]
    assert body["data"][5]["after"] == {"status": "decided", "answer": {"decision": "ship"}}


async def test_filters(live: tuple[LiveApi, ManualClock], http: aiohttp.ClientSession) -> None:
    api, clock = live
    await seed_rows(api.engine, clock)
    assert await seqs(http, api, object_type="approval") == [4, 5, 6]
    assert await seqs(http, api, object_type="task", object_id="task_1") == [2]
    assert await seqs(http, api, object_id="approval_2") == [6]
    assert await seqs(http, api, principal="alice") == [1, 2, 3]
    assert await seqs(http, api, principal="nobody") == []
    assert await seqs(http, api, action="approval.reject") == [5]
    assert await seqs(http, api, action="approval.") == [4, 5]
    assert await seqs(http, api, action="approval") == []  # exact unless it ends in "."
    assert await seqs(http, api, action="gate.") == [6]
    # since is inclusive, until exclusive; Z, offsets and naive (UTC) all parse
    assert await seqs(http, api, since=iso(START + 120)) == [3, 4, 5, 6]
    assert await seqs(http, api, until="2026-01-01T00:02:00Z") == [1, 2]
    assert await seqs(http, api, since="2026-01-01T01:01:00+01:00",
                      until="2026-01-01T00:04:00") == [2, 3, 4]
    assert await seqs(http, api, principal="bob", since=iso(START + 240)) == [5, 6]


async def test_paging_by_seq(live: tuple[LiveApi, ManualClock],
                             http: aiohttp.ClientSession) -> None:
    api, clock = live
    await seed_rows(api.engine, clock)
    pages: list[list[int]] = []
    after = 0
    while True:
        status, body = await get(http, api, "/audit", after=after, limit=4)
        assert status == 200
        if not body["data"]:
            assert body["next_after"] == after
            break
        pages.append([row["seq"] for row in body["data"]])
        after = body["next_after"]
    assert pages == [[1, 2, 3, 4], [5, 6]]
    status, body = await get(http, api, "/audit", after=1, limit=2, principal="bob")
    assert [r["seq"] for r in body["data"]] == [4, 5] and body["next_after"] == 5


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"after": "-1"}, "after"),
    ({"after": "x"}, "after"), ({"since": "yesterday"}, "since"),
    ({"until": "2026-13-01T00:00:00Z"}, "until"),
    ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
    ({"action": "x" * 129}, "action"),
])
async def test_bad_query_is_400_naming_the_parameter(
        live: tuple[LiveApi, ManualClock], http: aiohttp.ClientSession,
        params: dict[str, str], field: str) -> None:
    api, _ = live
    status, body = await get(http, api, "/audit", **params)
    assert status == 400, body
    assert f"query.{field}" in body["detail"]


@pytest.mark.parametrize("path", ["/audit", "/audit/verify"])
async def test_admin_only(live: tuple[LiveApi, ManualClock], http: aiohttp.ClientSession,
                          path: str) -> None:
    api, _ = live
    for role in ("user", "agent"):
        status, body = await get(http, api, path, role)
        assert status == 403 and "admin" in body["detail"], body
    async with http.get(f"{api.base}{path}") as r:
        assert r.status == 401
    status, _ = await get(http, api, path, "admin")
    assert status == 200


async def test_verify_reports_the_head_then_the_first_altered_row(
        tmp_path: Path, http: aiohttp.ClientSession) -> None:
    clock = ManualClock(START)
    api, runner = await start(tmp_path, clock)
    try:
        status, body = await get(http, api, "/audit/verify")
        assert body == {"ok": True, "rows": 0, "broken_seq": None, "problem": None,
                        "head": {"seq": 0, "hash": GENESIS}}
        await seed_rows(api.engine, clock)
        status, body = await get(http, api, "/audit/verify")
        _, listed = await get(http, api, "/audit")
        assert status == 200
        assert body == {"ok": True, "rows": 6, "broken_seq": None, "problem": None,
                        "head": {"seq": 6, "hash": listed["data"][5]["hash"]}}
    finally:
        await runner.cleanup()
        await api.engine.stop()

    db = api.engine.config.db_path
    raw = bytearray(db.read_bytes())
    at = raw.find(b"dup 1")
    assert at > 0 and raw.find(b"dup 1", at + 1) < 0
    raw[at + 4] = ord("7")  # "dup 1" -> "dup 7": same length, a silent edit
    db.write_bytes(bytes(raw))

    api, runner = await start(tmp_path, clock)
    try:
        status, body = await get(http, api, "/audit/verify")
        assert status == 200
        assert body["ok"] is False and body["broken_seq"] == 2 and body["rows"] == 1
        assert "altered" in body["problem"]
        assert body["head"] == {"seq": 1, "hash": listed["data"][0]["hash"]}
    finally:
        await runner.cleanup()
        await api.engine.stop()


async def test_openapi_documents_the_fields(live: tuple[LiveApi, ManualClock],
                                            http: aiohttp.ClientSession) -> None:
    api, _ = live
    async with http.get(f"{api.base}/openapi.json") as r:
        doc = await r.json()
    listing = doc["paths"]["/api/v1/audit"]["get"]
    params = {p["name"] for p in listing["parameters"] if p["in"] == "query"}
    assert {"object_type", "object_id", "principal", "action", "since", "until", "after",
            "limit"} <= params
    schemas = doc["components"]["schemas"]

    def resolve(ref: str) -> dict[str, Any]:
        return schemas[ref.rsplit("/", 1)[-1]]

    page_ref = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = resolve(page_ref)
    entry = resolve(page["properties"]["data"]["items"]["$ref"])
    assert {"seq", "at", "principal", "role", "auth_method", "action", "object_type",
            "object_id", "before", "after", "reason", "request_id", "prev_hash",
            "hash"} <= set(entry["properties"])
    assert entry["properties"]["seq"]["type"] == "integer"
    verify = doc["paths"]["/api/v1/audit/verify"]["get"]
    out = resolve(verify["responses"]["200"]["content"]["application/json"]["schema"]["$ref"])
    assert {"ok", "rows", "broken_seq", "problem", "head"} <= set(out["properties"])
