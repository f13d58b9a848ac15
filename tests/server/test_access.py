"""Per-route minimum roles: 401 without credentials, 403 for a role too low, public stays open."""

from __future__ import annotations

import pytest
from aiohttp import web

from switchboard.engine.config import load_config
from switchboard.server.app import init_app
from tests.server import dummy_routes
from tests.server.conftest import KEYS, SECRET, AppClient, MakeClient, bearer

# (method, path, minimum role or None, JSON body)
ROUTES = [
    ("GET", "/api/v1/public", None, None),
    ("GET", "/public", None, None),
    ("GET", "/api/v1/things", "user", None),
    ("POST", "/api/v1/things", "agent", {"type": "bugfix"}),
    ("GET", "/api/v1/things/thing_1", "user", None),
    ("DELETE", "/api/v1/things/thing_1", "admin", None),
]
RANK = {None: 0, "user": 1, "agent": 2, "admin": 3}


@pytest.mark.parametrize("method,path,minimum,body", ROUTES)
@pytest.mark.parametrize("role", [None, "user", "agent", "admin"])
async def test_role_matrix(
    client: AppClient, method: str, path: str, minimum: str | None, body: object, role: str | None
) -> None:
    headers = {} if role is None else {"X-API-Key": KEYS[role]}
    resp = await client.request(method, path, json=body, headers=headers)
    if RANK[role] >= RANK[minimum]:
        assert resp.status in (200, 201, 204), await resp.text()
    elif role is None:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        assert "authentication required" in (await resp.json())["detail"]
    else:
        assert resp.status == 403
        assert (await resp.json()) == {"detail": f"requires role {minimum}; you have {role}"}


async def test_jwt_roles_are_enforced_like_api_key_roles(client: AppClient, auth) -> None:
    user = auth.mint("viewer", "user")
    admin = auth.mint("root", "admin")
    assert (await client.post("/api/v1/things", json={"type": "x"}, headers=bearer(user))).status == 403
    assert (await client.post("/api/v1/things", json={"type": "x"}, headers=bearer(admin))).status == 201


async def test_role_is_checked_before_the_body_is_read(client: AppClient) -> None:
    """A user posting garbage gets 403, not a 400 that reveals how the body is parsed."""
    resp = await client.post("/api/v1/things", data=b"{not json", headers={"X-API-Key": KEYS["user"]})
    assert resp.status == 403


async def test_principal_reaches_the_handler(client: AppClient) -> None:
    resp = await client.post("/api/v1/things/t1/approve", headers={"X-API-Key": KEYS["agent"]})
    assert (await resp.json()) == {"success": True, "approved_by": "agent_key"}


async def test_handler_mounted_without_a_spec_requires_admin(make_client: MakeClient) -> None:
    """Fail closed: a raw aiohttp route that skipped the declaration is admin-only."""
    env = {"ORCHESTRATOR_JWT_SECRET": SECRET,
           "ORCHESTRATOR_API_KEY_A": f"{KEYS['admin']}:admin",
           "ORCHESTRATOR_API_KEY_U": f"{KEYS['agent']}:agent"}
    app = init_app(load_config(env=env), tables=[dummy_routes.routes])

    async def raw(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_get("/api/v1/raw", raw)
    client = await make_client(app)
    assert (await client.get("/api/v1/raw")).status == 401
    assert (await client.get("/api/v1/raw", headers={"X-API-Key": KEYS["agent"]})).status == 403
    assert (await client.get("/api/v1/raw", headers={"X-API-Key": KEYS["admin"]})).status == 200
