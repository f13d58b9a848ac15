"""Every definition problem is reported with file, path, line and a reason, never raised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from switchboard.engine.orchestrations import (
    DefinitionProblem,
    ValidationContext,
    load_file,
    load_inline,
    load_mapping,
    load_text,
)


def base(**extra: Any) -> dict[str, Any]:
    """A valid two-step definition to break one thing at a time."""
    data: dict[str, Any] = {
        "id": "t",
        "state_schema": {"query": {"type": "string"}, "answer": {"type": "string"}},
        "steps": [
            {"id": "a", "type": "agent", "prompt": "Answer {query}", "output_key": "answer"},
            {"id": "h", "type": "human", "prompt": "OK?",
             "fields": [{"name": "decision", "type": "select", "options": "yes,no"}]},
        ],
    }
    data.update(extra)
    return data


def problems_of(data: Any, context: ValidationContext | None = None) -> dict[str, str]:
    result = load_mapping(data, "test.toml", context)
    assert result.orchestration is None or not result.problems
    return {p.path: p.message for p in result.problems}


def test_the_base_definition_is_valid() -> None:
    result = load_mapping(base(), "test.toml")
    assert result.ok and result.problems == []


def test_unknown_step_type() -> None:
    data = base()
    data["steps"][1] = {"id": "h", "type": "robot"}
    found = problems_of(data)
    assert "unknown step type 'robot'" in found["steps[1].type"]
    assert "agent, task, tool, human" in found["steps[1].type"]


def test_missing_step_type() -> None:
    data = base()
    del data["steps"][0]["type"]
    assert "required key is missing" in problems_of(data)["steps[0].type"]


def test_unknown_next_and_goto_and_on_failure_targets() -> None:
    data = base()
    data["steps"][0]["next"] = "nowhere"
    data["steps"][1]["when"] = [{"condition": "decision == 'yes'", "goto": "missing"}]
    data["steps"].append({"id": "t", "type": "task", "task_type": "bugfix",
                          "on_failure": "ghost"})
    found = problems_of(data)
    assert "unknown step 'nowhere'" in found["steps[0].next"]
    assert "unknown step 'missing'" in found["steps[1].when[0].goto"]
    assert "unknown step 'ghost'" in found["steps[2].on_failure"]


def test_goto_end_is_always_a_valid_target() -> None:
    data = base()
    data["steps"][0]["next"] = "end"
    assert load_mapping(data).ok


def test_duplicate_step_id() -> None:
    data = base()
    data["steps"][1]["id"] = "a"
    assert "duplicate step id 'a'" in problems_of(data)["steps[1].id"]


def test_duplicate_id_of_an_undecodable_step_is_still_found() -> None:
    data = base()
    data["steps"].append({"id": "a", "type": "robot"})
    found = problems_of(data)
    assert "duplicate step id 'a'" in found["steps[2].id"]
    assert "unknown step type" in found["steps[2].type"]


def test_reserved_step_id() -> None:
    data = base()
    data["steps"][0]["id"] = "end"
    assert "reserved" in problems_of(data)["steps[0].id"]


def test_template_naming_a_key_the_schema_lacks() -> None:
    data = base()
    data["steps"][0]["prompt"] = "Answer {query} using {context}"
    data["steps"][1]["agent_context"] = "{draft}"
    found = problems_of(data)
    assert "{context}" in found["steps[0].prompt"]
    assert "no key 'context'" in found["steps[0].prompt"]
    assert "{draft}" in found["steps[1].agent_context"]


def test_templates_inside_task_payload_and_tool_args_are_checked_where_they_are() -> None:
    data = base()
    data["steps"].append({"id": "t", "type": "task", "task_type": "bugfix",
                          "payload": {"items": ["ok {query}", "bad {nope}"]}})
    data["steps"].append({"id": "u", "type": "tool", "tool": "http",
                          "args": {"url": "{missing_url}"}})
    found = problems_of(data)
    assert "{nope}" in found["steps[2].payload.items[1]"]
    assert "{missing_url}" in found["steps[3].args.url"]


def test_format_style_access_is_reported_and_json_braces_are_not() -> None:
    data = base()
    data["steps"][0]["prompt"] = 'Reply as {"answer": "..."} about {query.title} {{literal}}'
    found = problems_of(data)
    assert "{query.title} is not substituted" in found["steps[0].prompt"]
    assert len(found) == 1


def test_human_fields_are_state_keys_for_templates_and_conditions() -> None:
    data = base()
    data["steps"].append({"id": "after", "type": "agent", "prompt": "Decision was {decision}",
                          "when": [{"condition": "decision == 'no'", "goto": "a"}]})
    data["limits"] = {"max_turns": 10}
    assert load_mapping(data).ok


def test_output_key_must_be_declared() -> None:
    data = base()
    data["steps"][0]["output_key"] = "undeclared"
    assert "undeclared" in problems_of(data)["steps[0].output_key"]


def test_condition_syntax_unsafe_constructs_and_unknown_names() -> None:
    data = base()
    data["steps"][1]["when"] = [
        {"condition": "decision ==", "goto": "a"},
        {"condition": "__import__('os').system('x')", "goto": "a"},
        {"condition": "decision.upper() == 'YES'", "goto": "a"},
        {"condition": "mystery == 1", "goto": "a"},
    ]
    found = problems_of(data)
    assert "invalid syntax" in found["steps[1].when[0].condition"]
    assert "function call is not allowed" in found["steps[1].when[1].condition"]
    assert "not allowed" in found["steps[1].when[2].condition"]
    assert "'mystery'" in found["steps[1].when[3].condition"]


def test_cycle_without_gate_or_limit_is_reported() -> None:
    data = base()
    data["steps"] = [
        {"id": "a", "type": "agent", "prompt": "x", "next": "b"},
        {"id": "b", "type": "tool", "tool": "word_count", "args": {"text": "{query}"},
         "next": "a"},
    ]
    found = problems_of(data)
    assert "steps a, b form a cycle" in found["steps[0]"]
    assert "max_turns" in found["steps[0]"] and "timeout" in found["steps[0]"]


def test_self_loop_is_a_cycle() -> None:
    data = base()
    data["steps"] = [{"id": "a", "type": "agent", "prompt": "x",
                      "when": [{"condition": "query == ''", "goto": "a"}]}]
    assert "loops to itself" in problems_of(data)["steps[0]"]


@pytest.mark.parametrize("fix", [
    {"limits": {"max_turns": 50}},
    {"limits": {"timeout": 60}},
])
def test_cycle_with_a_limit_is_allowed(fix: dict[str, Any]) -> None:
    data = base(**fix)
    data["steps"] = [
        {"id": "a", "type": "agent", "prompt": "x", "next": "b"},
        {"id": "b", "type": "agent", "prompt": "y", "next": "a"},
    ]
    assert load_mapping(data).ok


def test_cycle_through_a_human_gate_is_allowed() -> None:
    data = base()
    data["steps"][1]["next"] = "a"
    assert load_mapping(data).ok


def test_cost_limit_alone_does_not_bound_a_cycle() -> None:
    data = base(limits={"max_cost_usd": 1.0})
    data["steps"] = [{"id": "a", "type": "tool", "tool": "word_count", "next": "a"}]
    assert "loops to itself" in problems_of(data)["steps[0]"]


def test_bad_field_types_and_select_without_options() -> None:
    data = base()
    data["steps"][1]["fields"] = [
        {"name": "kind", "type": "dropdown"},
        {"name": "pick", "type": "select"},
        {"name": "many", "type": "multiselect", "options": []},
        {"name": "n", "type": "number", "min": 5, "max": 1},
        {"name": "flag", "type": "boolean", "default": "maybe"},
        {"name": "pick", "type": "text"},
        {"name": "bad name", "type": "text"},
    ]
    found = problems_of(data)
    assert "unknown value 'dropdown'" in found["steps[1].fields[0].type"]
    assert "text, textarea, select, multiselect, number, boolean" in found[
        "steps[1].fields[0].type"]
    assert "needs options" in found["steps[1].fields[1].options"]
    assert "needs options" in found["steps[1].fields[2].options"]
    assert "greater than max" in found["steps[1].fields[3].min"]
    assert "true or false" in found["steps[1].fields[4].default"]
    assert "duplicate field name 'pick'" in found["steps[1].fields[5].name"]
    assert "identifiers" in found["steps[1].fields[6].name"]


def test_human_gate_roles_timeout_and_default_answer_are_checked() -> None:
    data = base()
    data["steps"][1].update({"allowed_roles": ["admin", "wizard"], "timeout_seconds": 0,
                             "default_answer": {"decision": "maybe"}})
    found = problems_of(data)
    assert "unknown role 'wizard'" in found["steps[1].allowed_roles[1]"]
    assert "greater than 0" in found["steps[1].timeout_seconds"]
    assert "must be one of yes, no" in found["steps[1].default_answer.decision"]


def test_wrong_value_types_unknown_keys_and_missing_required_keys() -> None:
    data = base(name=5, colour="blue", limits={"max_turns": "ten"})
    data["steps"][0]["max_turns"] = "many"
    data["steps"][0]["tools"] = "web_search"
    data["steps"][0]["flavour"] = 1
    del data["steps"][0]["prompt"]
    found = problems_of(data)
    assert found["name"] == "expected string, got integer"
    assert "unknown key 'colour'" in found["colour"]
    assert found["limits.max_turns"] == "expected integer, got string"
    assert found["steps[0].max_turns"] == "expected integer, got string"
    assert found["steps[0].tools"] == "expected list, got string"
    assert "unknown key 'flavour'" in found["steps[0].flavour"]
    assert found["steps[0].prompt"] == "required key is missing"


def test_a_broken_step_still_gets_its_branches_checked() -> None:
    data = base()
    data["steps"][1]["fields"].append({"name": "x", "type": "slider"})
    data["steps"][1]["when"] = [{"condition": "zzz", "goto": "nowhere"}]
    found = problems_of(data)
    assert "steps[1].fields[1].type" in found
    assert "steps[1].when[0].goto" in found
    assert "steps[1].when[0].condition" in found


def test_state_schema_problems() -> None:
    data = base(state_schema={"query": "string", "n": {"type": "integer", "default": "x"},
                              "bad-key": "string", "t": {"type": "tensor"}})
    data["steps"][0].pop("output_key")
    found = problems_of(data)
    assert "not of type integer" in found["state_schema.n.default"]
    assert "identifiers" in found["state_schema.bad-key"]
    assert "unknown value 'tensor'" in found["state_schema.t.type"]
    assert len(found) == 3  # the salvaged schema still knows 'query': no spurious template error


def test_non_finite_limits_and_timeouts() -> None:
    data = base(limits={"max_cost_usd": float("nan"), "timeout": float("inf")})
    data["steps"].append({"id": "u", "type": "tool", "tool": "http", "timeout": float("nan")})
    found = problems_of(data)
    assert set(found) == {"limits.max_cost_usd", "limits.timeout", "steps[2].timeout"}


def test_task_priority_and_limits() -> None:
    data = base(limits={"max_cost_usd": 0, "max_turns": 0, "timeout": -1})
    data["steps"].append({"id": "t", "type": "task", "task_type": "bugfix", "priority": "P9"})
    found = problems_of(data)
    assert "unknown priority 'P9'" in found["steps[2].priority"]
    assert "limits.max_cost_usd" in found and "limits.max_turns" in found
    assert "limits.timeout" in found


def test_unknown_tools_and_providers_with_a_context() -> None:
    data = base()
    data["steps"][0].update({"tools": ["web_search", "teleport"], "provider": "skynet"})
    data["steps"].append({"id": "u", "type": "tool", "tool": "os:system"})
    context = ValidationContext(tool_exists=lambda name: name == "web_search",
                                providers={"builtin", "openai"})
    found = problems_of(data, context)
    assert "'teleport'" in found["steps[0].tools[1]"]
    assert "unknown provider 'skynet'" in found["steps[0].provider"]
    assert "python callable 'os:system'" in found["steps[2].tool"]


def test_empty_and_non_mapping_documents() -> None:
    assert problems_of(None) == {"": "the document is empty"}
    assert "top level" in problems_of([1, 2])[""]
    assert "at least one step" in problems_of({"id": "x", "steps": []})["steps"]
    assert "expected a list of steps" in problems_of({"id": "x", "steps": "a"})["steps"]
    assert problems_of({"steps": []})["id"] == "required key is missing"


def test_every_problem_is_reported_in_one_pass() -> None:
    data = base(name=1)
    data["steps"][0]["next"] = "nowhere"
    data["steps"][0]["prompt"] = "{ghost}"
    data["steps"][1]["fields"][0] = {"name": "decision", "type": "select"}
    data["steps"].append({"id": "x", "type": "robot"})
    found = problems_of(data)
    assert set(found) == {"name", "steps[0].next", "steps[0].prompt",
                          "steps[1].fields[0].options", "steps[2].type"}


TOML_BROKEN = """\
id = "broken"

