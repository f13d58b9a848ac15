"""GET /webhooks, GET /webhooks/deliveries and redelivery over HTTP (admin only)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.engine.test_webhooks import SECRET, Receiver
from tests.server.conftest import start_live_api


async def test_deliveries_are_listed_and_redelivered_by_admins_only(
        tmp_path: Path, http: aiohttp.ClientSession) -> None:
    receiver = await Receiver().start()
    receiver.answer = lambda n: 404 if n == 0 else 200
    secret_path = f"{receiver.url}?token=xyz"
    api, runner = await start_live_api(
        tmp_path, webhooks=[{"name": "ops", "url": secret_path, "secret": SECRET}],
        webhook_delivery={"poll_seconds": 0.05}, tools={"http": {"allow_hosts": ["127.0.0.1"]}})
    try:
        admin = api.headers("admin", "root")
        async with http.get(f"{api.base}/webhooks", headers=admin) as r:
            [hook] = (await r.json())["data"]
        assert hook["name"] == "ops" and hook["signed"] and "xyz" not in hook["url"]
        async with http.post(f"{api.base}/tasks", headers=api.headers("agent", "a"),
                             json={"type": "bugfix", "priority": "P1"}) as r:
            assert r.status == 201
        await receiver.wait_for(1)
        await asyncio.sleep(0.2)
        async with http.get(f"{api.base}/webhooks/deliveries", params={"status": "dead"},
                            headers=admin) as r:
            page = await r.json()
        [dead] = page["data"]
        assert dead["last_status"] == 404 and page["next_after"] == dead["id"]
        for role in ("user", "agent"):
            async with http.get(f"{api.base}/webhooks/deliveries",
                                headers=api.headers(role)) as r:
                assert r.status == 403
        url = f"{api.base}/webhooks/deliveries/{dead['id']}/redeliver"
        async with http.post(url, headers=api.headers("agent")) as r:
            assert r.status == 403
        async with http.post(url, headers=admin) as r:
            assert r.status == 200 and (await r.json())["data"]["status"] == "pending"
        await receiver.wait_for(2)
        async with http.post(url, headers=admin) as r:  # delivered now (or queued): not dead
            assert r.status in (200, 409)
        async with http.post(f"{api.base}/webhooks/deliveries/999/redeliver", headers=admin) as r:
            assert r.status == 404
    finally:
        await runner.cleanup()
        await api.engine.stop()
        await receiver.stop()
