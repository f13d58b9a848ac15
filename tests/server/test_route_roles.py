"""Every mounted route, every role: no credentials -> 401, too low -> 403, enough -> neither.

Derived from the route registry itself, so a new route cannot ship without its role check.
"""

from __future__ import annotations

import re

import aiohttp

from switchboard.server.app_keys import ROUTES_KEY
from switchboard.server.auth import ROLE_RANK
from tests.server.conftest import start_live_api

ROLES = ["user", "agent", "admin"]


async def test_every_route_enforces_its_role(tmp_path, http: aiohttp.ClientSession) -> None:
    api, runner = await start_live_api(tmp_path)
    try:
        specs = list(runner.app[ROUTES_KEY])
        admin_only = {(s.method, s.openapi_path) for s in specs if s.role == "admin"}
        assert {("GET", "/audit"), ("GET", "/audit/verify")} <= admin_only
        checked = 0
        for spec in specs:
            if spec.role is None or spec.root_only:
                continue
            path = re.sub(r"\{[^}]+\}", "x_missing", spec.openapi_path)
            url = api.base + path
            async with http.request(spec.method, url, json={}) as r:
                assert r.status == 401, (spec.method, path, r.status)
            for role in ROLES:
                async with http.request(spec.method, url, json={},
                                        headers=api.headers(role)) as r:
                    status = r.status
                    # an open event stream never ends: its status is all we need
                    body = b"" if r.content_type == "text/event-stream" else await r.read()
                if ROLE_RANK[role] < ROLE_RANK[spec.role]:
                    assert status == 403, (spec.method, path, role, status)
                else:
                    assert status not in (401, 403), (spec.method, path, role, status, body)
                    assert status < 500, (spec.method, path, role, status, body)
            checked += 1
        assert checked >= 20
    finally:
        await runner.cleanup()
        await api.engine.stop()
