"""Workflow generation and refinement (seed 002): the builtin planner, validation, and the
LLM path against a REAL local server speaking chat completions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from aiohttp import web

from switchboard.engine.clock import ManualClock
from switchboard.engine.config import load_config
from switchboard.engine.engine import Engine
from switchboard.engine.errors import ValidationFailed
from switchboard.engine.orchestrations.generate import (
    GenerationFailed,
    WorkflowGenerator,
    extract_json,
    validate_workflow,
    validation_context,
)
from switchboard.engine.orchestrations.inline import prepare_inline
from switchboard.engine.orchestrations.planner import GENERATOR_LABEL
from switchboard.engine.providers import BuiltinProvider, OpenAIProvider, ProviderFeatures, ProviderRegistry
from switchboard.engine.tools import build_tools

SEED_TASK = "Deploy microservices with monitoring and logging"
SEED_CONTEXT = {"services": ["api", "web", "worker"], "environment": "production"}
SEED_REQUIREMENTS = [
    "Add Prometheus monitoring for all services",
    "Include ELK stack for centralized logging",
    "Add health checks and readiness probes",
    "Include rollback strategy for failed deployments",
]
KUBECTL_WORKFLOW = {"name": "deploy-app", "steps": [
    {"name": "validate_environment", "tool": "kubectl",
     "parameters": {"command": "get namespace app-staging"}}]}


def make_generator(*extra: Any, clock: ManualClock | None = None) -> WorkflowGenerator:
    registry = ProviderRegistry(default="builtin")
    registry.register(BuiltinProvider())
    for provider in extra:
        registry.register(provider)
    tools = build_tools(load_config(env={}).orchestrations)
    return WorkflowGenerator(registry, tools, clock or ManualClock(start=1_800_000_000.0))


def step_ids(workflow: dict[str, Any]) -> list[str]:
    return [s["id"] for s in workflow["steps"]]


# -- builtin generate ----------------------------------------------------------------------

async def test_builtin_generates_a_valid_labelled_workflow_for_seed_task() -> None:
    gen = make_generator()
    result = (await gen.generate(SEED_TASK, SEED_CONTEXT)).as_dict()
    assert set(result) == {"workflow", "validation", "metadata"}
    workflow = result["workflow"]
    assert workflow["name"] == "deploy-microservices-with-monitoring-and-logging"
    assert GENERATOR_LABEL in workflow["description"]
    assert "production" in workflow["description"]
    assert step_ids(workflow) == ["plan_deployment", "deploy_api", "deploy_web", "deploy_worker",
                                  "setup_monitoring", "setup_logging", "notify_completion"]
    assert result["validation"]["valid"] is True and result["validation"]["issues"] == []
    meta = result["metadata"]
    assert meta["provider"] == "builtin" and meta["model"] == "builtin"
    assert meta["generated_at"] == "2027-01-15T08:00:00.000Z"
    assert meta["generator"] == "builtin-deterministic" and meta["notice"] == GENERATOR_LABEL
    # context became typed state with defaults, so prompts can name it
    assert workflow["state_schema"]["services"] == {"type": "list",
                                                    "default": ["api", "web", "worker"]}
    tool_names = {s.get("tool") for s in workflow["steps"]} - {None}
    assert tool_names <= set(gen.tools.names())


async def test_builtin_generation_is_deterministic() -> None:
    first = await make_generator().generate(SEED_TASK, SEED_CONTEXT)
    second = await make_generator().generate(SEED_TASK, SEED_CONTEXT)
    assert first.workflow == second.workflow


@pytest.mark.parametrize(("task", "expected"), [
    ("Research AI orchestration trends and write a report", ["research", "write_report"]),
    ("Triage the outage of the payments API", ["triage", "notify_oncall", "postmortem"]),
    ("Something vague", ["research", "write_report"]),
    ("Deploy v2 after manual approval, then run smoke tests",
     ["plan_deployment", "approval", "deploy", "run_tests", "verify_health",
      "notify_completion"]),
])
async def test_builtin_aspects(task: str, expected: list[str]) -> None:
    result = await make_generator().generate(task, {})
    assert step_ids(result.workflow) == expected
    assert result.validation.valid, result.validation.issues


async def test_health_check_uses_http_tool_when_context_has_a_url() -> None:
    result = await make_generator().generate(
        "Deploy the shop with health checks", {"health_url": "http://127.0.0.1:9/health"})
    health = next(s for s in result.workflow["steps"] if s["id"] == "health_check")
    assert health["type"] == "tool" and health["tool"] == "http"
    assert health["parameters"] == {"method": "GET", "url": "http://127.0.0.1:9/health"}


async def test_empty_task_is_refused() -> None:
    with pytest.raises(ValidationFailed) as info:
        await make_generator().generate("  ", {})
    assert info.value.field == "task"


# -- builtin refine ------------------------------------------------------------------------

async def test_refine_seed_flow_adds_health_and_rollback_once() -> None:
    gen = make_generator()
    generated = await gen.generate(SEED_TASK, SEED_CONTEXT)
    refined = await gen.refine(generated.workflow, SEED_REQUIREMENTS)
    ids = step_ids(refined.workflow)
    assert ids == ["plan_deployment", "deploy_api", "deploy_web", "deploy_worker",
                   "setup_monitoring", "setup_logging", "verify_health", "notify_completion",
                   "rollback"]
    assert refined.validation.valid, refined.validation.issues
    steps = {s["id"]: s for s in refined.workflow["steps"]}
    assert steps["notify_completion"]["next"] == "end"  # the normal path stops before rollback
    assert steps["notify_completion"]["on_failure"] == "rollback"
    changes = refined.metadata["changes"]
    assert any("already covered by step setup_monitoring" in c for c in changes)
    assert any(c.startswith("added step verify_health") for c in changes)
    # refining again with the same requirements changes nothing
    again = await gen.refine(refined.workflow, SEED_REQUIREMENTS)
    assert step_ids(again.workflow) == ids


async def test_refine_seed_example_replaces_unregistered_tool() -> None:
    gen = make_generator()
    _, before = gen.validate(KUBECTL_WORKFLOW)
    assert not before.valid
    assert before.issues[0].path == "steps[0].tool"
    assert "kubectl" in before.issues[0].message
    refined = await gen.refine(
        KUBECTL_WORKFLOW,
        ["Add health checks after deployment", "Include rollback strategy",
         "Add monitoring setup"],
        {"previous_errors": ["Deployment failed due to missing health check"]})
    assert refined.validation.valid, refined.validation.issues
    first = refined.workflow["steps"][0]
    assert first["id"] == "validate_environment" and first["type"] == "agent"
    assert "kubectl" in first["prompt"] and "get namespace app-staging" in first["prompt"]
    ids = step_ids(refined.workflow)
    assert {"verify_health", "rollback", "setup_monitoring"} <= set(ids)
    assert "deploy" not in ids  # "after deployment" says where, it does not ask for a deploy
    assert any("kubectl" in c and "not registered" in c for c in refined.metadata["changes"])


async def test_refine_unmatched_requirement_becomes_a_step_and_approval_goes_first() -> None:
    gen = make_generator()
    generated = await gen.generate("Deploy the billing service", {})
    refined = await gen.refine(generated.workflow, ["Require sign-off from the release manager",
                                                    "Warm the CDN caches"])
    ids = step_ids(refined.workflow)
    assert ids.index("approval") < ids.index("deploy")
    assert any(i.startswith("req_warm_the_cdn_caches") for i in ids)
    assert refined.validation.valid, refined.validation.issues


async def test_refine_keeps_a_broken_workflow_broken_but_reported() -> None:
    gen = make_generator()
    broken = {"name": "x", "steps": [{"name": "a", "prompt": "use {missing}"}]}
    refined = await gen.refine(broken, [])
    assert not refined.validation.valid
    assert refined.validation.issues[0].path == "steps[0].prompt"
    assert "missing" in refined.validation.issues[0].message


async def test_refine_rejects_non_object_workflow() -> None:
    with pytest.raises(ValidationFailed) as info:
        await make_generator().refine([1, 2], [])  # type: ignore[arg-type]
    assert info.value.field == "workflow"


# -- providers and features ----------------------------------------------------------------

async def test_unknown_provider_and_missing_feature_name_the_field() -> None:
    gen = make_generator()
    with pytest.raises(ValidationFailed) as info:
        await gen.generate("Deploy", {}, provider="nope")
    assert info.value.field == "provider" and "available: builtin" in str(info.value)
    registry = ProviderRegistry()
    registry.register(BuiltinProvider(features=ProviderFeatures(refinement=False)))
    limited = WorkflowGenerator(registry, gen.tools, ManualClock())
    with pytest.raises(ValidationFailed, match="does not support refinement"):
        await limited.refine(KUBECTL_WORKFLOW, [])


# -- validation ------------------------------------------------------------------------------

def test_validation_reports_every_issue_with_paths() -> None:
    gen = make_generator()
    _, validation = validate_workflow({"name": "bad", "steps": [
        {"name": "a", "tool": "nope"},
        {"name": "b", "type": "teleport"},
        {"name": "c", "prompt": "hello {who}", "next": "nowhere"},
    ]}, gen.context)
    paths = [i.path for i in validation.issues]
    assert paths == ["steps[1].type", "steps[0].tool", "steps[2].next", "steps[2].prompt"]
    assert validation.as_dict()["valid"] is False


def test_suggestions_for_a_bare_deploy() -> None:
    gen = make_generator()
    _, validation = gen.validate({"name": "d", "steps": [
        {"name": "deploy", "prompt": "deploy it"}]})
    assert validation.valid
    assert validation.suggestions[:3] == [
        "Add health checks after deployment", "Include rollback strategy",
        "Add an approval gate before deploying (a human step)"]


@pytest.mark.parametrize("text", [
    '{"name": "a"}',
    'Here you go:\n```json\n{"name": "a"}\n```\nEnjoy.',
    'Sure! {"name": "a", "note": "braces } in strings {"} trailing words',
])
def test_extract_json(text: str) -> None:
    assert extract_json(text)["name"] == "a"


def test_extract_json_refuses_prose() -> None:
    with pytest.raises(ValueError):
        extract_json("I cannot do that.")


# -- the generated workflows run ----------------------------------------------------------

async def test_seed_flow_workflow_runs_to_completion(engine: Engine) -> None:
    gen = WorkflowGenerator(engine.providers, engine.tools, engine.clock)
    generated = await gen.generate(SEED_TASK, SEED_CONTEXT)
    refined = await gen.refine(generated.workflow, SEED_REQUIREMENTS)
    orch = prepare_inline(refined.workflow, {"image_tag": "v2.1.0", "replicas": 3},
                          validation_context(engine.providers, engine.tools))
    run = await engine.runs.start(orch, values={"image_tag": "v2.1.0", "replicas": 3})
    done = await engine.runs.wait(run.run_id, timeout=30)
    assert done.status == "completed", done.error
    assert [r.step_id for r in done.step_history] == step_ids(refined.workflow)[:-1]
    assert done.shared_state["replicas"] == 3
    assert done.shared_state["plan"].startswith("[builtin offline provider")


# -- the LLM path against a real local chat-completions server ----------------------------

@dataclass
class ChatServer:
    url: str
    replies: list[tuple[int, str]]
    requests: list[dict[str, Any]] = field(default_factory=list)


def chat(text: str) -> str:
    return json.dumps({"id": "c1", "object": "chat.completion", "model": "test-model",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": text}}],
                       "usage": {"prompt_tokens": 100, "completion_tokens": 50}})


@pytest.fixture
async def chat_server() -> AsyncIterator[ChatServer]:
    state = ChatServer(url="", replies=[])

    async def handle(request: web.Request) -> web.Response:
        state.requests.append(msgspec.json.decode(await request.read()))
        status, body = state.replies.pop(0) if state.replies else (500, '{"error": "empty"}')
        return web.Response(status=status, text=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield state
    finally:
        await runner.cleanup()


def llm(server: ChatServer) -> OpenAIProvider:
    return OpenAIProvider(base_url=server.url, model="test-model", env={}, max_retries=0,
                          backoff_base=0.0)


GOOD = {"name": "deploy-app", "description": "Deploy", "state_schema": {"tag": "string"},
        "steps": [{"id": "plan", "name": "plan", "type": "agent", "prompt": "Plan {tag}"},
                  {"id": "tell", "name": "tell", "type": "tool", "tool": "notify",
                   "parameters": {"channel": "ops", "message": "deployed {tag}"}}]}


async def test_llm_generate_parses_fenced_json(chat_server: ChatServer) -> None:
    provider = llm(chat_server)
    gen = make_generator(provider)
    chat_server.replies.append((200, chat("Here:\n```json\n" + json.dumps(GOOD) + "\n```")))
    try:
        result = await gen.generate("Deploy app", {"env": "staging"}, provider="openai")
    finally:
        await provider.aclose()
    assert result.workflow == GOOD
    assert result.validation.valid
    assert result.metadata["provider"] == "openai" and result.metadata["model"] == "test-model"
    assert result.metadata["generator"] == "llm" and result.metadata["attempts"] == 1
    assert result.metadata["usage"] == {"input_tokens": 100, "output_tokens": 50}
    sent = chat_server.requests[0]["messages"]
    assert sent[0]["role"] == "system" and "notify" in sent[0]["content"]
    assert "Task: Deploy app" in sent[1]["content"] and '"env": "staging"' in sent[1]["content"]


async def test_llm_invalid_workflow_is_sent_back_once_with_its_problems(
        chat_server: ChatServer) -> None:
    provider = llm(chat_server)
    gen = make_generator(provider)
    bad = {"name": "x", "steps": [{"name": "run", "tool": "kubectl"}]}
    chat_server.replies += [(200, chat(json.dumps(bad))), (200, chat(json.dumps(GOOD)))]
    try:
        result = await gen.generate("Deploy app", provider="openai")
    finally:
        await provider.aclose()
    assert result.validation.valid and result.metadata["attempts"] == 2
    repair = chat_server.requests[1]["messages"][-1]["content"]
    assert "steps[0].tool" in repair and "kubectl" in repair


async def test_llm_still_invalid_after_repair_reports_issues(chat_server: ChatServer) -> None:
    provider = llm(chat_server)
    gen = make_generator(provider)
    bad = {"workflow": {"name": "x", "steps": [{"name": "run", "tool": "kubectl"}]}}
    chat_server.replies += [(200, chat(json.dumps(bad)))] * 2
    try:
        result = await gen.refine(KUBECTL_WORKFLOW, ["Add health checks"], provider="openai")
    finally:
        await provider.aclose()
    assert not result.validation.valid
    assert result.validation.issues[0].path == "steps[0].tool"
    assert result.workflow == bad["workflow"]
    prompt = chat_server.requests[0]["messages"][1]["content"]
    assert "Add health checks" in prompt and "Known problems" in prompt


async def test_llm_prose_and_errors_are_generation_failures(chat_server: ChatServer) -> None:
    provider = llm(chat_server)
    gen = make_generator(provider)
    chat_server.replies += [(200, chat("I would rather not.")), (200, chat("Still no."))]
    try:
        with pytest.raises(GenerationFailed, match="did not return a JSON workflow") as info:
            await gen.generate("Deploy app", provider="openai")
        assert info.value.status == 502
        chat_server.replies.append((400, '{"error": {"message": "bad model"}}'))
        with pytest.raises(GenerationFailed, match="bad model"):
            await gen.generate("Deploy app", provider="openai")
    finally:
        await provider.aclose()


async def test_llm_review_returns_labelled_suggestions(chat_server: ChatServer) -> None:
    provider = llm(chat_server)
    gen = make_generator(provider)
    chat_server.replies.append((200, chat('{"suggestions": ["Pin the image digest"]}')))
    try:
        assert await gen.review(GOOD, provider="openai") == ["openai review: Pin the image digest"]
        assert await gen.review(GOOD, provider="builtin") == []
    finally:
        await provider.aclose()
