"""Seed 002's API against a real server: its Python client (verbatim, httpx) and its
TypeScript client (as plain JS, on node if installed), providers, generate/refine, execute
(streamed and not), human gates, templates, sessions across a restart, multi-provider
orchestration, and the LLM path through a real local chat-completions server."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.server.conftest import KEYS, LiveApi, start_live_api
from tests.server.seed002_client import OrchestrationClient, create_comprehensive_deployment
from tests.server.test_orchestrations_api import read_sse

SEED_TASK = "Deploy microservices with monitoring and logging"
GATED = {"name": "gated", "state_schema": {"topic": {"type": "string", "default": "caching"}},
         "steps": [{"name": "research", "prompt": "Topic: {topic}", "tools": ["web_search"]},
                   {"name": "review", "type": "human", "prompt": "Ship {topic}?",
                    "fields": [{"name": "decision", "type": "select",
                                "options": "approve,reject", "required": True}]},
                   {"name": "announce", "tool": "notify",
                    "parameters": {"channel": "ops", "message": "{topic}: {decision}"}}]}
FAILING = {"name": "failing", "steps": [
    {"name": "probe", "tool": "http", "parameters": {"url": "http://127.0.0.1:9/down",
                                                     "timeout": 2}},
    {"name": "after", "tool": "current_time"}]}


async def post(http: aiohttp.ClientSession, api: LiveApi, path: str, body: Any,
               role: str = "agent") -> tuple[int, Any]:
    async with http.post(f"{api.base}{path}", json=body, headers=api.headers(role)) as r:
        return r.status, await r.json()


async def get(http: aiohttp.ClientSession, api: LiveApi, path: str,
              role: str = "user") -> tuple[int, Any]:
    async with http.get(f"{api.base}{path}", headers=api.headers(role)) as r:
        return r.status, await r.json()


async def stream(http: aiohttp.ClientSession, api: LiveApi, path: str, body: Any | None = None,
                 headers: dict[str, str] | None = None) -> list[tuple[str | None, str, dict]]:
    method = "POST" if body is not None else "GET"
    async with http.request(method, f"{api.base}{path}", json=body,
                            headers={**api.headers("agent"), **(headers or {})}) as r:
        assert r.status == 200, await r.text()
        assert r.content_type == "text/event-stream"
        return await read_sse(r)


# -- seed 002's own clients --------------------------------------------------------------------

async def test_seed002_python_client_multi_provider_workflow(
        api: LiveApi, capsys: pytest.CaptureFixture[str]) -> None:
    await create_comprehensive_deployment(api.base, KEYS["agent"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "🚀 Starting deployment..."
    expected = ["plan_deployment", "deploy_api", "deploy_web", "deploy_worker",
                "setup_monitoring", "setup_logging", "verify_health", "notify_completion"]
    assert [line.removeprefix("▶️ Starting: ") for line in lines
            if line.startswith("▶️")] == expected
    completed = [line for line in lines if line.startswith("✅")]
    assert [line.split(":")[0].removeprefix("✅ ") for line in completed] == expected
    assert all(line.endswith("s)") and ": success (" in line for line in completed)
    assert not [line for line in lines if line.startswith("❌")]
    assert lines[-1] == "🎉 Deployment complete! Status: success"


async def test_seed002_python_client_methods_return_seed_shapes(api: LiveApi) -> None:
    client = OrchestrationClient(api.base, KEYS["agent"])
    generated = await client.generate_workflow("Research edge caching and write a report")
    assert set(generated) == {"workflow", "validation", "metadata"}
    assert generated["validation"]["valid"] is True
    refined = await client.refine_workflow(generated["workflow"], ["Notify the team on Slack"],
                                           {"channel": "research"})
    notify = refined["workflow"]["steps"][-1]
    assert notify["tool"] == "notify" and notify["parameters"]["channel"] == "research"
    events = [e async for e in client.execute_workflow_stream(refined["workflow"])]
    assert events[0]["event"] == "execution_start" and events[-1]["event"] == "execution_complete"
    assert events[-1]["outputs"]["notify_completion"]["channel"] == "research"


TS_CLIENT_AS_JS = r"""
// Seed 002's TypeScript OrchestrationClient with its type annotations removed (node 20
// cannot run TypeScript); the logic, URLs, headers and stream parsing are unchanged.
class OrchestrationClient {
  constructor(baseUrl, apiKey) { this.baseUrl = baseUrl; this.apiKey = apiKey; }
  async listProviders() {
    const response = await fetch(`${this.baseUrl}/providers`, {
      headers: { 'Authorization': `Bearer ${this.apiKey}` }
    });
    return response.json();
  }
  async switchProvider(provider, config) {
    const response = await fetch(`${this.baseUrl}/providers/switch`, {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${this.apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ provider, config })
    });
    return response.json();
  }
  async generateWorkflow(task, context) {
    const response = await fetch(`${this.baseUrl}/generate`, {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${this.apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ task, context })
    });
    return response.json();
  }
  async refineWorkflow(workflow, requirements) {
    const response = await fetch(`${this.baseUrl}/refine`, {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${this.apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ workflow, requirements })
    });
    return response.json();
  }
  async * executeWorkflow(workflow, parameters) {
    const response = await fetch(`${this.baseUrl}/execute`, {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${this.apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ workflow, parameters, options: { stream: true } })
    });
    const reader = response.body?.getReader();
    const decoder = new TextDecoder();
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      const chunk = decoder.decode(value);
      const lines = chunk.split('\n');
      for (const line of lines) {
        if (line.startsWith('data: ')) {
          yield JSON.parse(line.slice(6));
        }
      }
    }
  }
}

