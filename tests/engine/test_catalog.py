"""Workflow templates (seed 002) and inline-execution preparation."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.engine.config import load_config
from switchboard.engine.engine import Engine
from switchboard.engine.errors import ValidationFailed
from switchboard.engine.orchestrations.catalog import TemplateCatalog
from switchboard.engine.orchestrations.generate import validation_context
from switchboard.engine.orchestrations.inline import InvalidWorkflow, prepare_inline, run_definition
from switchboard.engine.providers import build_providers
from switchboard.engine.tools import build_tools

CONFIG = load_config(env={})
CONTEXT = validation_context(build_providers(CONFIG.providers, env={}),
                             build_tools(CONFIG.orchestrations))


def ids(workflow: dict[str, Any]) -> list[str]:
    return [s["id"] for s in workflow["steps"]]


def test_catalog_lists_templates_with_declared_parameters() -> None:
    catalog = TemplateCatalog()
    summaries = [t.summary() for t in catalog.list()]
    assert [s["id"] for s in summaries] == ["deploy-to-kubernetes", "incident-triage",
                                            "research-report"]
    deploy = summaries[0]
    params = {p["name"]: p for p in deploy["parameters"]}
    assert params["app"] == {"name": "app", "type": "string", "required": True,
                             "description": "Application (deployment) name"}
    assert params["environment"]["enum"] == ["development", "staging", "production"]
    assert params["replicas"]["default"] == 2 and params["replicas"]["minimum"] == 1


@pytest.mark.parametrize(("template_id", "values", "expected"), [
    ("deploy-to-kubernetes", {"app": "shop", "image": "reg/shop:1.2"},
     ["plan", "approve", "deploy", "verify", "announce", "rollback"]),
    ("deploy-to-kubernetes", {"app": "shop", "image": "reg/shop:1.2", "require_approval": False,
                              "health_url": "http://127.0.0.1:9/h", "deploy_via": "task"},
     ["plan", "deploy", "verify", "announce", "rollback"]),
    ("incident-triage", {"service": "payments"},
     ["triage", "notify", "acknowledge", "mitigate", "postmortem"]),
    ("incident-triage", {"service": "payments", "acknowledge": False},
     ["triage", "notify", "mitigate", "postmortem"]),
    ("research-report", {"topic": "vector databases", "publish": True},
     ["research", "write", "review", "publish"]),
])
def test_instantiate_builds_valid_workflows(template_id: str, values: dict[str, Any],
                                            expected: list[str]) -> None:
    workflow, resolved, validation = TemplateCatalog().instantiate(template_id, values, CONTEXT)
    assert validation.valid, validation.issues
    assert ids(workflow) == expected
    for name, value in resolved.items():  # parameters are state defaults, overridable later
        assert workflow["state_schema"][name]["default"] == value


def test_instantiate_names_bad_parameters() -> None:
    catalog = TemplateCatalog()
    with pytest.raises(ValidationFailed) as info:
        catalog.instantiate("deploy-to-kubernetes", {"app": 3}, CONTEXT)
    assert info.value.field == "parameters.app"
    assert str(info.value) == ("parameters.app: expected string, got int; "
                               "parameters.image: required parameter is missing")
    with pytest.raises(ValidationFailed) as info:
        catalog.instantiate("deploy-to-kubernetes", {"app": "a", "image": "b", "replicas": 0,
                                                     "colour": "red"}, CONTEXT)
    assert info.value.field == "parameters.colour"
    assert "parameters.replicas: must be at least 1" in str(info.value)
    with pytest.raises(ValidationFailed, match="must be one of: P0, P1, P2, P3"):
        catalog.instantiate("incident-triage", {"service": "x", "severity": "urgent"}, CONTEXT)


def test_unknown_template_is_not_found() -> None:
    from switchboard.engine.errors import NotFound
    with pytest.raises(NotFound, match="available: deploy-to-kubernetes"):
        TemplateCatalog().get("nope")


async def test_deploy_template_pauses_at_its_gate_and_finishes(engine: Engine) -> None:
    from switchboard.engine.actors import Actor
    workflow, _, _ = TemplateCatalog().instantiate(
        "deploy-to-kubernetes", {"app": "shop", "image": "reg/shop:1.2"}, CONTEXT)
    orch = prepare_inline(workflow, {"replicas": 4}, CONTEXT)
    run = await engine.runs.start(orch, values={"replicas": 4})
    paused = await engine.runs.wait(run.run_id, timeout=30)
    assert paused.status == "paused"
    assert paused.human_input_required["prompt"] == "Deploy shop (reg/shop:1.2) to default in staging?"
    await engine.runs.resume(run.run_id, {"confirm": True, "replicas": 5}, Actor("op", "agent"))
    done = await engine.runs.wait(run.run_id, timeout=30)
    assert done.status == "completed", done.error
    assert [r.step_id for r in done.step_history] == ["plan", "approve", "deploy", "verify",
                                                      "announce"]
    announce = done.step_history[-1].output
    assert announce["message"] == "Deployed shop (reg/shop:1.2) to default: 5 replicas"
    assert (await run_definition(engine.store, run.run_id)) == orch


# -- prepare_inline -----------------------------------------------------------------------

FLAKY = {"name": "flaky", "steps": [
    {"name": "call", "tool": "http", "parameters": {"url": "http://127.0.0.1:9/x"}},
    {"name": "after", "tool": "current_time"},
    {"name": "rollback", "prompt": "Roll back", "next": "end"},
]}


def test_on_failure_options_wire_tool_steps() -> None:
    cont = prepare_inline(FLAKY, None, CONTEXT, on_failure="continue")
    assert [getattr(s, "on_failure", None) for s in cont.steps] == ["after", "rollback", None]
    back = prepare_inline(FLAKY, None, CONTEXT, on_failure="rollback")
    assert [getattr(s, "on_failure", None) for s in back.steps] == ["rollback", "rollback", None]
    stop = prepare_inline(FLAKY, None, CONTEXT)
    assert [getattr(s, "on_failure", None) for s in stop.steps] == [None, None, None]
    with pytest.raises(ValidationFailed) as info:
        prepare_inline({"name": "x", "steps": [{"name": "a", "tool": "current_time"}]}, None,
                       CONTEXT, on_failure="rollback")
    assert info.value.field == "options.on_failure"


def test_timeout_provider_and_parameters() -> None:
    orch = prepare_inline({"name": "x", "state_schema": {"replicas": "integer"},
                           "steps": [{"name": "a", "prompt": "go {replicas} {image_tag}"}]},
                          {"replicas": 3, "image_tag": "v1"}, CONTEXT, timeout_seconds=300,
                          provider="builtin", model="builtin")
    assert orch.limits.timeout == 300
    assert orch.steps[0].provider == "builtin" and orch.steps[0].model == "builtin"
    assert orch.state_schema["image_tag"].type == "string"
    with pytest.raises(ValidationFailed) as info:
        prepare_inline({"name": "x", "state_schema": {"replicas": "integer"},
                        "steps": [{"name": "a", "prompt": "go"}]}, {"replicas": "3"}, CONTEXT)
    assert info.value.field == "parameters.replicas" and "expected integer" in str(info.value)
    with pytest.raises(ValidationFailed) as info:
        prepare_inline({"name": "x", "steps": [{"name": "a", "prompt": "go"}]},
                       {"image-tag": "v1"}, CONTEXT)
    assert info.value.field == "parameters.image-tag"


def test_invalid_workflow_lists_every_issue_under_workflow() -> None:
    with pytest.raises(InvalidWorkflow) as info:
        prepare_inline({"name": "bad", "steps": [{"name": "a", "tool": "kubectl"},
                                                 {"name": "b", "prompt": "{nope}"}]},
                       None, CONTEXT)
    assert info.value.field == "workflow.steps[0].tool"
    assert str(info.value) == (
        "workflow.steps[0].tool: unknown or disallowed tool 'kubectl'; "
        "workflow.steps[1].prompt: template names {nope}, but state_schema has no key 'nope'")
    assert len(info.value.validation.issues) == 2
    with pytest.raises(ValidationFailed, match="must be a JSON object"):
        prepare_inline("steps", None, CONTEXT)
