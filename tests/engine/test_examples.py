"""The shipped example orchestrations: valid, shaped as seed 000 shows, runnable offline.

The agent steps are driven here by a deliberately tiny loop (provider turn -> tools ->
provider turn) to prove the builtin provider, the tool registry, templates and pricing fit
together; the durable executor is a separate component.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from switchboard.engine.config import OrchestrationsConfig, ProvidersConfig
from switchboard.engine.orchestrations import (
    AgentStep,
    HumanStep,
    Orchestration,
    TaskStep,
    ToolStep,
    ValidationContext,
    render,
    render_value,
    validate_answer,
    validate_path,
)
from switchboard.engine.providers import BUILTIN_LABEL, Message, build_providers, compute_cost
from switchboard.engine.tools import build_tools

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "orchestrations"


@pytest.fixture(scope="module")
def examples() -> dict[str, Orchestration]:
    tools = build_tools(OrchestrationsConfig())
    context = ValidationContext(tool_exists=tools.has, providers={"builtin", "openai"})
    good, problems = validate_path(EXAMPLES, context)
    assert problems == []
    return {orch.id: orch for orch in good}


def test_all_three_examples_load(examples: dict[str, Orchestration]) -> None:
    assert set(examples) >= {"orch-research-report", "incident-response", "deployment"}
    assert Path(examples["incident-response"].source).suffix == ".yaml"


def test_research_report_matches_seed_000(examples: dict[str, Orchestration]) -> None:
    orch = examples["orch-research-report"]
    assert orch.summary() == {"id": "orch-research-report", "name": "Research → Report",
                              "description": "Research a topic and generate a report",
                              "steps": 5}
    assert next(iter(orch.initial_state("Synapse AI platform"))) == "query"
    assert orch.initial_state("Synapse AI platform")["query"] == "Synapse AI platform"
    assert [s.type for s in orch.steps] == ["agent", "agent", "human", "tool", "agent"]
    gate = orch.get_step("step-approve")
    assert isinstance(gate, HumanStep)
    payload = gate.input_required({"article": "# Draft"})
    assert payload["step_id"] == "step-approve"
    assert payload["prompt"] == (
        "Please review the draft article and decide whether to publish.")
    assert payload["agent_context"] == "Draft article: # Draft"
    assert [{k: f[k] for k in ("name", "type", "label")} | (
        {"options": f["options"]} if "options" in f else {}) for f in payload["fields"]] == [
        {"name": "decision", "type": "select", "label": "Decision",
         "options": "approve,reject"},
        {"name": "notes", "type": "text", "label": "Editor notes"},
    ]
    assert orch.next_step_id(gate, {"decision": "approve"}) == "step-publish"
    assert orch.next_step_id(gate, {"decision": "reject"}) == "step-revise"
    assert orch.next_step_id(orch.get_step("step-publish"), {}) is None
    assert orch.next_step_id(orch.get_step("step-revise"), {}) == "step-approve"
    seed_answer = {"decision": "approve", "notes": "Approved via API"}
    assert validate_answer(gate.fields, seed_answer) == (seed_answer, [])


def test_incident_response_shape(examples: dict[str, Orchestration]) -> None:
    orch = examples["incident-response"]
    remediate = orch.get_step("remediate")
    assert isinstance(remediate, TaskStep)
    assert (remediate.task_type, remediate.priority) == ("incident", "P0")
    assert orch.failure_step_id(remediate) == "postmortem"
    state = orch.initial_state("db-01 disk full") | {"triage": "Severity: P0"}
    assert render_value(remediate.payload, state) == {
        "action": "remediate", "alert": "db-01 disk full", "triage": "Severity: P0"}


def test_deployment_shape(examples: dict[str, Orchestration]) -> None:
    orch = examples["deployment"]
    gate = orch.get_step("approve")
    assert isinstance(gate, HumanStep)
    assert {f.name: f.type for f in gate.fields} == {"replicas": "number",
                                                    "confirm": "boolean"}
    cleaned, errors = validate_answer(gate.fields, {"replicas": "3", "confirm": "yes"})
    assert errors == [] and cleaned == {"replicas": 3, "confirm": True}
    assert validate_answer(gate.fields, {"replicas": 0, "confirm": True})[1][0].field == (
        "replicas")
    assert orch.next_step_id(gate, {"confirm": False}) is None
    assert orch.next_step_id(gate, {"confirm": True}) == "deploy"
    deploy = orch.get_step("deploy")
    assert isinstance(deploy, TaskStep) and deploy.task_type == "deployment"
    payload = render_value(deploy.payload, orch.initial_state("web v2") | cleaned)
    assert payload["replicas"] == 3  # typed, not "3"
    verify = orch.get_step("verify")
    assert isinstance(verify, ToolStep) and verify.tool == "http"
    assert render_value(verify.args, orch.initial_state("x"))["url"] == (
        "http://127.0.0.1:8000/health")


async def run_agent_step(step: AgentStep, state: dict[str, Any]) -> tuple[str, int, float]:
    """Provider turn -> tool calls -> provider turn, until no tool calls (or max_turns)."""
    providers = build_providers(ProvidersConfig(), env={})
    tools = build_tools(OrchestrationsConfig())
    provider = providers.get(step.provider)
    messages = [Message.system(render(step.system_prompt, state)),
                Message.user(render(step.prompt, state))]
    specs = tools.specs(step.tools)
    cost, turns = 0.0, 0
    while True:
        turn = await provider.complete(messages, specs, step.model)
        turns += 1
        cost += compute_cost(turn.usage, turn.model, ProvidersConfig().prices)
        messages.append(turn.message())
        if not turn.tool_calls or turns >= step.max_turns:
            return turn.text, turns, cost
        for call in turn.tool_calls:
            result = await tools.call(call.name, call.arguments)
            assert result.ok, result.error
            messages.append(Message.tool_result(call, result.as_text()))


async def test_research_report_agents_run_offline_on_the_builtin_provider(
    examples: dict[str, Orchestration],
) -> None:
    orch = examples["orch-research-report"]
    state = orch.initial_state("AI orchestration trends 2025")
    for step_id in ("step-research", "step-write"):
        step = orch.get_step(step_id)
        assert isinstance(step, AgentStep) and step.provider is None  # the default: builtin
        text, turns, cost = await run_agent_step(step, state)
        assert step.output_key is not None
        state[step.output_key] = text
        assert turns == 2 and cost > 0
        assert text.startswith(BUILTIN_LABEL)
    assert "AI orchestration trends 2025" in state["research_results"]
    assert "example." in state["research_results"]  # simulated search results were used
    assert state["article"].splitlines()[2] == "# AI orchestration trends 2025"
