"""Issue 11: tokens have a maximum lifetime, an id, and can be revoked (across restarts)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from switchboard.engine.audit import AuditQuery
from tests.server.conftest import LiveApi, start_live_api


async def _get(http: aiohttp.ClientSession, api: LiveApi, token: str) -> tuple[int, Any]:
    async with http.get(f"{api.base}/tasks", headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json()


def _forge(api: LiveApi, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "long-lived", "role": "user", "iat": now, "exp": now + 60, **claims}
    return jwt.encode(body, api.engine.config.auth.jwt_secret, algorithm="HS256")


async def test_a_token_living_longer_than_the_maximum_is_refused(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    year_9999 = _forge(api, exp=253402300799)
    status, body = await _get(http, api, year_9999)
    assert status == 401 and "max_token_ttl_seconds" in body["detail"]
    assert (await _get(http, api, _forge(api)))[0] == 200
    async with http.post(f"{api.base}/auth/token", headers=api.headers("admin"),
                         json={"user_id": "x", "ttl_seconds": 2_592_001}) as r:
        assert r.status == 400 and "ttl_seconds" in (await r.json())["detail"]


async def test_minted_tokens_carry_an_id(api: LiveApi, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{api.base}/auth/token", headers=api.headers("admin"),
                         json={"user_id": "viewer", "role": "user"}) as r:
        token = (await r.json())["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert claims["jti"] != jwt.decode(api.token("user"), options={"verify_signature": False})["jti"]


async def test_revoking_one_token_refuses_it_at_once_and_after_a_restart(
        tmp_path: Path, http: aiohttp.ClientSession) -> None:
    api, runner = await start_live_api(tmp_path)
    leaked, other = api.token("agent", "worker-1"), api.token("agent", "worker-1")
    try:
        assert (await _get(http, api, leaked))[0] == 200  # now cached as verified
        async with http.post(f"{api.base}/auth/revoke", headers=api.headers("admin", "root"),
                             json={"token": leaked, "reason": "leaked in a log"}) as r:
            assert r.status == 200, await r.text()
            answer = await r.json()
        assert answer["kind"] == "jti"
        status, body = await _get(http, api, leaked)
        assert status == 401 and body["detail"] == "token revoked"
        assert (await _get(http, api, other))[0] == 200  # the same principal's other token
        [row] = await api.engine.audit.list(AuditQuery(action="token.revoke"))
        assert (row.principal, row.reason) == ("root", "leaked in a log")
        assert leaked not in str(row.as_dict())
    finally:
        await runner.cleanup()
        await api.engine.stop()
    api, runner = await start_live_api(tmp_path)  # the same data folder: a restart
    try:
        assert (await _get(http, api, leaked))[0] == 401
        assert (await _get(http, api, other))[0] == 200
    finally:
        await runner.cleanup()
        await api.engine.stop()


async def test_revoking_a_subject_refuses_every_token_it_had(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    first, second = api.token("agent", "rogue"), api.token("agent", "rogue")
    bystander = api.token("agent", "honest")
    async with http.post(f"{api.base}/auth/revoke", headers=api.headers("admin"),
                         json={"subject": "rogue"}) as r:
        assert r.status == 200 and (await r.json())["kind"] == "subject"
    for token in (first, second):
        status, body = await _get(http, api, token)
        assert status == 401 and "revoked" in body["detail"]
    assert (await _get(http, api, bystander))[0] == 200
    later = _forge(api, sub="rogue", role="agent", iat=int(time.time()) + 2)
    assert (await _get(http, api, later))[0] == 200  # issued after the revocation


async def test_revoke_needs_exactly_one_target_and_a_token_of_ours(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    admin = api.headers("admin")
    for body in ({}, {"jti": "a", "subject": "b"}):
        async with http.post(f"{api.base}/auth/revoke", headers=admin, json=body) as r:
            assert r.status == 400 and "exactly one" in (await r.json())["detail"]
    foreign = jwt.encode({"sub": "x", "exp": int(time.time()) + 60, "jti": "j"},
                         "another-secret-that-is-long-enough-0123456789", algorithm="HS256")
    async with http.post(f"{api.base}/auth/revoke", headers=admin, json={"token": foreign}) as r:
        assert r.status == 400 and "body.token" in (await r.json())["detail"]
    async with http.post(f"{api.base}/auth/revoke", headers=api.headers("agent"),
                         json={"subject": "x"}) as r:
        assert r.status == 403
