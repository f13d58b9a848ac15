"""The rules a person's answer to a human gate must satisfy: one pure function for clients.

Why here and also in the engine: the engine decides (``engine.orchestrations.answers``
refuses a bad answer with the field named) and cannot import the server; a client (the
SDK, the console's form) wants the same verdict before it sends. So the rules are written
twice on purpose, and ``tests/server/test_gate_rules.py`` runs both over one table of cases
and asserts the same cleaned values and the same errors.

``validate_answer`` accepts ``GateField``s from the wire and, by duck typing, any object with
``name``, ``type``, ``label``, ``required``, ``choices``, ``min``, ``max`` and ``default``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from msgspec import UnsetType

from switchboard.server.contract.common import Record

_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}
_TEXT_TYPES = ("text", "textarea")


class FieldLike(Protocol):
    name: str
    type: str
    label: str

    @property
    def choices(self) -> list[str]: ...


class FieldError(Record, kw_only=True):
    """One refused value: which field, and why (phrased for the person answering)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class _Invalid(Exception):
    pass


def _set(value: Any) -> Any:
    return None if isinstance(value, UnsetType) else value


def _required(spec: FieldLike) -> bool:
    return _set(getattr(spec, "required", False)) is True


def is_empty(value: Any) -> bool:
    """No answer: None, blank text, or an empty list."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, list | tuple) and not value)


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _number(spec: FieldLike, value: Any) -> int | float:
    if isinstance(value, bool):
        raise _Invalid("must be a number, not true/false")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _Invalid(f"must be a number, got {value!r}") from None
    if not isinstance(value, int | float):
        raise _Invalid(f"must be a number, got {type(value).__name__}")
    number: int | float = value
    if isinstance(number, float):
        if not math.isfinite(number):
            raise _Invalid("must be a finite number")
        if number.is_integer():
            number = int(number)
    low, high = _set(getattr(spec, "min", None)), _set(getattr(spec, "max", None))
    if low is not None and number < low:
        raise _Invalid(f"must be at least {_fmt(low)}, got {_fmt(number)}")
    if high is not None and number > high:
        raise _Invalid(f"must be at most {_fmt(high)}, got {_fmt(number)}")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise _Invalid(f"must be true or false, got {value!r}")


def _choice(choices: list[str], value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid(f"must be one of {', '.join(choices)}, got {value!r}")
    text = str(value).strip()
    if not choices:
        return text
    for choice in choices:
        if choice == text or choice.lower() == text.lower():
            return choice
    raise _Invalid(f"must be one of {', '.join(choices)}, got {text!r}")


def _choices(choices: list[str], value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise _Invalid(f"must be a list of options from {', '.join(choices)}")
    out: list[str] = []
    for item in value:
        choice = _choice(choices, item)
        if choice not in out:
            out.append(choice)
    return out


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Invalid(f"must be text, got {type(value).__name__}")


def clean_value(spec: FieldLike, value: Any) -> Any:
    """One non-empty value converted to the field's type. Raises ValueError with the reason.

    number: a number or numeric text within ``min``/``max`` (whole floats become ints);
    boolean: true/false, 1/0 or yes/no/on/off text; select: one of the choices, matched
    case-insensitively and returned in its defined spelling; multiselect: a list (or comma
    text) of choices, duplicates dropped; text/textarea: text (numbers become text)."""
    kind = str(spec.type)
    try:
        if kind == "number":
            return _number(spec, value)
        if kind == "boolean":
            return _boolean(value)
        if kind == "select":
            return _choice(spec.choices, value)
        if kind == "multiselect":
            return _choices(spec.choices, value)
        return _text(value)
    except _Invalid as exc:
        raise ValueError(str(exc)) from None


def validate_answer(
    fields: Sequence[FieldLike], response: Any
) -> tuple[dict[str, Any], list[FieldError]]:
    """Check ``response`` (any JSON a person sent: field values, or a plain string for the
    first text field) against ``fields``: the cleaned values (every field present; optional unanswered ones
    set to their default or None) and the errors (empty means valid)."""
    errors: list[FieldError] = []
    names = [spec.name for spec in fields]
    if response is None:
        response = {}
    if isinstance(response, str):
        target = next((f for f in fields if str(f.type) in _TEXT_TYPES), None)
        if target is None and len(fields) == 1:
            target = fields[0]
        if target is None:
            if not fields:
                return {}, []
            return {}, [FieldError(field="response", message=(
                "a plain-text answer needs a text field; answer with an object of "
                f"field values: {', '.join(names)}"))]
        response = {target.name: response}
    if not isinstance(response, Mapping):
        return {}, [FieldError(field="response",
                               message="must be an object of field values or a plain string")]
    for key in response:
        if key not in names:
            expected = ", ".join(names) if names else "no fields"
            errors.append(FieldError(field=str(key), message=f"unknown field; expected {expected}"))
    cleaned: dict[str, Any] = {}
    for spec in fields:
        value = response.get(spec.name)
        if is_empty(value):
            if _required(spec):
                errors.append(FieldError(field=spec.name,
                                         message=f"{spec.label or spec.name} is required"))
            cleaned[spec.name] = _set(getattr(spec, "default", None))
            continue
        try:
            cleaned[spec.name] = clean_value(spec, value)
        except ValueError as exc:
            errors.append(FieldError(field=spec.name, message=str(exc)))
    return cleaned, errors
