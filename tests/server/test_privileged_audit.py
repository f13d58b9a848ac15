"""Token minting and provider switching leave exactly one audit row each, committed before
the 2xx, and never the token itself. Tokens from client credentials remember how they were
obtained: requests made with them act with auth method ``oauth``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from switchboard.engine.audit import AuditQuery
from switchboard.server.auth import Authenticator
from tests.server.conftest import LiveApi, start_live_api

CLIENTS = [{"client_id": "ci-bot", "client_secret": "ci-secret-0123456789", "role": "admin"},
           {"client_id": "reporter", "client_secret": "rep-secret-0123456789", "role": "user"}]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[LiveApi]:
    live, runner = await start_live_api(tmp_path, auth={"oauth_clients": CLIENTS})
    try:
        yield live
    finally:
        await runner.cleanup()
        await live.engine.stop()


async def post(api: LiveApi, path: str, body: Any, headers: dict[str, str] | None = None,
               **kw: Any) -> tuple[int, Any, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{api.base}{path}", json=body, headers=headers or {}, **kw) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


async def rows(api: LiveApi, action: str) -> list[Any]:
    return await api.engine.audit.list(AuditQuery(action=action))


def raw_audit(api: LiveApi) -> bytes:
    import sqlite3

    with sqlite3.connect(api.engine.config.db_path) as conn:
        return repr(conn.execute("SELECT * FROM audit_log").fetchall()).encode()


async def test_admin_minting_a_token_is_audited(api: LiveApi) -> None:
    status, out, headers = await post(api, "/auth/token",
                                      {"user_id": "dev-agent-1", "role": "agent",
                                       "ttl_seconds": 3600},
                                      api.headers("admin", "root"))
    assert status == 200, out
    [row] = await rows(api, "token.mint")
    assert (row.principal, row.role, row.auth_method, row.object_type, row.object_id) == (
        "root", "admin", "jwt", "token", "dev-agent-1")
    assert row.as_dict()["after"] == {"subject": "dev-agent-1", "role": "agent",
                                      "ttl_seconds": 3600, "auth_method": "jwt"}
    assert row.request_id == headers["X-Request-ID"]
    assert out["access_token"].encode() not in raw_audit(api)
    # refusals mint nothing and record nothing
    status, _, _ = await post(api, "/auth/token", {"user_id": "x"}, api.headers("agent"))
    assert status == 403
    assert len(await rows(api, "token.mint")) == 1


async def test_client_credentials_are_audited_and_remembered(api: LiveApi) -> None:
    status, out, _ = await post(api, "/oauth/token", {
        "grant_type": "client_credentials", "client_id": "ci-bot",
        "client_secret": "ci-secret-0123456789"})
    assert status == 200, out
    token = out["access_token"]
    [row] = await rows(api, "token.mint")
    assert (row.principal, row.role, row.auth_method, row.object_id) == (
        "ci-bot", "admin", "oauth", "ci-bot")
    assert row.as_dict()["after"] == {"subject": "ci-bot", "role": "admin",
                                      "ttl_seconds": 86400, "auth_method": "oauth"}
    assert token.encode() not in raw_audit(api)
    # the token says how it was obtained ...
    principal = Authenticator(api.engine.config.auth).authenticate(token)
    assert (principal.subject, principal.role, principal.kind) == ("ci-bot", "admin", "oauth")
    # ... so what it does is recorded as oauth (here: minting another token)
    status, _, _ = await post(api, "/auth/token", {"user_id": "svc", "role": "user"},
                              {"Authorization": f"Bearer {token}"})
    assert status == 200
    second = (await rows(api, "token.mint"))[-1]
    assert (second.principal, second.auth_method, second.object_id) == ("ci-bot", "oauth", "svc")
    # the form-encoded grant is audited the same way; a wrong secret records nothing
    async with aiohttp.ClientSession() as http, http.post(f"{api.base}/oauth/token", data={
            "grant_type": "client_credentials", "client_id": "reporter",
            "client_secret": "rep-secret-0123456789"}) as resp:
        assert resp.status == 200
    status, _, _ = await post(api, "/oauth/token", {"grant_type": "client_credentials",
                                                    "client_id": "ci-bot",
                                                    "client_secret": "wrong-secret-000000"})
    assert status == 401
    assert [(r.principal, r.role) for r in await rows(api, "token.mint")] == [
        ("ci-bot", "admin"), ("ci-bot", "admin"), ("reporter", "user")]
    assert (await api.engine.audit.verify()).ok


async def test_an_admin_minted_token_is_not_oauth(api: LiveApi) -> None:
    _, out, _ = await post(api, "/auth/token", {"user_id": "ci-bot", "role": "admin"},
                           api.headers("admin"))
    principal = Authenticator(api.engine.config.auth).authenticate(out["access_token"])
    assert principal.kind == "jwt"


async def test_provider_switch_is_audited(api: LiveApi) -> None:
    status, out, _ = await post(api, "/providers/switch",
                                {"provider": "builtin", "config": {"timeout": 5000}},
                                api.headers("admin", "root"))
    assert status == 200, out
    [row] = await rows(api, "provider.switch")
    assert (row.principal, row.object_type, row.object_id) == ("root", "provider", "builtin")
    assert row.as_dict()["before"] == {"default": "builtin"}
    assert row.as_dict()["after"] == {"default": "builtin", "config": {"timeout": 5000}}
    # a refused switch (unavailable or unknown provider, or not admin) records nothing
    for body, role in (({"provider": "openai"}, "admin"), ({"provider": "nope"}, "admin"),
                       ({"provider": "builtin"}, "agent")):
        status, _, _ = await post(api, "/providers/switch", body, api.headers(role))
        assert status in (403, 409, 400)
    assert len(await rows(api, "provider.switch")) == 1
