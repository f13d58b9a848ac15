"""Seed 000's orchestration API against a real server, including its complete example."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

from tests.server.conftest import LiveApi, start_live_api

pytestmark = pytest.mark.both_stores

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def oapi(tmp_path: Path, store_url: str) -> Any:
    live, runner = await start_live_api(
        tmp_path, store_url, orchestrations={"dir": str(ROOT / "examples/orchestrations"), "watch": False})
    try:
        yield live
    finally:
        await runner.cleanup()
        await live.engine.stop()


def seed000_complete_example(BASE: str, token: str) -> dict:
    """Seed 000's "Complete example: Run -> Human gate -> Resume", with input() answered."""
    HEADERS = {"Authorization": f"Bearer {token}"}
    resp = requests.post(f"{BASE}/orchestrations/orch-research-report/run", headers=HEADERS,
                         json={"message": "AI orchestration trends 2025"})
    data = resp.json()
    out: dict = {"first": data}
    if data["status"] == "paused":
        run_id = data["run_id"]
        human_prompt = data["human_input_required"]["prompt"]
        out["prompt"] = human_prompt
        decision = "approve"  # input("Approve? (yes/no): ")
        resume_resp = requests.post(f"{BASE}/orchestrations/runs/{run_id}/resume",
                                    headers=HEADERS,
                                    json={"response": {"decision": decision,
                                                       "notes": "Approved via API"}})
        final = resume_resp.json()
        out["final"] = final
        out["article"] = final["shared_state"].get("article", "")[:200]
    return out


async def test_seed000_complete_example(oapi: LiveApi) -> None:
    # one key both runs and answers, as in the seed: the example's gate admits admins and
    # users (exact membership), and starting a run needs an agent: an operator's admin key
    result = await asyncio.to_thread(seed000_complete_example, oapi.base, oapi.token("admin"))
    first = result["first"]
    assert first["status"] == "paused" and first["run_id"]
    hir = first["human_input_required"]
    assert hir["step_id"] == "step-approve"
    assert hir["prompt"] == "Please review the draft article and decide whether to publish."
    assert hir["fields"][0] == {"name": "decision", "type": "select", "label": "Decision",
                                "options": "approve,reject", "required": True,
                                "choices": ["approve", "reject"]}
    assert hir["agent_context"].startswith("Draft article: ")
    final = result["final"]
    assert final["status"] == "completed"
    assert final["response"] == "Research and report generation complete."
    assert set(final["shared_state"]) >= {"query", "research_results", "article"}
    assert final["step_history"][0]["step_id"] == "step-research"
    assert final["step_history"][0]["type"] == "agent" and final["step_history"][0]["turns"] >= 1
    assert result["article"]


