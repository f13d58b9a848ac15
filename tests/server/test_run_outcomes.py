"""Truthful run outcomes (issue 12): ``/run`` answers only seed 000's statuses, a run blocked
on a task approval is ``paused`` with the approval to decide, no response names a server path.

Against a real engine on a temporary SQLite file and a real server on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.server.conftest import LiveApi, start_live_api

pytestmark = pytest.mark.both_stores

GUARDED = """
id = "guarded"
name = "Guarded deploy"
[state_schema]
query = { type = "string" }
result = { type = "object" }
[[steps]]
id = "deploy"
type = "task"
task_type = "deployment"
priority = "P0"
payload = { target = "{query}" }
result_key = "result"
"""

BROKEN = 'id = "broken"\n[[steps]]\nid = 3\n'


@pytest.fixture
async def api(tmp_path: Path, store_url: str) -> AsyncIterator[LiveApi]:
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "guarded.toml").write_text(GUARDED)
    (defs / "broken.toml").write_text(BROKEN)
    live, runner = await start_live_api(tmp_path / "data", store_url, orchestrations={
        "dir": str(defs), "watch": False}, server={"sync_run_wait_seconds": 0.5})
    try:
        yield live
    finally:
        await runner.cleanup()
        await live.engine.stop()


async def post(http: aiohttp.ClientSession, url: str, headers: dict[str, str],
               body: Any) -> tuple[int, Any, Any]:
    async with http.post(url, json=body, headers=headers) as r:
        return r.status, await r.json(), r.headers


async def test_run_blocked_on_a_task_approval_is_paused_and_resumes_by_deciding_it(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    status, body, _ = await post(http, f"{api.base}/orchestrations/guarded/run",
                                 api.headers("agent", "starter"), {"message": "prod"})
    assert status == 200 and body["status"] == "paused", body
    form = body["human_input_required"]
    assert form["step_id"] == "deploy" and "P0" in form["prompt"]
    assert [f["name"] for f in form["fields"]] == ["decision", "notes"]
    assert form["fields"][0]["options"] == "approve,reject"
    approval_id = body["approval_id"]
    assert form["approval_id"] == approval_id
    async with http.get(f"{api.base}/approvals/{approval_id}", headers=api.headers()) as r:
        approval = (await r.json())["approval"]
    assert approval["kind"] == "task" and approval["status"] == "pending"

    run_id = body["run_id"]
    resume = f"{api.base}/orchestrations/runs/{run_id}/resume"
    # a viewer may not decide a task approval; a wrong decision names the field
    status, body, _ = await post(http, resume, api.headers("user"),
                                 {"response": {"decision": "approve"}})
    assert status == 403, body
    status, body, _ = await post(http, resume, api.headers("admin"),
                                 {"response": {"decision": "maybe"}})
    assert status == 400 and "response.decision" in body["detail"], body
    # approved: the task is queued and the run keeps working (202 with where to follow)
    status, body, headers = await post(http, resume, api.headers("admin", "reviewer"),
                                       {"response": {"decision": "approve", "notes": "ok"}})
    assert status == 202 and body["status"] == "running", body
    assert headers["Location"] == f"/api/v1/orchestrations/runs/{run_id}"
    async with http.get(f"{api.base}/approvals/{approval_id}", headers=api.headers()) as r:
        assert (await r.json())["approval"]["status"] == "approved"


async def test_rejecting_the_task_approval_fails_the_run(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    _, body, _ = await post(http, f"{api.base}/orchestrations/guarded/run",
                            api.headers("agent", "starter"), {"message": "prod"})
    run_id = body["run_id"]
    status, body, _ = await post(http, f"{api.base}/orchestrations/runs/{run_id}/resume",
                                 api.headers("admin", "reviewer"),
                                 {"response": {"decision": "reject", "notes": "freeze"}})
    assert status == 200 and body["status"] == "failed", body


async def test_no_response_names_a_server_path(api: LiveApi, http: aiohttp.ClientSession,
                                               tmp_path: Path) -> None:
    async with http.get(f"{api.base}/orchestrations/guarded", headers=api.headers("user")) as r:
        text = await r.text()
        detail = await r.json()
    assert detail["source"] == "guarded.toml"
    assert str(tmp_path) not in text
    async with http.get(f"{api.base}/orchestrations/problems",
                        headers=api.headers("user")) as r:
        text = await r.text()
        problems = (await r.json())["problems"]
    assert problems and {p["file"] for p in problems} == {"broken.toml"}
    assert str(tmp_path) not in text
