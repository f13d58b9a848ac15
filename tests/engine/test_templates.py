"""Templates substitute {state_key} only."""

from __future__ import annotations

from switchboard.engine.orchestrations.templates import (
    iter_strings,
    render,
    render_value,
    template_keys,
    unsupported_placeholders,
)

STATE = {"topic": "AI", "n": 3, "flag": False, "items": ["a", "b"], "none": None,
         "obj": {"k": 1}}


def test_substitutes_keys_and_formats_values() -> None:
    assert render("{topic}: {n} {flag} {items} [{none}] {obj}", STATE) == (
        'AI: 3 false ["a","b"] [] {"k":1}')


def test_leaves_everything_else_literal() -> None:
    text = 'JSON {"a": 1} {unknown} {topic.upper} {0} {} {{topic}} }} {{'
    assert render(text, STATE) == 'JSON {"a": 1} {unknown} {topic.upper} {0} {} {topic} } {'


def test_never_reaches_attributes() -> None:
    assert render("{topic.__class__}", STATE) == "{topic.__class__}"


def test_keys_and_unsupported_placeholders() -> None:
    text = "{a} {b} {a} {c.d} {e[0]} {1} {{f}} {\"json\": 1} {two words}"
    assert template_keys(text) == ["a", "b"]
    assert unsupported_placeholders(text) == ["{c.d}", "{e[0]}", "{1}"]


def test_render_value_keeps_types_for_whole_placeholders() -> None:
    payload = {"n": "{n}", "text": "n={n}", "list": ["{items}", "{missing}"], "raw": 5}
    assert render_value(payload, STATE) == {
        "n": 3, "text": "n=3", "list": [["a", "b"], "{missing}"], "raw": 5}


def test_iter_strings_gives_paths() -> None:
    assert list(iter_strings({"a": ["x", {"b": "y"}], "c": 1}, "payload")) == [
        ("payload.a[0]", "x"), ("payload.a[1].b", "y")]
