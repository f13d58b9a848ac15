"""Human-gate answers are validated against the fields; errors name the field."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.engine.orchestrations import Field, FieldError, validate_answer

pytestmark = pytest.mark.both_stores  # issue 16: on SQLite and on PostgreSQL

FIELDS = [
    Field(name="decision", type="select", label="Decision", options="approve,reject",
          required=True),
    Field(name="notes", type="text", label="Editor notes"),
]


def errors_of(fields: list[Field], response: Any) -> dict[str, str]:
    return {e.field: e.message for e in validate_answer(fields, response)[1]}


def test_seed_000_answer_is_accepted() -> None:
    cleaned, errors = validate_answer(
        FIELDS, {"decision": "approve", "notes": "Excellent research, publish immediately."})
    assert errors == []
    assert cleaned == {"decision": "approve", "notes": "Excellent research, publish immediately."}


def test_select_is_case_insensitive_and_canonical() -> None:
    assert validate_answer(FIELDS, {"decision": "APPROVE"})[0]["decision"] == "approve"


def test_select_refuses_other_values_naming_the_field() -> None:
    assert errors_of(FIELDS, {"decision": "yes"}) == {
        "decision": "must be one of approve, reject, got 'yes'"}


def test_required_and_optional_missing() -> None:
    cleaned, errors = validate_answer(FIELDS, {"notes": "hm"})
    assert errors == [FieldError("decision", "Decision is required")]
    assert str(errors[0]) == "decision: Decision is required"
    assert validate_answer(FIELDS, {"decision": "reject"})[0] == {
        "decision": "reject", "notes": None}
    assert "decision" in errors_of(FIELDS, {"decision": "   "})


def test_unknown_fields_are_refused() -> None:
    assert "unknown field" in errors_of(FIELDS, {"decision": "approve", "decison": "x"})[
        "decison"]


def test_plain_string_goes_to_the_first_text_field() -> None:
    fields = [Field(name="choice", type="select", options=["a", "b"]),
              Field(name="comment", type="textarea")]
    assert validate_answer(fields, "looks good") == (
        {"choice": None, "comment": "looks good"}, [])


def test_plain_string_with_a_single_non_text_field() -> None:
    fields = [Field(name="decision", type="select", options="approve,reject")]
    assert validate_answer(fields, "reject") == ({"decision": "reject"}, [])


def test_plain_string_without_a_text_field_is_refused() -> None:
    fields = [Field(name="a", type="number"), Field(name="b", type="boolean")]
    assert "plain-text answer" in errors_of(fields, "hello")["response"]


@pytest.mark.parametrize(("value", "expected"), [
    (3, 3), ("4", 4), (2.5, 2.5), ("2.0", 2), (10, 10), (1, 1)])
def test_number_values(value: Any, expected: Any) -> None:
    fields = [Field(name="replicas", type="number", min=1, max=10)]
    assert validate_answer(fields, {"replicas": value}) == ({"replicas": expected}, [])


@pytest.mark.parametrize(("value", "reason"), [
    (0, "at least 1"), (11, "at most 10"), ("many", "must be a number"),
    (True, "not true/false"), ("nan", "finite"), ([3], "must be a number")])
def test_number_errors(value: Any, reason: str) -> None:
    fields = [Field(name="replicas", type="number", min=1, max=10)]
    assert reason in errors_of(fields, {"replicas": value})["replicas"]


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), ("yes", True), ("No", False), ("true", True), (0, False)])
def test_boolean_values(value: Any, expected: bool) -> None:
    fields = [Field(name="confirm", type="boolean", required=True)]
    assert validate_answer(fields, {"confirm": value}) == ({"confirm": expected}, [])


def test_boolean_errors_and_required_false_is_an_answer() -> None:
    fields = [Field(name="confirm", type="boolean", required=True)]
    assert "true or false" in errors_of(fields, {"confirm": "perhaps"})["confirm"]
    assert "true or false" in errors_of(fields, {"confirm": 2})["confirm"]
    assert errors_of(fields, {"confirm": False}) == {}
    assert "required" in errors_of(fields, {})["confirm"]


def test_multiselect() -> None:
    fields = [Field(name="envs", type="multiselect", options=["dev", "staging", "prod"])]
    assert validate_answer(fields, {"envs": ["prod", "DEV", "prod"]})[0] == {
        "envs": ["prod", "dev"]}
    assert validate_answer(fields, {"envs": "dev,staging"})[0] == {"envs": ["dev", "staging"]}
    assert "must be one of" in errors_of(fields, {"envs": ["dev", "qa"]})["envs"]
    assert "list of options" in errors_of(fields, {"envs": 5})["envs"]


def test_text_accepts_numbers_refuses_structures() -> None:
    fields = [Field(name="note", type="text")]
    assert validate_answer(fields, {"note": 42})[0] == {"note": "42"}
    assert "must be text" in errors_of(fields, {"note": {"a": 1}})["note"]


def test_defaults_fill_unanswered_optional_fields() -> None:
    fields = [Field(name="replicas", type="number", default=2)]
    assert validate_answer(fields, {}) == ({"replicas": 2}, [])


def test_every_bad_field_is_reported_at_once() -> None:
    fields = [*FIELDS, Field(name="n", type="number", max=3)]
    assert set(errors_of(fields, {"decision": "x", "n": 9, "zzz": 1})) == {
        "decision", "n", "zzz"}


def test_non_mapping_response() -> None:
    assert "object of field values" in errors_of(FIELDS, [1, 2])["response"]  # type: ignore[arg-type]
