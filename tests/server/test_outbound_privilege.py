"""Outbound requests on an agent's behalf, against a real server on 127.0.0.1.

An "internal service" (a second aiohttp server on 127.0.0.1) counts the requests that reach
it. Before this change an agent's inline workflow (``POST /execute``) or a run parameter of
a trusted definition (``health_url``) made the server fetch it and hand back the body. Now:
inline workflows from non-admins may not use ``http``/``command``/python tools unless
``[tools] inline_tools_for_non_admins`` lists the kind (403 naming tool and setting); an
admin's (or a config-allowed) privileged inline run writes one ``workflow.execute_privileged``
audit row; and the ``http`` tool itself refuses internal addresses for every definition.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from switchboard.engine.audit import AuditQuery
from tests.server.conftest import LiveApi, start_live_api


@pytest.fixture
async def internal() -> AsyncIterator[dict[str, Any]]:
    hits: list[str] = []

    async def secret(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"secret": "s3cr3t"})

    app = web.Application()
    app.router.add_get("/secret", secret)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        yield {"url": f"http://127.0.0.1:{port}/secret", "hits": hits}
    finally:
        await runner.cleanup()


@asynccontextmanager
async def live(tmp_path: Path, **sections: dict[str, Any]) -> AsyncIterator[LiveApi]:
    api, runner = await start_live_api(tmp_path, **sections)
    try:
        yield api
    finally:
        await runner.cleanup()
        await api.engine.stop()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[LiveApi]:
    async with live(tmp_path, tools={"http": {"allow_hosts": ["127.0.0.1"]}}) as one:
        yield one


async def post(api: LiveApi, path: str, body: Any, role: str = "agent",
               sub: str | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{api.base}{path}", json=body, headers=api.headers(role, sub)) as resp:
        return resp.status, await resp.json()


def fetch_workflow(url: str) -> dict[str, Any]:
    return {"name": "peek", "steps": [{"name": "fetch", "tool": "http",
                                       "parameters": {"url": url}}]}


async def privileged_rows(api: LiveApi) -> list[Any]:
    return await api.engine.audit.list(AuditQuery(action="workflow.execute_privileged"))


# -- inline workflows from non-admins ------------------------------------------------------------

async def test_agent_inline_http_is_refused(api: LiveApi, internal: dict[str, Any]) -> None:
    for options in ({}, {"stream": True}):
        status, body = await post(api, "/execute", {"workflow": fetch_workflow(internal["url"]),
                                                    "options": options})
        assert status == 403, body
        assert body["detail"] == (
            "workflow.steps[0].tool: the 'http' tool is not available to inline workflows "
            "posted by the agent role; an admin may run it, or allow it with [tools] "
            "inline_tools_for_non_admins = [\"http\"]")
    assert internal["hits"] == []
    assert await api.engine.runs.count() == 0  # refused before a run was created
    assert await privileged_rows(api) == []


async def test_agent_step_offering_http_to_a_model_is_refused(api: LiveApi) -> None:
    workflow = {"name": "agentic", "steps": [
        {"name": "think", "prompt": "Look around", "tools": ["word_count", "http"]}]}
    status, body = await post(api, "/execute", {"workflow": workflow})
    assert status == 403
    assert body["detail"].startswith("workflow.steps[0].tools[1]: the 'http' tool")


async def test_orchestrate_refuses_a_generated_http_step(api: LiveApi,
                                                         internal: dict[str, Any]) -> None:
    body = {"task": "Deploy the shop with health checks",
            "context": {"health_url": internal["url"]},
            "strategy": {"execution": {"provider": "builtin"}}}
    status, out = await post(api, "/orchestrate", body)
    assert status == 403, out
    assert "'http' tool" in out["detail"] and "inline_tools_for_non_admins" in out["detail"]
    assert internal["hits"] == []
    # planning alone (no execution) is still fine
    status, out = await post(api, "/orchestrate", {**body, "strategy": {}})
    assert status == 200 and out["execution"] is None


async def test_user_role_cannot_post_inline_workflows_at_all(api: LiveApi) -> None:
    status, body = await post(api, "/execute", {"workflow": fetch_workflow("http://x/")}, "user")
    assert status == 403 and "agent" in body["detail"]


async def test_inline_command_tool_is_refused_for_agents(tmp_path: Path) -> None:
    async with live(tmp_path, orchestrations={"tool_commands": ["echo"]}) as one:
        workflow = {"name": "cmd", "steps": [{"name": "say", "tool": "command",
                                              "parameters": {"argv": ["echo", "hi"]}}]}
        status, body = await post(one, "/execute", {"workflow": workflow})
        assert status == 403
        assert "'command' tool" in body["detail"]
        assert 'inline_tools_for_non_admins = ["command"]' in body["detail"]
        status, body = await post(one, "/execute", {"workflow": workflow}, "admin")
        assert status == 200 and body["status"] == "success", body
        assert body["outputs"]["say"]["stdout"] == "hi\n"


async def test_admin_inline_http_runs_and_is_audited(api: LiveApi,
                                                    internal: dict[str, Any]) -> None:
    status, body = await post(api, "/execute", {"workflow": fetch_workflow(internal["url"])},
                              "admin", sub="root")
    assert status == 200 and body["status"] == "success", body
    assert internal["hits"] == ["/secret"]
    [row] = await privileged_rows(api)
    assert (row.principal, row.role, row.object_type) == ("root", "admin", "run")
    [run] = await api.engine.runs.list(limit=10)
    assert row.object_id == run.run_id  # written in the transaction that created the run
    assert row.as_dict()["after"]["workflow"] == "peek"
    assert row.as_dict()["after"]["tools"] == [
        {"path": "workflow.steps[0].tool", "tool": "http", "kind": "http"}]
    assert row.reason == "admin"
    # inline workflows without privileged tools write nothing
    status, body = await post(api, "/execute", {"workflow": {"name": "t", "steps": [
        {"name": "now", "tool": "current_time"}]}}, "admin")
    assert status == 200
    assert len(await privileged_rows(api)) == 1


async def test_config_can_allow_http_for_agents_audited(tmp_path: Path,
                                                         internal: dict[str, Any]) -> None:
    async with live(tmp_path, tools={"inline_tools_for_non_admins": ["http"],
                                           "http": {"allow_hosts": ["127.0.0.1"]}}) as one:
        status, body = await post(one, "/execute", {"workflow": fetch_workflow(internal["url"])},
                                  sub="dev-agent-1")
        assert status == 200 and body["status"] == "success", body
        [row] = await privileged_rows(one)
        assert (row.principal, row.role) == ("dev-agent-1", "agent")
        assert row.reason == "[tools] inline_tools_for_non_admins"


# -- the http tool's own guard, for trusted definitions too ----------------------------------------

HEALTH_CHECK = """
id = "health-check"
name = "Health check"
[state_schema]
health_url = { type = "string", default = "https://example.invalid/health" }
verification = { type = "object" }
[[steps]]
id = "verify"
name = "Verify"
type = "tool"
tool = "http"
args = { method = "GET", url = "{health_url}", timeout = 5 }
output_key = "verification"
"""


async def test_a_run_parameter_cannot_point_the_http_tool_inside(
        tmp_path: Path, internal: dict[str, Any]) -> None:
    folder = tmp_path / "orchestrations"
    folder.mkdir()
    (folder / "health.toml").write_text(HEALTH_CHECK)
    async with live(tmp_path / "data",
                          orchestrations={"dir": str(folder), "watch": False}) as one:
        status, body = await post(one, "/orchestrations/health-check/run",
                                  {"parameters": {"health_url": internal["url"]}})
        assert status == 200, body
        assert body["status"] == "failed"
        assert "refused to connect to 127.0.0.1" in body["response"]
        assert "[tools.http] allow_hosts" in body["response"]
        assert "s3cr3t" not in str(body)
    assert internal["hits"] == []
