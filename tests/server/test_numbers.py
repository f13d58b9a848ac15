"""Numbers that do not fit: refused at the edge with the field named (400), never a 500.

Integers past 64 bits used to reach SQLite (OverflowError -> 500); NaN/Infinity in bodies were
accepted and stored as null; a JWT ``exp`` given as a numeric string was accepted. Every test
here runs against a real server on 127.0.0.1 with a real SQLite file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from switchboard.server.jsonio import INT64_MAX, find_bad_number
from switchboard.server.ws_protocol import SubscribeMessage
from tests.server.conftest import SECRET

BIG = str(INT64_MAX + 1)  # 9223372036854775808


@pytest.mark.parametrize(("path", "field"), [
    (f"/tasks?page={BIG}", "query.page"),
    ("/tasks?page=1961339486369520128", "query.page"),  # fits int64; page * limit does not
    (f"/agents?page={BIG}", "query.page"),
    (f"/orchestrations/runs?page={BIG}", "query.page"),
    (f"/sessions?page={BIG}", "query.page"),
    (f"/events?after={BIG}", "query.after"),
    (f"/events?after=-{BIG}0", "query.after"),
    (f"/events?limit={BIG}", "query.limit"),
])
async def test_query_integers_past_64_bits_are_400_naming_the_parameter(
        api: Any, http: Any, path: str, field: str) -> None:
    async with http.get(api.base + path, headers=api.headers()) as resp:
        body = await resp.json()
        assert resp.status == 400, body
        assert body["detail"].startswith(field + ":"), body


@pytest.mark.parametrize("path", ["/events/stream", "/orchestrations/runs/run_x/stream"])
async def test_last_event_id_past_64_bits_is_400(api: Any, http: Any, path: str) -> None:
    if "runs/" in path:  # a real run, so the 404 for an unknown run does not answer first
        run = await api.engine.runs.start(api.engine.orchestrations.get("deployment"), "x")
        path = path.replace("run_x", run.run_id)
    headers = {**api.headers(), "Last-Event-ID": BIG}
    async with http.get(api.base + path, headers=headers) as resp:
        body = await resp.json()
        assert resp.status == 400, body
        assert body["detail"].startswith("header.Last-Event-ID:"), body


@pytest.mark.parametrize(("literal", "field"), [
    ('{"payload": {"x": NaN}}', "body.payload.x"),
    ('{"payload": {"x": [1, Infinity]}}', "body.payload.x[1]"),
    ('{"payload": {"x": -Infinity}}', "body.payload.x"),
    ('{"payload": {"x": 1e999}}', "body.payload.x"),
    ('{"sla_target": 1e999}', "body.sla_target"),
    ('{"sla_target": NaN}', "body.sla_target"),
    (f'{{"metadata": {{"n": {BIG}}}}}', "body.metadata.n"),
    (f'{{"payload": {{"deep": [{{"n": -{BIG}0}}]}}}}', "body.payload.deep[0].n"),
])
async def test_bodies_with_numbers_that_do_not_fit_are_refused_and_not_stored(
        api: Any, http: Any, literal: str, field: str) -> None:
    body = '{"type": "bugfix", ' + literal[1:]
    headers = {**api.headers(), "Content-Type": "application/json"}
    async with http.post(api.base + "/tasks", data=body, headers=headers) as resp:
        answer = await resp.json()
        assert resp.status == 400, answer
        assert answer["detail"].startswith(field + ":"), answer
    stored = await api.engine.store.read(lambda c: c.fetchone("SELECT COUNT(*) FROM tasks"))
    assert stored[0] == 0


async def test_numbers_that_fit_and_lookalike_strings_pass(api: Any, http: Any) -> None:
    body = {"type": "bugfix", "payload": {"max": INT64_MAX, "min": -INT64_MAX - 1, "f": 1e308,
                                          "s": "NaN Infinity 12345678901234567890123 1e999"}}
    async with http.post(api.base + "/tasks", json=body, headers=api.headers()) as resp:
        assert resp.status == 201, await resp.text()
        task = (await resp.json())["task"]
    assert task["payload"] == body["payload"]


def test_find_bad_number_walks_nested_values() -> None:
    path, problem = find_bad_number({"a": [1, {"b": 2**63}]}) or ((), "")
    assert path == ("a", 1, "b") and "64 bits" in problem
    assert find_bad_number({"a": [True, 1.5, "x", None, -(2**63)]}) is None
    assert find_bad_number([float("nan")])[0] == (0,)


def test_ws_subscribe_after_is_bounded_to_int64() -> None:
    ok = SubscribeMessage.model_validate(
        {"type": "subscribe", "channel": "task_events", "after": INT64_MAX}, strict=True)
    assert ok.after == INT64_MAX
    with pytest.raises(ValueError, match="less than or equal to 9223372036854775807"):
        SubscribeMessage.model_validate(
            {"type": "subscribe", "channel": "task_events", "after": INT64_MAX + 1}, strict=True)


async def test_openapi_documents_the_int64_range(api: Any, http: Any) -> None:
    async with http.get(api.base + "/openapi.json") as resp:
        doc = await resp.json()
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/events"]["get"]["parameters"]}
    assert params["after"]["maximum"] == INT64_MAX and params["after"]["format"] == "int64"
    tasks = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/tasks"]["get"]["parameters"]}
    assert tasks["page"]["maximum"] == 1_000_000_000


# -- JWT claims -----------------------------------------------------------------------------


def _signed(payload_json: str) -> str:
    """A token whose payload is exactly ``payload_json``, signed with the server's secret."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(payload_json.encode())
    sig = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


@pytest.mark.parametrize(("claim", "value"), [
    ("exp", '"{soon}"'),  # a numeric string: pyjwt int()s it and accepted it
    ("exp", "true"),
    ("exp", str(10**30)),
    ("iat", '"{now}"'),
    ("nbf", '"{now}"'),
    ("nbf", "[1]"),
])
async def test_jwt_time_claims_must_be_numbers(api: Any, http: Any, claim: str, value: str) -> None:
    now = int(time.time())
    claims = {"sub": "someone", "role": "admin", "iat": now, "exp": now + 600}
    claims.pop(claim, None)
    text = json.dumps(claims)[:-1] + f', "{claim}": ' + value.format(soon=now + 600, now=now) + "}"
    headers = {"Authorization": f"Bearer {_signed(text)}"}
    async with http.get(api.base + "/tasks", headers=headers) as resp:
        body = await resp.json()
        assert resp.status == 401, body
        assert claim in body["detail"] or "invalid token" in body["detail"], body
    good = _signed(json.dumps({"sub": "someone", "role": "admin", "iat": now, "exp": now + 600}))
    async with http.get(api.base + "/tasks", headers={"Authorization": f"Bearer {good}"}) as resp:
        assert resp.status == 200
