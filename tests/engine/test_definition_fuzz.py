"""Property: no document, however wrong, makes the loader raise; it returns problems."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.engine.orchestrations import ValidationContext, load_mapping, load_text

KEYS = ["id", "name", "type", "steps", "state_schema", "limits", "prompt", "fields", "when",
        "next", "goto", "condition", "options", "min", "max", "default", "tools",
        "output_key", "payload", "args", "tool", "task_type", "priority", "on_failure",
        "default_answer", "allowed_roles", "timeout_seconds", "max_turns", "agent_context",
        "required", "label", "query", "agent", "human", "task", "select", "text"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
    st.sampled_from([*KEYS, "{query}", "{a.b}", "x ==", "query == 'a'", "end", "P0", "a,b"]),
    st.text(max_size=8), st.just(dt.datetime(2026, 1, 1)),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.integers(0, 3)), inner,
                        max_size=6),
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_loader_never_raises(document: Any) -> None:
    context = ValidationContext(tool_exists=lambda name: name == "tool", providers={"agent"})
    result = load_mapping(document, "fuzz.yaml", context)
    assert (result.orchestration is None) == bool(result.problems)
    for problem in result.problems:
        assert problem.file == "fuzz.yaml" and problem.message


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.sampled_from(["toml", "yaml", "json"]))
def test_parser_never_raises(text: str, fmt: str) -> None:
    result = load_text(text, fmt, f"fuzz.{fmt}")
    assert (result.orchestration is None) == bool(result.problems)


ids = st.sampled_from(["a", "b", "c", "end", "", "a b", "h"])
conditions = st.sampled_from(["query == 'a'", "not confirm", "x >", "f()", "n in [1, 2]",
                              "decision", "-query", 5])
fields = st.fixed_dictionaries(
    {"name": st.sampled_from(["decision", "confirm", "n", "bad name", ""]),
     "type": st.sampled_from(["text", "textarea", "select", "multiselect", "number",
                              "boolean", "zzz", 3])},
    optional={"options": st.one_of(st.sampled_from(["a,b", "", "approve, reject"]),
                                   st.lists(scalars, max_size=3)),
              "min": scalars, "max": scalars, "default": scalars, "required": scalars,
              "label": scalars},
)
steps = st.fixed_dictionaries(
    {"id": ids, "type": st.sampled_from(["agent", "task", "tool", "human", "robot"])},
    optional={
        "prompt": st.sampled_from(["{query}", "{nope}", "{a.b}", "hi", 3]),
        "fields": st.lists(fields, max_size=3),
        "when": st.lists(st.fixed_dictionaries({"condition": conditions, "goto": ids}),
                         max_size=2),
        "next": ids, "on_failure": ids, "tool": st.sampled_from(["tool", "x:y", ""]),
        "task_type": st.sampled_from(["bugfix", ""]), "priority": scalars,
        "payload": documents, "args": documents, "output_key": st.sampled_from(["query", "z"]),
        "default_answer": documents, "timeout_seconds": scalars, "max_turns": scalars,
        "allowed_roles": st.lists(st.sampled_from(["admin", "god"]), max_size=2),
        "tools": st.lists(st.sampled_from(["tool", "other"]), max_size=2),
        "provider": st.sampled_from(["agent", "nope"]),
    },
)
near_valid = st.fixed_dictionaries(
    {"id": st.sampled_from(["t", "bad id"]), "steps": st.lists(steps, max_size=4)},
    optional={
        "state_schema": st.dictionaries(
            st.sampled_from(["query", "n", "a.b", "confirm"]),
            st.one_of(st.sampled_from(["string", "integer", "list", "bogus"]),
                      st.fixed_dictionaries({}, optional={
                          "type": st.sampled_from(["string", "boolean", "x"]),
                          "default": scalars})), max_size=3),
        "limits": st.fixed_dictionaries({}, optional={"max_turns": scalars, "timeout": scalars,
                                                      "max_cost_usd": scalars}),
        "response": st.sampled_from(["{query}", "{zzz}"]),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid)
def test_near_valid_documents_never_raise(document: dict[str, Any]) -> None:
    context = ValidationContext(tool_exists=lambda name: name == "tool", providers={"agent"})
    result = load_mapping(document, "fuzz.toml", context)
    assert (result.orchestration is None) == bool(result.problems)
    if result.orchestration is not None:
        orch = result.orchestration
        state = orch.initial_state("m")
        for step in orch.steps:
            try:
                orch.next_step_id(step, state)
            except Exception as exc:  # only ConditionError may escape at runtime
                assert type(exc).__name__ == "ConditionError"


def _with_ids(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "v", "state_schema": {"query": "string"}, "limits": {"max_turns": 10},
            "steps": [{"id": f"s{i}", **item} for i, item in enumerate(items)]}


targets = st.sampled_from(["s0", "s1", "s2", "end"])
valid_ish = st.lists(
    st.fixed_dictionaries(
        {"type": st.just("agent"), "prompt": st.sampled_from(["hi", "{query}"])},
        optional={"next": targets, "when": st.lists(st.fixed_dictionaries({
            "condition": st.sampled_from(["query == 'm'", "not query", "query in ['a', 'm']",
                                          "query > 1"]),
            "goto": targets}), max_size=2)}),
    min_size=3, max_size=3,
).map(_with_ids)


@settings(max_examples=300, deadline=None)
@given(valid_ish)
def test_valid_definitions_walk_to_a_step_or_the_end(document: dict[str, Any]) -> None:
    result = load_mapping(document)
    assert result.problems == []
    orch = result.orchestration
    assert orch is not None
    state = orch.initial_state("m")
    ids = {step.id for step in orch.steps}
    for step in orch.steps:
        conditions = [branch.condition for branch in step.when]
        try:
            target = orch.next_step_id(step, state)
        except Exception as exc:
            assert type(exc).__name__ == "ConditionError"
            assert "query > 1" in conditions
            continue
        assert target is None or target in ids
