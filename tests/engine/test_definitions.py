"""Definitions decode from TOML, YAML, JSON and dicts into structs an executor can walk."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from switchboard.engine.orchestrations import (
    END,
    AgentStep,
    HumanStep,
    Orchestration,
    TaskStep,
    ToolStep,
    load_file,
    load_inline,
    load_text,
)
from switchboard.engine.orchestrations.conditions import ConditionError

TOML = """\
id = "demo"
name = "Demo"
description = "d"

[state_schema]
topic = "string"
count = { type = "integer", default = 3 }
notes = { type = "list" }

[limits]
max_cost_usd = 0.5
max_turns = 10
timeout = 60

[[steps]]
id = "think"
type = "agent"
prompt = "Think about {topic}"
tools = ["web_search"]
output_key = "notes"

[[steps]]
id = "gate"
type = "human"
prompt = "Go on with {topic}?"
agent_context = "Notes: {notes}"
[[steps.fields]]
name = "go"
type = "boolean"
required = true
[[steps.fields]]
name = "how"
type = "multiselect"
options = ["fast", "safe"]
[[steps.when]]
condition = "not go"
goto = "end"

[[steps]]
id = "work"
type = "task"
task_type = "bugfix"
priority = "high"
payload = { topic = "{topic}", count = "{count}", text = "n={count}" }
result_key = "notes"
on_failure = "gate"

[[steps]]
id = "check"
type = "tool"
tool = "word_count"
args = { text = "{topic}" }
"""

YAML = """\
id: demo
name: Demo
description: d
state_schema:
  topic: string
  count: {type: integer, default: 3}
  notes: {type: list}
limits: {max_cost_usd: 0.5, max_turns: 10, timeout: 60}
steps:
  - id: think
    type: agent
    prompt: "Think about {topic}"
    tools: [web_search]
    output_key: notes
  - id: gate
    type: human
    prompt: "Go on with {topic}?"
    agent_context: "Notes: {notes}"
    fields:
      - {name: go, type: boolean, required: true}
      - {name: how, type: multiselect, options: [fast, safe]}
    when:
      - {condition: "not go", goto: end}
  - id: work
    type: task
    task_type: bugfix
    priority: high
    payload: {topic: "{topic}", count: "{count}", text: "n={count}"}
    result_key: notes
    on_failure: gate
  - id: check
    type: tool
    tool: word_count
    args: {text: "{topic}"}