async def test_list_and_get(oapi: LiveApi, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{oapi.base}/orchestrations", headers=oapi.headers("user")) as r:
        items = await r.json()
    research = next(i for i in items if i["id"] == "orch-research-report")
    assert research == {"id": "orch-research-report", "name": "Research → Report",
                        "description": "Research a topic and generate a report",
                        "steps": 5, "version": research["version"]}
    async with http.get(f"{oapi.base}/orchestrations/orch-research-report",
                        headers=oapi.headers("user")) as r:
        full = await r.json()
    assert [s["id"] for s in full["steps"]][:3] == ["step-research", "step-write", "step-approve"]
    async with http.get(f"{oapi.base}/orchestrations/nope", headers=oapi.headers("user")) as r:
        assert r.status == 404
    async with http.get(f"{oapi.base}/workflows", headers=oapi.headers("user")) as r:
        workflows = await r.json()
    assert workflows["pagination"]["total"] == 3
    assert {w["status"] for w in workflows["data"]} == {"active"}


async def read_sse(resp: aiohttp.ClientResponse) -> list[tuple[str | None, str, dict]]:
    events: list[tuple[str | None, str, dict]] = []
    ident, name, data = None, None, []
    async for raw in resp.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if name is not None:
                events.append((ident, name, json.loads("\n".join(data))))
            ident, name, data = None, None, []
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(": ")
        if key == "id":
            ident = value
        elif key == "event":
            name = value
        elif key == "data":
            data.append(value)
    return events


async def test_run_stream_then_resume_stream(oapi: LiveApi, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{oapi.base}/orchestrations/orch-research-report/run/stream",
                         json={"message": "quantum computing"},
                         headers=oapi.headers("agent")) as r:
        assert r.content_type == "text/event-stream"
        events = await read_sse(r)
    names = [name for _, name, _ in events]
    assert names[0] == "step_start" and names[-2:] == ["human_input_required", "done"]
    for name in ("step_complete", "agent_turn", "tool_execution", "tool_result"):
        assert name in names
    allowed = {"step_start", "step_complete", "agent_turn", "tool_execution", "tool_result",
               "human_input_required", "orchestration_complete", "orchestration_error", "done"}
    assert set(names) <= allowed
    assert all(ident is not None for ident, _, _ in events)
    hir = events[-2][2]
    run_id = hir["run_id"]
    assert hir["fields"][0]["name"] == "decision"
    tool = next(data for _, name, data in events if name == "tool_execution")
    assert tool["tool_name"] and "args" in tool
    result = next(data for _, name, data in events if name == "tool_result")
    assert "preview" in result
    async with http.post(f"{oapi.base}/orchestrations/runs/{run_id}/resume/stream",
                         json={"response": {"decision": "approve"}},
                         headers=oapi.headers("user")) as r:  # the gate lists admin, user
        rest = await read_sse(r)
    names = [name for _, name, _ in rest]
    assert names[-2:] == ["orchestration_complete", "done"]
    assert rest[-2][2]["final_state"]["decision"] == "approve"
    # reconnect from the first stream's last id: only what came after, nothing lost
    last_id = events[-1][0]
    async with http.get(f"{oapi.base}/orchestrations/runs/{run_id}/stream",
                        headers={**oapi.headers("user"), "Last-Event-ID": str(last_id)}) as r:
        replay = await read_sse(r)
    assert [n for _, n, _ in replay] == names
    assert [i for i, _, _ in replay][:-1] == [i for i, _, _ in rest][:-1]


async def test_bad_answer_refused_naming_field(oapi: LiveApi, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{oapi.base}/orchestrations/orch-research-report/run",
                         json={"message": "x"}, headers=oapi.headers("agent")) as r:
        run_id = (await r.json())["run_id"]
    async with http.post(f"{oapi.base}/orchestrations/runs/{run_id}/resume",
                         json={"response": {"decision": "perhaps"}},
                         headers=oapi.headers("user")) as r:  # the gate lists admin, user
        assert r.status == 400
        assert "decision" in (await r.json())["detail"]
    async with http.get(f"{oapi.base}/orchestrations/runs/{run_id}",
                        headers=oapi.headers("user")) as r:
        assert (await r.json())["status"] == "paused"
    # the same gate through the approvals inbox
    async with http.get(f"{oapi.base}/approvals/pending", headers=oapi.headers("user")) as r:
        gate = next(a for a in (await r.json())["approvals"] if a["run_id"] == run_id)
    assert gate["kind"] == "gate" and gate["fields"][0]["name"] == "decision"
    async with http.post(f"{oapi.base}/approvals/{gate['approval_id']}/approve",
                         json={"response": {"decision": "reject", "notes": "needs work"}},
                         headers=oapi.headers("user")) as r:
        assert r.status == 200
    async with http.post(f"{oapi.base}/orchestrations/runs/{run_id}/resume",
                         json={"response": {"decision": "approve"}},
                         headers=oapi.headers("user")) as r:
        assert r.status in (409, 200)  # the revise loop pauses again at the same gate


async def test_runs_list_cancel_retry(oapi: LiveApi, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{oapi.base}/orchestrations/orch-research-report/run",
                         json={"message": "x"}, headers=oapi.headers("agent")) as r:
        run_id = (await r.json())["run_id"]
    async with http.get(f"{oapi.base}/orchestrations/runs", params={"status": "paused"},
                        headers=oapi.headers("user")) as r:
        listing = await r.json()
    assert [x["run_id"] for x in listing["data"]] == [run_id]
    async with http.post(f"{oapi.base}/orchestrations/runs/{run_id}/cancel",
                         headers=oapi.headers("user")) as r:
        assert r.status == 403
    async with http.post(f"{oapi.base}/orchestrations/runs/{run_id}/cancel",
                         headers=oapi.headers("agent")) as r:
        assert r.status == 403  # paused at a gate for admins and users only
    async with http.post(f"{oapi.base}/orchestrations/runs/{run_id}/cancel",
                         headers=oapi.headers("admin")) as r:
        assert (await r.json())["status"] == "cancelled"
    async with http.post(f"{oapi.base}/orchestrations/runs/{run_id}/retry",
                         headers=oapi.headers("agent")) as r:
        assert r.status == 409


async def test_workflow_execute(oapi: LiveApi, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{oapi.base}/workflows/deployment/execute",
                         json={"parameters": {"request": "api v2", "replicas": 3},
                               "priority": "high"}, headers=oapi.headers("agent")) as r:
        assert r.status == 202
        run = (await r.json())["data"]
    done = await oapi.engine.runs.wait(run["run_id"], 10)
    assert done.status == "paused" and done.shared_state["replicas"] == 3
    async with http.post(f"{oapi.base}/workflows/deployment/execute",
                         json={"parameters": {"colour": "red"}},
                         headers=oapi.headers("agent")) as r:
        assert r.status == 400 and "parameters.colour" in (await r.json())["detail"]


async def test_sync_run_wait_bound_answers_running(tmp_path: Path,
                                                   http: aiohttp.ClientSession) -> None:
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "slow.toml").write_text(
        'id = "slow"\n[state_schema]\nx = { type = "string" }\n'
        '[[steps]]\nid = "t"\ntype = "task"\ntask_type = "bugfix"\n')
    live, runner = await start_live_api(tmp_path / "data",
                                        orchestrations={"dir": str(defs), "watch": False})
    try:
        async with http.post(f"{live.base}/orchestrations/slow/run", json={"wait": 0.2},
                             headers=live.headers("agent")) as r:
            body = await r.json()
            assert r.status == 202
            location = r.headers["Location"]
        assert body["status"] == "running" and body["run_id"]
        assert location == f"/api/v1/orchestrations/runs/{body['run_id']}"
        async with http.get(live.root + location, headers=live.headers("user")) as r:
            assert r.status == 200 and (await r.json())["status"] == "running"
    finally:
        await runner.cleanup()
        await live.engine.stop()