(async () => {
  const [base, agentKey, adminKey] = process.argv.slice(2);
  const client = new OrchestrationClient(base, agentKey);
  const admin = new OrchestrationClient(base, adminKey);
  const providers = await client.listProviders();
  const switched = await admin.switchProvider('builtin', { timeout: 60000, max_retries: 3 });
  const generated = await client.generateWorkflow('Deploy the api with monitoring',
                                                  { services: ['api'], environment: 'staging' });
  const refined = await client.refineWorkflow(generated.workflow, ['Include rollback strategy']);
  const events = [];
  for await (const event of client.executeWorkflow(refined.workflow)) events.push(event);
  console.log(JSON.stringify({ providers, switched, generated, refined, events }));
})().catch((err) => { console.error(err); process.exit(1); });
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_seed002_typescript_client_logic_on_node(api: LiveApi, tmp_path: Path) -> None:
    script = tmp_path / "client.mjs"
    script.write_text(TS_CLIENT_AS_JS)
    proc = await asyncio.create_subprocess_exec(
        "node", str(script), api.base, KEYS["agent"], KEYS["admin"],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out)
    assert result["providers"]["default"] == "builtin"
    assert result["providers"]["providers"]["builtin"]["features"]["execution"] is True
    assert result["switched"] == {"success": True, "provider": "builtin", "default": "builtin",
                                  "config": {"timeout": 60000, "max_retries": 3}}
    assert result["generated"]["validation"]["valid"] is True
    assert result["refined"]["workflow"]["steps"][-1]["id"] == "rollback"
    names = [e["event"] for e in result["events"]]
    assert names[0] == "execution_start" and names[-1] == "execution_complete"
    assert result["events"][-1]["status"] == "success"
    assert "rollback" not in [e.get("step") for e in result["events"]]


# -- providers ---------------------------------------------------------------------------------

async def test_providers_list_and_switch(api: LiveApi, http: aiohttp.ClientSession) -> None:
    status, data = await get(http, api, "/providers")
    assert status == 200
    assert data["default"] == "builtin"
    assert data["providers"]["builtin"] == {"name": "BuiltinProvider", "available": True,
                                            "features": {"generation": True, "execution": True,
                                                         "refinement": True, "streaming": True,
                                                         "compose": True}}
    assert data["providers"]["openai"]["available"] is False  # no key in the test env
    status, data = await post(http, api, "/providers/switch", {"provider": "builtin"}, "agent")
    assert status == 403
    status, data = await post(http, api, "/providers/switch", {"provider": "nope"}, "admin")
    assert status == 400 and data["detail"].startswith("provider: unknown provider 'nope'")
    status, data = await post(http, api, "/providers/switch", {"provider": "openai"}, "admin")
    assert status == 409 and data["detail"].startswith("provider: provider 'openai' is not "
                                                       "available")
    status, data = await post(http, api, "/providers/switch",
                              {"provider": "builtin", "config": {"timeout": -1}}, "admin")
    assert status == 400 and data["detail"].startswith("body.config.timeout")
    status, data = await post(http, api, "/providers/switch",
                              {"provider": "builtin", "config": {"retries": 1}}, "admin")
    assert status == 400 and "body.config.retries" in data["detail"]