[state_schema]
query = "string"

[[steps]]
id = "a"
type = "agent"
prompt = "Use {nothing}"

[[steps]]
id = "h"
type = "human"
prompt = "Decide"

[[steps.fields]]
name = "decision"
type = "dropdown"
"""


def test_toml_problems_carry_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(TOML_BROKEN)
    result = load_file(path)
    assert result.orchestration is None
    by_path = {p.path: p for p in result.problems}
    assert by_path["steps[0].prompt"].line == 9
    assert by_path["steps[1].fields[0].type"].line == 18
    assert all(p.file == str(path) for p in result.problems)
    assert str(by_path["steps[1].fields[0].type"]).startswith(f"{path}:18: steps[1].fields[0]")


YAML_BROKEN = """\
id: broken
state_schema:
  query: string
steps:
  - id: a
    type: agent
    prompt: "Use {nothing}"
  - id: h
    type: human
    prompt: Decide
    fields:
      - name: decision
        type: dropdown
"""


def test_yaml_problems_carry_exact_lines(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(YAML_BROKEN)
    by_path = {p.path: p for p in load_file(path).problems}
    assert by_path["steps[0].prompt"].line == 7
    assert by_path["steps[1].fields[0].type"].line == 13


@pytest.mark.parametrize(("name", "text", "reason"), [
    ("bad.toml", "id = \n", "invalid TOML"),
    ("bad.yaml", "id: [unclosed\n", "invalid YAML"),
    ("bad.json", "{nope", "invalid JSON"),
    ("bad.txt", "id = 'x'", "unsupported file type"),
    ("empty.yaml", "", "the document is empty"),
])
def test_unparseable_files_are_problems_not_exceptions(
    tmp_path: Path, name: str, text: str, reason: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    result = load_file(path)
    assert result.orchestration is None
    assert [reason in p.message for p in result.problems] == [True]
    assert all(isinstance(p, DefinitionProblem) for p in result.problems)


def test_toml_syntax_error_has_its_line() -> None:
    result = load_text('id = "x"\n\nname = = 1\n', "toml", "f.toml")
    assert result.problems[0].line == 3


def test_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "bin.toml"
    path.write_bytes(b"id = '\xff\xfe'")
    assert "cannot read file" in load_file(path).problems[0].message


def test_inline_seed_002_workflow_with_unknown_tool_is_reported() -> None:
    workflow = {"name": "deploy-app", "steps": [
        {"name": "validate_environment", "tool": "kubectl",
         "parameters": {"command": "get namespace {namespace}"}}]}
    context = ValidationContext(tool_exists=lambda name: name == "http")
    result = load_inline(workflow, {"namespace": "app-staging"}, context)
    assert [(p.path, p.message) for p in result.problems] == [
        ("steps[0].tool", "unknown or disallowed tool 'kubectl'")]


def test_yaml_booleans_in_options_get_a_hint_and_no_follow_up_problem() -> None:
    text = """\
id: x
steps:
  - id: h
    type: human
    prompt: ok
    fields:
      - {name: d, type: select, options: [yes, no]}
"""
    result = load_text(text, "yaml", "f.yaml")
    assert [(p.path, p.line) for p in result.problems] == [
        ("steps[0].fields[0].options[0]", 7)]
    assert "quote them" in result.problems[0].message


def test_a_problem_inside_a_step_does_not_hide_its_cycle() -> None:
    data = base()
    data["steps"] = [{"id": "a", "type": "agent", "prompt": "x", "max_turns": "two",
                      "next": "a"}]
    found = problems_of(data)
    assert set(found) == {"steps[0].max_turns", "steps[0]"}
