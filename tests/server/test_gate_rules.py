"""The contract's gate-answer rules give the engine's verdicts, case for case.

The engine decides (``engine.orchestrations.answers``); clients check before they send
(``server.contract.gates``). The two cannot share code (the engine imports nothing of the
server), so this table is what keeps them one rule: every case runs through both, over the
wire's ``GateField``s (as a client receives them) and the engine's ``Field``s, and the
cleaned values and the errors must be equal.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from switchboard.engine.orchestrations import Field
from switchboard.engine.orchestrations import validate_answer as engine_validate
from switchboard.server import contract, convert

FIELDS = [
    Field(name="decision", type="select", label="Decision", options="approve,reject",
          required=True),
    Field(name="tags", type="multiselect", options=["Alpha", "beta"]),
    Field(name="count", type="number", label="How many", min=1, max=10, default=2),
    Field(name="ratio", type="number", min=0.5),
    Field(name="ship", type="boolean", label="Ship it"),
    Field(name="notes", type="textarea", label="Notes"),
    Field(name="who", type="text", required=True, label="Reviewer"),
    Field(name="free", type="select"),
]

CASES: list[Any] = [
    None, {}, "plain text", 42, ["a"],
    {"decision": "approve", "who": "bob"},
    {"decision": "APPROVE", "who": "bob"},
    {"decision": "perhaps", "who": "bob"},
    {"decision": True, "who": "bob"},
    {"decision": 1, "who": "bob"},
    {"decision": "approve", "who": "   "},
    {"decision": "approve", "who": 7},
    {"decision": "approve", "who": 7.5},
    {"decision": "approve", "who": ["x"]},
    {"decision": "approve", "who": "bob", "tags": "alpha, BETA, alpha"},
    {"decision": "approve", "who": "bob", "tags": ["beta", "gamma"]},
    {"decision": "approve", "who": "bob", "tags": {"a": 1}},
    {"decision": "approve", "who": "bob", "tags": []},
    {"decision": "approve", "who": "bob", "count": "3"},
    {"decision": "approve", "who": "bob", "count": "3.0"},
    {"decision": "approve", "who": "bob", "count": 4.0},
    {"decision": "approve", "who": "bob", "count": 0},
    {"decision": "approve", "who": "bob", "count": 11},
    {"decision": "approve", "who": "bob", "count": "ten"},
    {"decision": "approve", "who": "bob", "count": True},
    {"decision": "approve", "who": "bob", "count": float("nan")},
    {"decision": "approve", "who": "bob", "count": [1]},
    {"decision": "approve", "who": "bob", "ratio": 0.25},
    {"decision": "approve", "who": "bob", "ratio": "0.75"},
    {"decision": "approve", "who": "bob", "ship": "yes"},
    {"decision": "approve", "who": "bob", "ship": "Off"},
    {"decision": "approve", "who": "bob", "ship": 1},
    {"decision": "approve", "who": "bob", "ship": 2},
    {"decision": "approve", "who": "bob", "ship": "maybe"},
    {"decision": "approve", "who": "bob", "free": "anything"},
    {"decision": "approve", "who": "bob", "free": None},
    {"decision": "approve", "who": "bob", "extra": 1, "other": 2},
]

SINGLE_FIELD_SETS: list[list[Field]] = [
    [],
    [Field(name="decision", type="select", options="approve,reject")],
    [Field(name="n", type="number"), Field(name="b", type="boolean")],
    [Field(name="choice", type="select", options=["a", "b"]), Field(name="comment")],
]


def wire_fields(fields: list[Field]) -> list[contract.GateField]:
    """The fields as a client receives them: encoded by the server, decoded by the SDK."""
    approval = convert.approval(_approval([f.payload() for f in fields]))
    data = msgspec.json.encode(approval)
    return msgspec.json.decode(data, type=contract.Approval).fields


def _approval(fields: list[dict[str, Any]]) -> Any:
    from switchboard.engine.models import Approval

    return Approval(approval_id="a", kind="gate", priority="P2", fields=fields)


def verdicts(result: tuple[dict[str, Any], list[Any]]) -> tuple[dict[str, Any], list[str]]:
    cleaned, errors = result
    return cleaned, [str(error) for error in errors]


@pytest.mark.parametrize("response", CASES, ids=repr)
def test_same_verdict_as_the_engine(response: Any) -> None:
    expected = verdicts(engine_validate(FIELDS, response))
    assert verdicts(contract.validate_answer(wire_fields(FIELDS), response)) == expected
    # the rules are duck-typed: the engine's own fields give the same verdict too
    assert verdicts(contract.validate_answer(FIELDS, response)) == expected


@pytest.mark.parametrize("fields", SINGLE_FIELD_SETS, ids=lambda f: ",".join(x.name for x in f))
@pytest.mark.parametrize("response", ["approve", "  ", "yes", 5, None, {"n": "2"}], ids=repr)
def test_plain_answers_and_small_forms(fields: list[Field], response: Any) -> None:
    expected = verdicts(engine_validate(fields, response))
    assert verdicts(contract.validate_answer(wire_fields(fields), response)) == expected


def test_the_table_covers_every_verdict_kind() -> None:
    """Not a vacuous table: it has valid answers, refusals of every field type, unknown
    fields, required ones, and defaults filled in."""
    messages = " ".join(m for case in CASES
                        for m in verdicts(engine_validate(FIELDS, case))[1])
    for fragment in ("must be one of", "is required", "must be a number", "at least",
                     "at most", "true or false", "must be text", "unknown field",
                     "a list of options", "finite", "must be an object"):
        assert fragment in messages, fragment
    cleaned, errors = engine_validate(FIELDS, {"decision": "approve", "who": "bob"})
    assert errors == [] and cleaned["count"] == 2 and cleaned["tags"] is None