# -- generate / refine ---------------------------------------------------------------------------

async def test_generate_options_and_validation_errors(api: LiveApi,
                                                      http: aiohttp.ClientSession) -> None:
    status, data = await post(http, api, "/generate", {
        "task": "Deploy application to Kubernetes",
        "context": {"environment": "staging", "namespace": "app-staging"},
        "provider": "builtin", "options": {"include_validation": True, "format": "yaml"}})
    assert status == 200
    assert data["format"] == "yaml" and yaml.safe_load(data["document"]) == data["workflow"]
    assert data["workflow"]["state_schema"]["namespace"]["default"] == "app-staging"
    assert data["metadata"]["provider"] == "builtin"
    status, data = await post(http, api, "/generate", {"task": "Research x",
                                                       "options": {"include_validation": False}})
    assert status == 200 and "validation" not in data
    for body, detail in [
        ({"task": ""}, "body.task"),
        ({"context": {}}, "body.task: Field required"),
        ({"task": "x", "provider": "nope"}, "provider: unknown provider 'nope'; available: "
                                            "builtin, openai, mcp, adk"),
        ({"task": "x", "provider": "openai"}, "provider: provider 'openai' is not available"),
        ({"task": "x", "options": {"format": "xml"}}, "body.options.format"),
        ({"task": "x", "tone": "friendly"}, "body.tone: Extra inputs are not permitted"),
    ]:
        status, data = await post(http, api, "/generate", body)
        assert status == 400, (body, data)
        assert data["detail"].startswith(detail), (body, data)
    status, data = await post(http, api, "/refine", {"workflow": [1], "requirements": []})
    assert status == 400 and data["detail"].startswith("body.workflow")
    status, data = await post(http, api, "/refine", {"workflow": {"name": "x"},
                                                     "requirements": "add checks"})
    assert status == 400 and data["detail"].startswith("body.requirements")


async def test_refine_reports_what_it_cannot_fix(api: LiveApi,
                                                 http: aiohttp.ClientSession) -> None:
    status, data = await post(http, api, "/refine", {
        "workflow": {"name": "deploy-app", "steps": [
            {"name": "apply", "tool": "kubectl", "parameters": {"command": "apply -f app.yaml"}},
            {"name": "check", "prompt": "Check {image_tag}"}]},
        "requirements": ["Add health checks after deployment", "Include rollback strategy"],
        "context": {"previous_errors": ["Deployment failed due to missing health check"]}})
    assert status == 200
    assert data["validation"]["valid"] is False
    assert data["validation"]["issues"] == [{"path": "steps[1].prompt", "message": (
        "template names {image_tag}, but state_schema has no key 'image_tag'")}]
    assert data["workflow"]["steps"][0]["type"] == "agent"  # kubectl could be fixed
    assert any("kubectl" in change for change in data["metadata"]["changes"])


# -- execute -------------------------------------------------------------------------------------

async def test_execute_stream_events_and_ids(api: LiveApi, http: aiohttp.ClientSession) -> None:
    workflow = {"name": "deploy-app", "steps": [
        {"name": "validate_environment", "tool": "current_time"},
        {"name": "count", "tool": "word_count", "parameters": {"text": "{image_tag} ok"}}]}
    events = await stream(http, api, "/execute", {"workflow": workflow,
                                                  "parameters": {"image_tag": "v1.2.3"},
                                                  "options": {"stream": True,
                                                              "timeout": 300000}})
    names = [name for _, name, _ in events]
    assert names == ["execution_start", "step_start", "step_output", "step_complete",
                     "step_start", "step_output", "step_complete", "execution_complete"]
    for _, name, data in events:
        assert data["event"] == name
    start = events[0][2]
    assert start["workflow"] == "deploy-app" and start["run_id"].startswith("run_")
    assert start["timestamp"].endswith("Z")
    assert events[1][2] == {"event": "step_start", "step": "validate_environment",
                            "step_id": "validate_environment", "index": 0, "type": "tool",
                            "run_id": start["run_id"]}
    complete = events[3][2]
    assert complete["status"] == "success" and isinstance(complete["duration"], float)
    assert events[5][2]["output"] == '{"words":2,"characters":9,"lines":1}'
    final = events[-1][2]
    assert final["status"] == "success" and final["duration"] >= 0
    assert final["outputs"]["count"] == {"words": 2, "characters": 9, "lines": 1}
    assert final["final_state"] == {"image_tag": "v1.2.3"}
    # ids increase; a step_output shares its event with step_complete and carries no id
    ids = [int(i) for i, _, _ in events if i is not None]
    assert ids == sorted(ids) and events[2][0] is None and events[3][0] is not None
    run = await api.engine.runs.get(start["run_id"])
    assert run.status == "completed" and run.orchestration_id == "deploy-app"