"""


@pytest.fixture
def demo() -> Orchestration:
    result = load_text(TOML, "toml", "demo.toml")
    assert result.problems == []
    assert result.orchestration is not None
    return result.orchestration


def test_toml_decodes_into_typed_steps(demo: Orchestration) -> None:
    assert [type(step) for step in demo.steps] == [AgentStep, HumanStep, TaskStep, ToolStep]
    assert demo.limits.max_cost_usd == 0.5 and demo.limits.timeout == 60.0
    assert demo.state_schema["count"].type == "integer"
    gate = demo.steps[1]
    assert isinstance(gate, HumanStep)
    assert [f.name for f in gate.fields] == ["go", "how"]
    assert demo.source == "demo.toml"
    assert len(demo.version) == 16


def test_yaml_and_toml_give_the_same_definition_and_version(demo: Orchestration) -> None:
    from_yaml = load_text(YAML, "yaml", "demo.yaml").orchestration
    assert from_yaml is not None
    assert from_yaml.version == demo.version
    assert msgspec.structs.replace(from_yaml, source="demo.toml") == demo


def test_json_file_decodes(tmp_path: Path, demo: Orchestration) -> None:
    path = tmp_path / "demo.json"
    dumped = msgspec.to_builtins(demo)
    dumped["version"] = "forged"  # loader-managed: accepted in a dump, never trusted
    path.write_bytes(msgspec.json.encode(dumped))
    result = load_file(path)
    assert result.orchestration is not None
    assert result.orchestration.version == demo.version
    assert result.orchestration.source == str(path)


def test_version_changes_with_content_but_not_formatting(demo: Orchestration) -> None:
    reformatted = load_text(TOML.replace('id = "demo"', 'id    =    "demo"   # same'),
                            "toml").orchestration
    changed = load_text(TOML.replace("Think about", "Ponder"), "toml").orchestration
    assert reformatted is not None and changed is not None
    assert reformatted.version == demo.version
    assert changed.version != demo.version


def test_definition_round_trips_through_json_for_persisting_with_a_run(
    demo: Orchestration,
) -> None:
    decoded = msgspec.json.decode(msgspec.json.encode(demo), type=Orchestration)
    assert decoded == demo
    assert isinstance(decoded.steps[2], TaskStep)


def test_initial_state_fills_the_first_key_with_the_message(demo: Orchestration) -> None:
    assert demo.initial_state("quantum computing") == {
        "topic": "quantum computing", "count": 3, "notes": []}
    state = demo.initial_state(None, {"count": 7})
    assert state == {"topic": "", "count": 7, "notes": []}
    state["notes"].append("x")
    assert demo.initial_state()["notes"] == []  # defaults are copied, never shared


def test_walking_the_steps(demo: Orchestration) -> None:
    first = demo.first_step()
    assert first is not None and first.id == "think"
    assert demo.next_step_id(first, {}) == "gate"
    gate = demo.get_step("gate")
    assert demo.next_step_id(gate, {"go": False}) is None  # goto end
    assert demo.next_step_id(gate, {"go": True}) == "work"
    work = demo.get_step("work")
    assert demo.failure_step_id(work) == "gate"
    assert demo.failure_step_id(first) is None
    last = demo.get_step("check")
    assert demo.next_step_id(last, {}) is None
    with pytest.raises(KeyError):
        demo.get_step("nope")


def test_next_and_end_targets() -> None:
    text = TOML.replace('tool = "word_count"', 'tool = "word_count"\nnext = "think"')
    orch = load_text(text, "toml").orchestration
    assert orch is not None
    assert orch.next_step_id(orch.get_step("check"), {}) == "think"
    assert END == "end"


def test_condition_errors_surface_at_runtime(demo: Orchestration) -> None:
    text = TOML.replace('condition = "not go"', 'condition = "go > 3"')
    orch = load_text(text, "toml").orchestration
    assert orch is not None
    with pytest.raises(ConditionError, match="cannot compare"):
        orch.next_step_id(orch.get_step("gate"), {"go": "yes"})


def test_state_types_include_human_fields(demo: Orchestration) -> None:
    assert demo.state_types() == {"topic": "string", "count": "integer", "notes": "list",
                                  "go": "boolean", "how": "list"}


def test_human_input_required_payload_matches_seed_000(demo: Orchestration) -> None:
    gate = demo.get_step("gate")
    assert isinstance(gate, HumanStep)
    payload = gate.input_required({"topic": "AI", "notes": ["a", "b"]}, run_id="run_1")
    assert payload == {
        "run_id": "run_1",
        "step_id": "gate",
        "prompt": "Go on with AI?",
        "fields": [
            {"name": "go", "type": "boolean", "label": "go", "required": True},
            {"name": "how", "type": "multiselect", "label": "how", "options": "fast,safe",
             "choices": ["fast", "safe"]},
        ],
        "agent_context": 'Notes: ["a","b"]',
    }


def test_options_accept_comma_string_and_list() -> None:
    text = TOML.replace('options = ["fast", "safe"]', 'options = "fast, safe"')
    orch = load_text(text, "toml").orchestration
    assert orch is not None
    gate = orch.get_step("gate")
    assert isinstance(gate, HumanStep)
    assert gate.fields[1].choices == ["fast", "safe"]


def test_summary_and_detail(demo: Orchestration) -> None:
    assert demo.summary() == {"id": "demo", "name": "Demo", "description": "d", "steps": 4}
    detail = demo.to_dict()
    assert detail["steps"][2]["type"] == "task"
    assert detail["steps"][2]["payload"]["count"] == "{count}"
    msgspec.json.encode(detail)


def test_frozen_definitions_cannot_be_mutated(demo: Orchestration) -> None:
    with pytest.raises(AttributeError):
        demo.id = "other"  # type: ignore[misc]


def test_inline_seed_002_workflow_is_normalised() -> None:
    workflow = {
        "name": "deploy-app",
        "steps": [
            {"name": "validate_environment", "tool": "http",
             "parameters": {"url": "https://k8s.example/{namespace}"}},
            {"name": "summarise", "prompt": "Summarise the check of {image_tag}"},
        ],
    }
    result = load_inline(workflow, {"image_tag": "v1.2.3", "replicas": 3,
                                    "namespace": "app-staging"})
    assert result.problems == []
    orch = result.orchestration
    assert orch is not None
    assert orch.id == "deploy-app"
    assert [s.id for s in orch.steps] == ["validate_environment", "summarise"]
    assert isinstance(orch.steps[0], ToolStep)
    assert orch.steps[0].args == {"url": "https://k8s.example/{namespace}"}
    assert isinstance(orch.steps[1], AgentStep)
    assert orch.state_schema["replicas"].type == "integer"
    assert orch.initial_state(values={"image_tag": "v1.2.3"})["image_tag"] == "v1.2.3"


def test_inline_garbage_is_a_problem() -> None:
    assert load_inline("not a workflow").problems[0].message.startswith("expected a table")
