"""Every failure is ``{"detail": ...}`` JSON with the right status; nothing leaks."""

from __future__ import annotations

import logging

import pytest

from tests.server.conftest import KEYS, AppClient, MakeClient

AGENT = {"X-API-Key": KEYS["agent"]}
USER = {"X-API-Key": KEYS["user"]}


async def detail(resp) -> str:  # type: ignore[no-untyped-def]
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert "detail" in body and isinstance(body["detail"], str)
    return body["detail"]


# -- bodies --------------------------------------------------------------------------------


async def test_valid_body_is_parsed_and_declared_status_used(client: AppClient) -> None:
    resp = await client.post("/api/v1/things", json={"type": "bugfix", "priority": 1}, headers=AGENT)
    assert resp.status == 201
    assert await resp.json() == {"success": True, "id": "thing_1", "priority": 1}


@pytest.mark.parametrize(
    "body,expected",
    [
        ({"type": "bugfix", "priority": False}, "body.priority: Input should be a valid integer"),
        ({"type": "bugfix", "priority": "1"}, "body.priority: Input should be a valid integer"),
        ({"type": "bugfix", "priority": 7}, "body.priority: Input should be less than or equal to 3"),
        ({"type": 5}, "body.type: Input should be a valid string"),
        ({}, "body.type: Field required"),
        ({"type": "x", "priorty": 1}, "body.priorty: Extra inputs are not permitted"),
        ({"type": "x", "kind": "c"}, "body.kind: Input should be 'a' or 'b'"),
        ({"type": "x", "payload": {"size": True}}, "body.payload.size: Input should be a valid integer"),
        ([1, 2], "body: Input should be an object"),
    ],
)
async def test_strict_model_400_names_the_field(client: AppClient, body: object, expected: str) -> None:
    resp = await client.post("/api/v1/things", json=body, headers=AGENT)
    assert resp.status == 400
    assert (await detail(resp)).startswith(expected)
    # the field alone too (a console marks that input), as engine validation sends it
    assert (await resp.json())["field"] == expected.split(":")[0]


async def test_several_errors_are_reported_together(client: AppClient) -> None:
    resp = await client.post("/api/v1/things", json={"priority": "x", "kind": 1}, headers=AGENT)
    text = await detail(resp)
    assert "body.type" in text and "body.priority" in text and "body.kind" in text


@pytest.mark.parametrize("raw", [b"{not json", b'{"type": "x",}', b"\xff\xfe", b"nul"])
async def test_invalid_json_is_400(client: AppClient, raw: bytes) -> None:
    resp = await client.post("/api/v1/things", data=raw, headers=AGENT)
    assert resp.status == 400
    assert await detail(resp) == "request body is not valid JSON"


async def test_empty_body_is_400(client: AppClient) -> None:
    resp = await client.post("/api/v1/things", data=b"", headers=AGENT)
    assert resp.status == 400
    assert "empty" in await detail(resp)


async def test_big_body_is_413_json(make_client: MakeClient) -> None:
    client = await make_client(server={"max_body_bytes": 2048})
    big = {"type": "x" * 5000}
    for path in ("/api/v1/things", "/api/v1/echo"):
        resp = await client.post(path, json=big, headers=AGENT)
        assert resp.status == 413, path
        assert await detail(resp) == "request body too large; the limit is 2048 bytes"
    assert (await client.post("/api/v1/echo", data=b"x" * 2000, headers=USER)).status == 200


# -- query and path ------------------------------------------------------------------------


async def test_query_is_parsed_with_lists(client: AppClient) -> None:
    resp = await client.get(
        "/api/v1/things?page=2&status=pending,failed&status=running&unknown=1", headers=USER
    )
    assert await resp.json() == {"page": 2, "limit": 20, "status": ["pending", "failed", "running"]}


@pytest.mark.parametrize(
    "query,expected",
    [
        ("page=abc", "query.page: Input should be a valid integer"),
        ("page=0", "query.page: Input should be greater than or equal to 1"),
        ("limit=101", "query.limit: Input should be less than or equal to 100"),
    ],
)
async def test_bad_query_is_400_naming_the_parameter(
    client: AppClient, query: str, expected: str
) -> None:
    resp = await client.get(f"/api/v1/things?{query}", headers=USER)
    assert resp.status == 400
    assert (await detail(resp)).startswith(expected)