@pytest.fixture
async def api_http(tmp_path: Path) -> AsyncIterator[LiveApi]:
    """A server whose operator lets agents' inline workflows use the http tool and lets it
    reach 127.0.0.1 (both refused by default: test_outbound_privilege, test_http_ssrf)."""
    live, runner = await start_live_api(tmp_path, tools={
        "inline_tools_for_non_admins": ["http"], "http": {"allow_hosts": ["127.0.0.1"]}})
    try:
        yield live
    finally:
        await runner.cleanup()
        await live.engine.stop()


async def test_execute_without_stream_and_failure_options(
        api_http: LiveApi, http: aiohttp.ClientSession) -> None:
    api = api_http
    status, data = await post(http, api, "/execute", {"workflow": FAILING})
    assert status == 200
    assert data["status"] == "failed" and "probe" in data["error"]
    assert [(s["step"], s["status"]) for s in data["steps"]] == [("probe", "failed")]
    status, data = await post(http, api, "/execute", {"workflow": FAILING,
                                                      "options": {"on_failure": "continue"}})
    assert data["status"] == "success"
    assert [(s["step"], s["status"]) for s in data["steps"]] == [("probe", "failed"),
                                                                 ("after", "success")]
    assert data["duration"] >= 0 and data["outputs"]["after"]["utc"].endswith("Z")
    events = await stream(http, api, "/execute", {"workflow": FAILING,
                                                  "options": {"stream": True}})
    failed = [d for _, n, d in events if n == "step_complete"]
    assert failed[0]["status"] == "failed" and "127.0.0.1:9" in failed[0]["error"]
    assert events[-1][2]["status"] == "failed" and events[-1][2]["error"]


ROLLING_BACK = {"name": "deploy-app", "steps": [
    {"name": "probe", "tool": "http", "parameters": {"url": "http://127.0.0.1:9/down",
                                                     "timeout": 2}},
    {"name": "after", "tool": "current_time"},
    {"name": "rollback", "tool": "current_time"}]}


async def test_execute_that_rolled_back_reports_failed_with_the_rollbacks_outcome(
        api_http: LiveApi, http: aiohttp.ClientSession) -> None:
    """Issue 12: a failed step rolled back is a failed execution, not "success"."""
    api = api_http
    body = {"workflow": ROLLING_BACK, "options": {"on_failure": "rollback"}}
    status, data = await post(http, api, "/execute", body)
    assert status == 200, data
    assert data["status"] == "failed" and "probe" in data["error"], data
    assert [(s["step"], s["status"]) for s in data["steps"]] == [("probe", "failed"),
                                                                 ("rollback", "success")]
    assert data["rollback"]["step"] == "rollback" and data["rollback"]["status"] == "success"
    events = await stream(http, api, "/execute", {**body, "options": {
        "on_failure": "rollback", "stream": True}})
    name, final = events[-1][1], events[-1][2]
    assert name == "execution_complete" and final["status"] == "failed", final
    assert final["rollback"]["status"] == "success"


