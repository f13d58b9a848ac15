"""Branch conditions: a tiny safe language, never eval()."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.engine.orchestrations.conditions import ConditionError, evaluate, parse_condition

STATE: dict[str, Any] = {"decision": "approve", "score": 7, "tags": ["a", "b"], "ok": True,
                         "nothing": None}


@pytest.mark.parametrize(("text", "expected"), [
    ("decision == 'approve'", True),
    ("decision != 'approve'", False),
    ("score > 5 and score <= 7", True),
    ("3 < score < 7", False),
    ("not ok", False),
    ("ok or missing_key", True),
    ("'a' in tags", True),
    ("'z' not in tags", True),
    ("decision in ['approve', 'publish']", True),
    ("decision in ('reject',)", False),
    ("nothing is None", True),
    ("nothing is null", True),
    ("missing_key == null", True),
    ("ok == true and not false", True),
    ("score == -7 or score == +7", True),
    ("score", True),
    ("''", False),
])
def test_evaluates(text: str, expected: bool) -> None:
    assert evaluate(text, STATE) is expected


def test_names_are_collected_and_literal_spellings_are_not_names() -> None:
    assert parse_condition("a == 1 and b in c or not true or d is null").names == {
        "a", "b", "c", "d"}


@pytest.mark.parametrize(("text", "reason"), [
    ("__import__('os').system('echo pwned')", "function call"),
    ("decision.upper() == 'X'", "function call"),
    ("decision.__class__", "attribute access"),
    ("tags[0] == 'a'", "indexing"),
    ("score + 1 > 2", "arithmetic"),
    ("[x for x in tags]", "not allowed"),
    ("lambda: 1", "a lambda"),
    ("(x := 1)", "not allowed"),
    ("b'bytes' == decision", "not allowed"),
    ("score ==", "invalid syntax"),
    ("", "empty"),
    ("x == 1; import os", "invalid syntax"),
])
def test_refuses_everything_else(text: str, reason: str) -> None:
    with pytest.raises(ConditionError, match=reason):
        parse_condition(text)


def test_limits_length_and_depth() -> None:
    with pytest.raises(ConditionError, match="longer than"):
        parse_condition("a == 1 or " * 200 + "a == 1")
    with pytest.raises(ConditionError, match="nested too deeply"):
        parse_condition("not " * 40 + "a")


def test_runtime_type_errors_are_condition_errors() -> None:
    with pytest.raises(ConditionError, match="cannot compare"):
        evaluate("decision > 3", STATE)
    with pytest.raises(ConditionError, match="cannot compare"):
        evaluate("'a' in score", STATE)
    with pytest.raises(ConditionError, match="unary minus"):
        evaluate("-decision == 1", STATE)


def test_state_keys_shadow_literal_spellings() -> None:
    assert evaluate("true == 'yes'", {"true": "yes"}) is True
