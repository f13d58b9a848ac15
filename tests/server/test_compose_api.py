"""``POST /compose`` (seed 002) against a real server on 127.0.0.1: plan and execute modes,
per-stage providers, MCP tools as validators (a real MCP server subprocess), streaming,
privilege and audit, and the OpenAPI description."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from switchboard.engine.audit import AuditQuery
from switchboard.server.contract.compose import ComposeResult
from tests.engine.test_mcp_tools import STDIO
from tests.server.conftest import LiveApi, start_live_api
from tests.server.test_orchestrations_api import read_sse

ADK_HINT = "pip install 'switchboard-console[adk]'"
CONTEXT = {"services": ["api", "web", "worker"], "infrastructure": "kubernetes",
           "monitoring_stack": "prometheus+grafana"}
# seed 002's "Multi-Provider Orchestration" request body, as printed
SEED_MULTI_PROVIDER = {
    "task": "Set up comprehensive monitoring for microservices",
    "strategy": {
        "generation": {"provider": "adk", "model": "deepseek-ai/DeepSeek-V3"},
        "validation": {"provider": "mcp",
                       "tools": ["kubernetes-validator", "prometheus-validator"]},
        "execution": {"provider": "adk", "runner": "kubernetes-runner"},
    },
    "context": CONTEXT,
}


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


async def post(api: LiveApi, body: Any, role: str = "agent",
               sub: str | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{api.base}/compose", json=body, headers=api.headers(role, sub)) as resp:
        return resp.status, await resp.json()


async def audit_rows(api: LiveApi) -> list[Any]:
    return await api.engine.audit.list(AuditQuery(action="workflow.validate_privileged"))


def documented(data: dict[str, Any]) -> dict[str, Any]:
    """The answer decodes as the documented contract record, and re-encodes to itself."""
    record = msgspec.convert(data, ComposeResult)
    assert msgspec.to_builtins(record) == data
    return data


async def test_plan_mode_generates_and_validates_only(api: LiveApi) -> None:
    status, data = await post(api, {"task": "Research caching strategies"})
    assert status == 200, data
    documented(data)
    assert data["mode"] == "plan" and "execution" not in data
    assert data["validation"]["valid"] is True and data["workflow"]["steps"]
    assert data["metadata"]["generator"] == "builtin-deterministic"
    assert data["metadata"]["strategy"] == {
        "generation": {"provider": "builtin", "model": "builtin"},
        "validation": {"provider": "builtin", "validators": ["definition", "tools",
                                                            "best-practices"],
                       "mcp_tools": []},
        "execution": {"provider": "builtin", "model": None, "runner": "engine"}}
    assert await api.engine.runs.count() == 0
    # an execution stage alone does not run it when the mode says plan
    status, data = await post(api, {"task": "Research caching", "mode": "plan",
                                    "strategy": {"execution": {"provider": "builtin"}}})
    assert status == 200 and data["mode"] == "plan" and "execution" not in data
    assert await api.engine.runs.count() == 0


async def test_execute_mode_runs_it_with_the_execution_provider(api: LiveApi) -> None:
    status, data = await post(api, {"task": "Set up comprehensive monitoring for microservices",
                                    "mode": "execute", "provider": "mcp", "context": CONTEXT,
                                    "options": {"format": "yaml"}})
    assert status == 200, data
    documented(data)
    assert data["mode"] == "execute"
    strategy = data["metadata"]["strategy"]
    assert {stage: strategy[stage]["provider"] for stage in strategy} == {
        "generation": "mcp", "validation": "mcp", "execution": "mcp"}
    assert data["execution"]["status"] == "success", data["execution"]
    assert data["format"] == "yaml" and data["document"].startswith("name:")
    run = await api.engine.runs.get(data["execution"]["run_id"])
    assert run.status == "completed"
    turns = [e.payload for e in await api.engine.bus.history(0)
             if e.run_id == run.run_id and e.event_type == "run.agent_turn"]
    assert turns and {t["provider"] for t in turns} == {"mcp"}


async def test_the_seeds_multi_provider_request_names_what_is_missing(api: LiveApi) -> None:
    status, data = await post(api, SEED_MULTI_PROVIDER, "admin")
    assert status == 400, data
    assert data["detail"].startswith("strategy.generation.provider: provider 'adk' is not "
                                     "available: ")
    assert ADK_HINT in data["detail"]
    assert await audit_rows(api) == []


async def test_mcp_tools_validate_the_workflow(api: LiveApi) -> None:
    body = {**SEED_MULTI_PROVIDER, "strategy": {
        **SEED_MULTI_PROVIDER["strategy"],
        "generation": {"provider": "builtin"},
        "execution": {"provider": "builtin", "runner": "engine"}}}
    status, data = await post(api, body, "admin", sub="root")
    assert status == 200, data
    documented(data)
    stage = data["metadata"]["strategy"]["validation"]
    assert stage["mcp_tools"] == ["mcp__demo__kubernetes-validator",
                                  "mcp__demo__prometheus-validator"]
    assert stage["validators"] == ["definition", "tools"]
    steps = data["workflow"]["steps"]
    assert [s["id"] for s in steps] == ["setup_monitoring"]  # the builtin planner's plan
    assert data["validation"]["suggestions"] == [
        "prometheus-validator: 1 steps checked; add a Prometheus alert for the rollout"]
    assert data["validation"]["issues"] == [{
        "path": "steps", "message": "kubernetes-validator: no health check step after the "
        "deployment"}]
    assert data["validation"]["valid"] is False
    assert data["execution"]["status"] == "skipped"
    # a plan with a health check passes the same validators and runs
    status, data = await post(api, {**body, "task": "Deploy the shop with health checks"},
                              "admin", sub="root")
    assert status == 200, data
    assert "verify_health" in [s["id"] for s in data["workflow"]["steps"]]
    assert data["validation"]["valid"] is True, data["validation"]
    assert "kubernetes-validator: Pin the image tag" in data["validation"]["suggestions"]
    assert data["execution"]["status"] == "success", data["execution"]
    assert len(await audit_rows(api)) == 2
    row = (await audit_rows(api))[0]
    assert (row.principal, row.reason) == ("root", "admin")
    assert row.as_dict()["after"]["tools"] == stage["mcp_tools"]


async def test_an_mcp_validator_that_finds_issues_blocks_execution(api: LiveApi) -> None:
    body = {"task": "Research caching strategies", "mode": "execute",
            "strategy": {"validation": {"provider": "mcp",
                                        "tools": ["mcp__demo__kubernetes-validator"]}}}
    status, data = await post(api, body, "admin")
    assert status == 200, data
    assert data["validation"]["valid"] is False
    assert data["validation"]["issues"][0]["message"].startswith("kubernetes-validator: ")
    assert data["execution"] == {
        "status": "skipped", "reason": "the workflow did not validate: steps: "
        "kubernetes-validator: no health check step after the deployment"}
    assert await api.engine.runs.count() == 0


async def test_mcp_validators_are_privileged(api: LiveApi, tmp_path: Path) -> None:
    body = {"task": "Research caching",
            "strategy": {"validation": {"provider": "mcp", "tools": ["prometheus-validator"]}}}
    status, data = await post(api, body, "agent")
    assert status == 403, data
    assert data["detail"] == (
        "strategy.validation.tools: the 'mcp__demo__prometheus-validator' tool is not "
        "available to requests from the agent role; an admin may run it, or allow it with "
        "[tools] inline_tools_for_non_admins = [\"mcp\"]")
    assert await audit_rows(api) == []
    async with live(tmp_path / "allowed", tools={"inline_tools_for_non_admins": ["mcp"]}) as one:
        status, data = await post(one, body, "agent")
        assert status == 200, data
        assert any(s.startswith("prometheus-validator: ") for s in data["validation"]["suggestions"])
        [row] = await audit_rows(one)
        assert (row.role, row.reason) == ("agent", "[tools] inline_tools_for_non_admins")


async def test_bad_stages_name_the_field(api: LiveApi) -> None:
    cases = [
        ({"strategy": {"validation": {"tools": ["helm-validator"]}}},
         "strategy.validation.tools[0]: unknown validator 'helm-validator'; built-in: "
         "definition, tools, best-practices; MCP tools: mcp__demo__add"),
        ({"strategy": {"execution": {"runner": "kubernetes-runner"}}},
         "strategy.execution.runner: unknown runner 'kubernetes-runner'"),
        ({"provider": "nope"}, "strategy.generation.provider: unknown provider 'nope'"),
        ({"mode": "sometimes"}, "body.mode"),
        ({"mode": "execute", "provider": "openai"},
         "strategy.generation.provider: provider 'openai' is not available"),
    ]
    for extra, detail in cases:
        status, data = await post(api, {"task": "Research caching", **extra})
        assert status == 400, (extra, data)
        assert data["detail"].startswith(detail), (extra, data["detail"])


async def test_execute_mode_streams_the_plan_then_the_run(api: LiveApi) -> None:
    async with aiohttp.ClientSession() as http, http.post(
            f"{api.base}/compose", headers=api.headers("agent"),
            json={"task": "Research caching", "mode": "execute",
                  "options": {"stream": True}}) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        events = await read_sse(resp)
    names = [name for _, name, _ in events]
    assert names[:3] == ["generation_complete", "validation_complete", "execution_start"]
    assert names[-1] == "execution_complete"
    assert events[-1][2]["status"] == "success"


async def test_compose_is_documented_with_its_models(api: LiveApi) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{api.base}/openapi.json") as resp:
        doc = await resp.json()
    operation = doc["paths"]["/api/v1/compose"]["post"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ComposeResult"}
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    assert request == {"$ref": "#/components/schemas/ComposeBody"}
    components = doc["components"]["schemas"]
    assert {"ComposeResult", "ComposeMetadata", "ComposeStrategy", "WorkflowValidation",
            "ComposeExecution"} <= set(components)
    assert set(components["ComposeResult"]["properties"]) >= {
        "mode", "workflow", "validation", "metadata", "execution"}
    assert {"403", "400"} <= set(operation["responses"])


def test_compose_execution_carries_every_execute_result_field() -> None:
    """``ComposeExecution`` mirrors ``/execute``'s record (plus ``reason`` for a skip): a
    field added to one and not the other would be dropped from compose's answer."""
    from switchboard.server.contract.compose import ComposeExecution
    from switchboard.server.contract.providers import ExecutionResult

    assert set(ComposeExecution.__struct_fields__) == {*ExecutionResult.__struct_fields__,
                                                       "reason"}