async def test_execute_validation_failures(api: LiveApi, http: aiohttp.ClientSession) -> None:
    for body, detail in [
        ({"workflow": {"name": "x", "steps": [{"name": "a", "tool": "kubectl"}]}},
         "workflow.steps[0].tool: unknown or disallowed tool 'kubectl'"),
        ({"workflow": {"name": "x", "steps": []}}, "workflow.steps: an orchestration needs"),
        ({"workflow": {"name": "x", "state_schema": {"replicas": "integer"},
                       "steps": [{"name": "a", "tool": "current_time"}]},
          "parameters": {"replicas": "3"}}, "parameters.replicas: expected integer"),
        ({"workflow": FAILING, "options": {"on_failure": "rollback"}},
         "options.on_failure: 'rollback' needs a rollback step"),
        ({"workflow": FAILING, "options": {"on_failure": "retry"}}, "body.options.on_failure"),
        ({"workflow": FAILING, "options": {"stream": "yes"}}, "body.options.stream"),
        ({"workflow": {"name": "x", "steps": [{"name": "a", "prompt": "hi",
                                               "provider": "nope"}]}},
         "workflow.steps[0].provider: unknown provider 'nope'"),
        ({"workflow": FAILING, "options": {"provider": "openai"}},
         "options.provider: provider 'openai' is not available"),
    ]:
        status, data = await post(http, api, "/execute", body)
        assert status == 400, (body, data)
        assert data["detail"].startswith(detail), (body, data)


