"""The assembled API: every mounted route documented; seed 003's limits on real routes."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.server.conftest import start_live_api

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


async def test_every_route_of_the_full_app_is_in_openapi(tmp_path: Path,
                                                         http: aiohttp.ClientSession) -> None:
    api, runner = await start_live_api(tmp_path)
    try:
        async with http.get(f"{api.base}/openapi.json") as r:
            doc = await r.json()
        documented = {(m.upper(), path) for path, item in doc["paths"].items()
                      for m in item if m in HTTP_METHODS}
        mounted = set()
        for route in runner.app.router.routes():
            if route.method == "HEAD":
                continue
            info = route.resource.get_info() if route.resource else {}
            mounted.add((route.method, info.get("path") or info.get("formatter")))
        assert mounted == documented
        for needed in [("POST", "/api/v1/tasks"), ("GET", "/stats"), ("GET", "/metrics"),
                       ("GET", "/api/v1/metrics"), ("GET", "/api/v1/ws"),
                       ("POST", "/api/v1/orchestrations/{orch_id}/run/stream"),
                       ("GET", "/api/v1/events/stream"), ("POST", "/api/v1/oauth/token")]:
            assert needed in documented, needed
        async with http.get(f"{api.base}/docs") as r:
            assert r.status == 200 and "POST" in await r.text()
    finally:
        await runner.cleanup()
        await api.engine.stop()


async def test_seed003_rate_limit_on_post_tasks(tmp_path: Path,
                                                http: aiohttp.ClientSession) -> None:
    api, runner = await start_live_api(tmp_path, rate_limits={"enabled": True})
    try:
        headers = api.headers("agent", "limited-agent")
        for i in range(10):
            async with http.post(f"{api.base}/tasks", json={"type": "bugfix"},
                                 headers=headers) as r:
                assert r.status == 201, i
                assert r.headers["X-RateLimit-Limit"] == "10"
                assert r.headers["X-RateLimit-Remaining"] == str(9 - i)
        async with http.post(f"{api.base}/tasks", json={"type": "bugfix"},
                             headers=headers) as r:
            assert r.status == 429
            body = await r.json()
            assert body["detail"].startswith("Rate limit exceeded. Try again in ")
            assert int(r.headers["Retry-After"]) >= 1
        # another principal has its own bucket; /stats is public with its own rule
        async with http.post(f"{api.base}/tasks", json={"type": "bugfix"},
                             headers=api.headers("agent", "other-agent")) as r:
            assert r.status == 201
        async with http.get(f"{api.root}/stats") as r:
            assert r.status == 200 and r.headers["X-RateLimit-Limit"] == "30"
    finally:
        await runner.cleanup()
        await api.engine.stop()
