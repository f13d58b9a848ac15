"""Seed 002's providers ``mcp`` and ``adk`` over HTTP, against a real server on 127.0.0.1
with a real MCP server subprocess (stdio): listing, generate and switch naming them, and
MCP tools under the privilege rules for inline workflows."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from switchboard.engine.audit import AuditQuery
from tests.engine.test_mcp_tools import STDIO
from tests.server.conftest import LiveApi, start_live_api

pytestmark = pytest.mark.slow  # a real MCP server subprocess per test
ADK_HINT = "pip install 'switchboard-console[adk]'"


@asynccontextmanager
async def live(tmp_path: Path, **sections: dict[str, Any]) -> AsyncIterator[LiveApi]:
    sections.setdefault("providers", {}).setdefault("mcp", {"servers": [STDIO]})
    api, runner = await start_live_api(tmp_path, **sections)
    try:
        yield api
    finally:
        await runner.cleanup()
        await api.engine.stop()


@pytest.fixture
async def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveApi]:
    monkeypatch.setitem(sys.modules, "google.adk", None)  # as installed without the adk extra
    async with live(tmp_path) as one:
        yield one


async def call(api: LiveApi, method: str, path: str, body: Any = None, role: str = "agent",
               sub: str | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.request(
            method, f"{api.base}{path}", json=body, headers=api.headers(role, sub)) as resp:
        return resp.status, await resp.json()


def mcp_workflow(kind: str = "tool") -> dict[str, Any]:
    if kind == "tool":
        step = {"name": "sum", "tool": "mcp__demo__add", "parameters": {"a": 20, "b": 22}}
    else:
        step = {"name": "think", "prompt": "Research: loud things", "tools": ["mcp__demo__shout"]}
    return {"name": "uses-mcp", "steps": [step]}


async def privileged_rows(api: LiveApi) -> list[Any]:
    return await api.engine.audit.list(AuditQuery(action="workflow.execute_privileged"))


async def test_providers_lists_mcp_available_and_adk_with_the_fix(api: LiveApi) -> None:
    status, data = await call(api, "GET", "/providers", role="user")
    assert status == 200
    assert data["providers"]["mcp"]["available"] is True
    assert "reason" not in data["providers"]["mcp"]
    assert data["providers"]["adk"] == {
        "name": "ADKProvider", "available": False,
        "features": {"generation": True, "execution": True, "refinement": True,
                     "streaming": True, "compose": True},
        "reason": "google-adk (Google's Agent Development Kit) is not installed; enable it "
                  f"with: {ADK_HINT}"}


async def test_requests_naming_adk_say_how_to_enable_it(api: LiveApi) -> None:
    status, data = await call(api, "POST", "/generate", {"task": "Deploy", "provider": "adk"})
    assert 400 <= status < 500 and status != 404, data
    assert data["detail"].startswith("provider: provider 'adk' is not available: ")
    assert ADK_HINT in data["detail"]
    status, data = await call(api, "POST", "/providers/switch", {"provider": "adk"}, "admin")
    assert status == 409 and ADK_HINT in data["detail"]
    # a session may prefer it (availability can change); its turns say why they cannot run
    status, session = await call(api, "POST", "/sessions", {"preferences": {"provider": "adk"}})
    assert status == 201, session
    status, data = await call(api, "POST", f"/sessions/{session['session_id']}/continue",
                              {"message": "Deploy the shop"})
    assert 400 <= status < 500 and ADK_HINT in data["detail"], data
    status, data = await call(api, "POST", "/execute", {
        "workflow": mcp_workflow("agent"), "options": {"provider": "adk"}}, "admin")
    assert 400 <= status < 500 and ADK_HINT in data["detail"]


async def test_generate_and_switch_to_mcp(api: LiveApi) -> None:
    status, data = await call(api, "POST", "/generate", {"task": "Research MCP",
                                                         "provider": "mcp"})
    assert status == 200 and data["metadata"]["provider"] == "mcp"
    status, data = await call(api, "POST", "/providers/switch", {"provider": "mcp"}, "admin")
    assert status == 200 and data["default"] == "mcp"


@pytest.mark.parametrize("kind", ["tool", "agent"])
async def test_agents_inline_mcp_tools_are_refused(api: LiveApi, kind: str) -> None:
    status, body = await call(api, "POST", "/execute", {"workflow": mcp_workflow(kind)})
    assert status == 403, body
    field = "workflow.steps[0].tool" if kind == "tool" else "workflow.steps[0].tools[0]"
    tool = "mcp__demo__add" if kind == "tool" else "mcp__demo__shout"
    assert body["detail"] == (
        f"{field}: the {tool!r} tool is not available to inline workflows posted by the agent "
        "role; an admin may run it, or allow it with [tools] inline_tools_for_non_admins = "
        "[\"mcp\"]")
    assert await api.engine.runs.count() == 0
    assert await privileged_rows(api) == []


async def test_admins_inline_mcp_tools_run_and_are_audited(api: LiveApi) -> None:
    status, body = await call(api, "POST", "/execute", {"workflow": mcp_workflow()}, "admin",
                              sub="root")
    assert status == 200 and body["status"] == "success", body
    assert body["outputs"]["sum"] == {"result": 42}
    [row] = await privileged_rows(api)
    assert (row.principal, row.reason) == ("root", "admin")
    assert row.as_dict()["after"]["tools"] == [
        {"path": "workflow.steps[0].tool", "tool": "mcp__demo__add", "kind": "mcp"}]


async def test_config_may_allow_mcp_to_agents_audited(tmp_path: Path) -> None:
    async with live(tmp_path, tools={"inline_tools_for_non_admins": ["mcp"]}) as api:
        status, body = await call(api, "POST", "/execute", {"workflow": mcp_workflow("agent")})
        assert status == 200 and body["status"] == "success", body
        [row] = await privileged_rows(api)
        assert row.role == "agent"
        assert row.reason == "[tools] inline_tools_for_non_admins"