async def test_execute_pauses_at_a_gate_and_is_resumable(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    events = await stream(http, api, "/execute", {"workflow": GATED,
                                                  "options": {"stream": True}})
    names = [name for _, name, _ in events]
    assert names[-1] == "execution_paused" and "execution_complete" not in names
    paused_id, _, paused = events[-1]
    run_id = paused["run_id"]
    assert paused["step"] == "review" and paused["index"] == 1
    assert paused["human_input_required"]["prompt"] == "Ship caching?"
    assert paused["resume"] == {
        "method": "POST", "url": f"/api/v1/orchestrations/runs/{run_id}/resume",
        "stream_url": f"/api/v1/orchestrations/runs/{run_id}/resume/stream",
        "body": {"response": {"decision": "approve"}}}
    assert paused["watch_url"] == f"/api/v1/execute/runs/{run_id}/stream"
    # the non-streaming form says the same
    status, data = await post(http, api, "/execute", {"workflow": GATED})
    assert data["status"] == "paused" and data["resume"]["body"]["response"] == {
        "decision": "approve"}
    # resume through seed 000, then follow the rest in seed 002's names from Last-Event-ID
    status, data = await post(http, api, f"/orchestrations/runs/{run_id}/resume",
                              {"response": {"decision": "approve"}})
    assert status == 200 and data["status"] == "completed"
    rest = await stream(http, api, f"/execute/runs/{run_id}/stream",
                        headers={"Last-Event-ID": paused_id})
    assert [n for _, n, _ in rest] == ["execution_resumed", "step_output", "step_complete",
                                       "step_start", "step_output", "step_complete",
                                       "execution_complete"]
    assert rest[1][2]["output"] == '{"decision":"approve"}'
    assert rest[2][2]["step"] == "review" and rest[2][2]["duration"] > 0
    assert rest[-1][2]["outputs"]["announce"]["message"] == "caching: approve"
    # the whole history replays from the start, past the gate answered since
    everything = await stream(http, api, f"/execute/runs/{run_id}/stream")
    names = [n for _, n, _ in everything]
    assert names[0] == "execution_start" and names[-1] == "execution_complete"
    assert names.index("execution_paused") < names.index("execution_resumed")
    status, data = await get(http, api, "/execute/runs/run_missing/stream")
    assert status == 404


# -- multi-provider orchestration -----------------------------------------------------------------

async def test_orchestrate_generates_reviews_and_executes(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    body = {"task": "Set up comprehensive monitoring for microservices",
            "strategy": {"generation": {"provider": "builtin"},
                         "validation": {"provider": "builtin",
                                        "tools": ["definition", "best-practices"]},
                         "execution": {"provider": "builtin", "runner": "engine"}},
            "context": {"services": ["api", "web", "worker"], "infrastructure": "kubernetes",
                        "monitoring_stack": "prometheus+grafana"}}
    status, data = await post(http, api, "/orchestrate", body)
    assert status == 200, data
    assert data["validation"]["valid"] is True
    assert data["metadata"]["strategy"] == {
        "generation": {"provider": "builtin", "model": "builtin"},
        "validation": {"provider": "builtin",
                       "validators": ["definition", "tools", "best-practices"]},
        "execution": {"provider": "builtin", "model": None, "runner": "engine"}}
    assert data["execution"]["status"] == "success"
    assert "setup_monitoring" in data["execution"]["outputs"]
    run = await api.engine.runs.get(data["execution"]["run_id"])
    agent_steps = [s for s in (await _definition(api, run.run_id)).steps if s.type == "agent"]
    assert agent_steps and all(s.provider == "builtin" for s in agent_steps)
    # streamed: the plan first, then the run
    events = await stream(http, api, "/orchestrate", {**body, "options": {"stream": True}})
    names = [n for _, n, _ in events]
    assert names[:3] == ["generation_complete", "validation_complete", "execution_start"]
    assert names[-1] == "execution_complete"
    # no execution stage: plan only
    status, data = await post(http, api, "/orchestrate", {"task": "Research caching"})
    assert status == 200 and data["execution"] is None
    for strategy, detail in [
        ({"validation": {"provider": "nope"}}, "strategy.validation.provider: unknown provider"),
        ({"validation": {"provider": "mcp"}}, "strategy.validation.provider: provider 'mcp' is "
         "not available: "),
        ({"validation": {"tools": ["kubernetes-validator"]}},
         "strategy.validation.tools[0]: unknown validator 'kubernetes-validator'"),
        ({"execution": {"runner": "kubernetes-runner"}},
         "strategy.execution.runner: unknown runner 'kubernetes-runner'; available: engine"),
    ]:
        status, data = await post(http, api, "/orchestrate", {"task": "x", "strategy": strategy})
        assert status == 400 and data["detail"].startswith(detail), data


async def _definition(api: LiveApi, run_id: str) -> Any:
    from switchboard.engine.orchestrations.inline import run_definition
    return await run_definition(api.engine.store, run_id)


# -- templates ---------------------------------------------------------------------------------

async def test_templates_list_instantiate_and_run(api: LiveApi,
                                                  http: aiohttp.ClientSession) -> None:
    status, data = await get(http, api, "/templates")
    assert status == 200 and data["count"] == 3
    assert [t["id"] for t in data["templates"]] == ["deploy-to-kubernetes", "incident-triage",
                                                    "research-report"]
    status, one = await get(http, api, "/templates/research-report")
    assert one == data["templates"][2]
    status, missing = await get(http, api, "/templates/nope")
    assert status == 404 and "available: deploy-to-kubernetes" in missing["detail"]
    status, made = await post(http, api, "/templates/research-report/instantiate",
                              {"parameters": {"topic": "edge caching", "review": False}}, "user")
    assert status == 200, made
    assert made["template_id"] == "research-report" and made["validation"]["valid"] is True
    assert made["parameters"] == {"topic": "edge caching", "audience": "engineering leadership",
                                  "review": False, "publish": False}
    status, ran = await post(http, api, "/execute", {"workflow": made["workflow"]})
    assert ran["status"] == "success"
    assert ran["response"].startswith("[builtin offline provider")
    status, bad = await post(http, api, "/templates/deploy-to-kubernetes/instantiate",
                             {"parameters": {"app": "shop", "replicas": 500}}, "user")
    assert status == 400
    assert bad["detail"] == ("parameters.image: required parameter is missing; "
                             "parameters.replicas: must be at most 100")
    status, bad = await post(http, api, "/templates/research-report/instantiate",
                             {"topic": "x"}, "user")
    assert status == 400 and bad["detail"].startswith("body.topic")


# -- sessions ----------------------------------------------------------------------------------

async def test_sessions_round_trip_and_survive_a_restart(tmp_path: Path) -> None:
    api, runner = await start_live_api(tmp_path)
    async with aiohttp.ClientSession() as http:
        try:
            status, created = await post(http, api, "/sessions", {
                "context": {"project": "microservices-deployment", "environment": "production"},
                "preferences": {"provider": "builtin", "streaming": True}})
            assert status == 201
            sid = created["session_id"]
            assert sid.startswith("sess_") and created["created_at"].endswith("Z")
            assert created["context"]["project"] == "microservices-deployment"
            assert created["preferences"] == {"provider": "builtin", "streaming": True}
            status, first = await post(http, api, f"/sessions/{sid}/continue", {
                "message": "Deploy the api and worker services",
                "context": {"services": ["api", "worker"]}})
            assert status == 200 and first["turn"] == 1 and first["action"] == "generate"
            assert first["context"] == {"project": "microservices-deployment",
                                        "environment": "production",
                                        "services": ["api", "worker"]}
            assert first["metadata"]["session_id"] == sid
            status, second = await post(http, api, f"/sessions/{sid}/continue",
                                        {"requirements": ["Include rollback strategy"]})
            assert second["turn"] == 2 and second["action"] == "refine"
            assert second["workflow"]["steps"][-1]["id"] == "rollback"
            status, bad = await post(http, api, "/sessions", {"preferences": {"provider": "nope"}})
            assert status == 400 and bad["detail"].startswith("preferences.provider: unknown")
            status, bad = await post(http, api, "/sessions/sess_nope/continue", {"message": "x"})
            assert status == 404
        finally:
            await runner.cleanup()
            await api.engine.stop()
        api, runner = await start_live_api(tmp_path)  # same data directory: a restart
        try:
            status, session = await get(http, api, f"/sessions/{sid}")
            assert status == 200
            assert session["turns"] == 2 and [t["action"] for t in session["history"]] == [
                "generate", "refine"]
            assert session["workflow"] == second["workflow"]
            assert session["history"][0]["input"]["task"] == "Deploy the api and worker services"
            status, third = await post(http, api, f"/sessions/{sid}/continue",
                                       {"message": "Add monitoring setup",
                                        "options": {"format": "yaml"}})
            assert third["turn"] == 3 and "setup_monitoring" in third["document"]
            status, listed = await get(http, api, "/sessions?limit=5")
            assert listed["pagination"]["total"] == 1 and listed["data"][0]["turns"] == 3
            status, ran = await post(http, api, "/execute", {"workflow": third["workflow"]})
            assert ran["status"] == "success"
        finally:
            await runner.cleanup()
            await api.engine.stop()


# -- the LLM path through the API ----------------------------------------------------------------

@pytest.fixture
async def chat_url() -> AsyncIterator[tuple[str, list[str]]]:
    """A real chat-completions server whose replies are the queued texts."""
    replies: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        text = replies.pop(0) if replies else "no more replies"
        return web.json_response({"id": "c", "object": "chat.completion", "model": "local-llm",
                                  "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                      "role": "assistant", "content": text}}],
                                  "usage": {"prompt_tokens": 10, "completion_tokens": 5}})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1", replies
    finally:
        await runner.cleanup()


async def test_switch_to_an_openai_compatible_provider_and_generate(
        tmp_path: Path, chat_url: tuple[str, list[str]]) -> None:
    url, replies = chat_url
    api, runner = await start_live_api(tmp_path, providers={"openai": {
        "base_url": url, "model": "local-llm", "max_retries": 0}})
    try:
        async with aiohttp.ClientSession() as http:
            status, data = await post(http, api, "/providers/switch", {
                "provider": "openai", "config": {"timeout": 5000, "max_retries": 0}}, "admin")
            assert status == 200 and data["default"] == "openai"
            status, data = await get(http, api, "/providers")
            assert data["default"] == "openai" and data["providers"]["openai"]["available"]
            workflow = {"name": "llm-flow", "steps": [
                {"id": "tell", "name": "tell", "type": "tool", "tool": "notify",
                 "parameters": {"channel": "ops", "message": "hi"}}]}
            replies.append("```json\n" + json.dumps(workflow) + "\n```")
            status, data = await post(http, api, "/generate", {"task": "Say hi to ops"})
            assert status == 200, data
            assert data["workflow"] == workflow and data["validation"]["valid"] is True
            assert data["metadata"]["provider"] == "openai"
            assert data["metadata"]["model"] == "local-llm"
            replies += ["I cannot help with that.", "Still prose."]
            status, data = await post(http, api, "/generate", {"task": "Say hi"})
            assert status == 502 and "did not return a JSON workflow" in data["detail"]
            # an invalid plan is not executed by /orchestrate, and says why
            bad = {"name": "bad", "steps": [{"name": "a", "tool": "kubectl"}]}
            replies += [json.dumps(bad), json.dumps(bad)]
            status, data = await post(http, api, "/orchestrate", {
                "task": "x", "strategy": {"generation": {"provider": "openai"},
                                          "execution": {"provider": "builtin"}}})
            assert status == 200 and data["validation"]["valid"] is False
            assert data["execution"]["status"] == "skipped"
            assert "steps[0].tool: unknown or disallowed tool 'kubectl'" in (
                data["execution"]["reason"])
    finally:
        await runner.cleanup()
        await api.engine.stop()