async def test_bad_path_parameter_is_400(client: AppClient) -> None:
    resp = await client.get("/api/v1/things/nope", headers=USER)
    assert resp.status == 400
    assert (await detail(resp)).startswith("path.thing_id: String should match pattern")


# -- routing errors ------------------------------------------------------------------------


async def test_unknown_route_is_404_json(client: AppClient) -> None:
    resp = await client.get("/api/v1/nowhere")
    assert resp.status == 404
    assert await detail(resp) == "no route for GET /api/v1/nowhere"


async def test_wrong_method_is_405_json_with_allow(client: AppClient) -> None:
    resp = await client.put("/api/v1/public")
    assert resp.status == 405
    assert resp.headers["Allow"] == "GET"
    assert "PUT not allowed" in await detail(resp)


# -- engine errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "thing,status,expected",
    [
        ("conflict", 409, "already approved"),
        ("invalid", 400, "priority: must be one of P0, P1, P2, P3"),
        ("forbidden", 403, "only the gate's reviewers may answer"),
    ],
)
async def test_engine_errors_map_to_statuses(
    client: AppClient, thing: str, status: int, expected: str
) -> None:
    resp = await client.post(f"/api/v1/things/{thing}/approve", headers=AGENT)
    assert resp.status == status
    assert await detail(resp) == expected


async def test_engine_not_found_is_404(client: AppClient) -> None:
    resp = await client.get("/api/v1/things/thing_missing", headers=USER)
    assert resp.status == 404
    assert await detail(resp) == "thing thing_missing not found"


@pytest.mark.parametrize(
    "what,status,expected",
    [
        ("pydantic", 400, "thing_id: String should match pattern"),
        ("aiohttp", 409, "already running"),
        ("aiohttp-plain", 410, "Gone"),
        ("api", 503, "store is restarting"),
    ],
)
async def test_other_raised_errors_keep_their_status(
    client: AppClient, what: str, status: int, expected: str
) -> None:
    resp = await client.get(f"/api/v1/raises/{what}")
    assert resp.status == status
    assert (await detail(resp)).startswith(expected)
    if what == "api":
        assert resp.headers["Retry-After"] == "3"


# -- crashes -------------------------------------------------------------------------------


async def test_500_never_leaks_and_is_logged_with_the_request_id(
    client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="switchboard.server")
    resp = await client.get("/api/v1/crash", headers={"X-Request-ID": "req-42"})
    assert resp.status == 500
    body = await resp.json()
    assert body == {"detail": "internal error", "request_id": "req-42"}
    assert resp.headers["X-Request-ID"] == "req-42"
    raw = await resp.text()
    assert "hunter2" not in raw and "Traceback" not in raw and "RuntimeError" not in raw
    (record,) = [r for r in caplog.records if r.name == "switchboard.server"]
    assert record.exc_info is not None and "req-42" in record.getMessage()
    assert "hunter2" in caplog.text  # the operator does get the details


# -- request ids ---------------------------------------------------------------------------


async def test_request_id_is_echoed_or_generated(client: AppClient) -> None:
    echoed = await client.get("/api/v1/public", headers={"X-Request-ID": "abc-123.x:y"})
    assert echoed.headers["X-Request-ID"] == "abc-123.x:y"
    generated = await client.get("/api/v1/public")
    other = await client.get("/api/v1/public")
    assert len(generated.headers["X-Request-ID"]) == 32
    assert generated.headers["X-Request-ID"] != other.headers["X-Request-ID"]
    for hostile in ("a b", "x" * 200, "<script>"):
        resp = await client.get("/api/v1/public", headers={"X-Request-ID": hostile})
        assert resp.headers["X-Request-ID"] != hostile


async def test_streaming_responses_get_the_headers_too(client: AppClient) -> None:
    resp = await client.get("/api/v1/stream", headers={**USER, "X-Request-ID": "s-1"})
    assert resp.headers["X-Request-ID"] == "s-1"
    assert "X-RateLimit-Limit" in resp.headers
    assert await resp.text() == "data: hello\n\n"


async def test_engine_validation_names_the_field_alone_too(client: AppClient) -> None:
    """400 (the seeds' tables), and ``field`` for clients that show the input it is about."""
    resp = await client.post("/api/v1/things/invalid/approve", headers=AGENT)
    assert resp.status == 400
    assert await resp.json() == {"detail": "priority: must be one of P0, P1, P2, P3",
                                 "field": "priority"}
