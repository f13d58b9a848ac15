"""Validate a person's answer to a human gate against the gate's fields.

Why a separate, pure function: the same check runs for seed 000's resume endpoints, for a
decision taken in the approvals inbox, for the console's form and for a gate's default answer
at load time; a bad answer must be refused with the field named and leave the run paused, so
the caller needs the errors as data, not an exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from switchboard.engine.orchestrations.definitions import Field

_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}
_TEXT_TYPES = ("text", "textarea")


class FieldError(msgspec.Struct, frozen=True):
    """One refused value: which field, and why (phrased for the person answering)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class _Invalid(Exception):
    pass


def _is_empty(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, list | tuple) and not value)


def _number(field: Field, raw: Any) -> int | float:
    value: int | float
    if isinstance(raw, bool):
        raise _Invalid("must be a number, not true/false")
    if isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise _Invalid(f"must be a number, got {raw!r}") from None
    elif isinstance(raw, int | float):
        value = raw
    else:
        raise _Invalid(f"must be a number, got {type(raw).__name__}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Invalid("must be a finite number")
        if value.is_integer():
            value = int(value)
    if field.min is not None and value < field.min:
        raise _Invalid(f"must be at least {_fmt(field.min)}, got {_fmt(value)}")
    if field.max is not None and value > field.max:
        raise _Invalid(f"must be at most {_fmt(field.max)}, got {_fmt(value)}")
    return value


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


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


def _choice(field: Field, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid(f"must be one of {', '.join(field.choices)}, got {value!r}")
    text = str(value).strip()
    choices = field.choices
    if not choices:
        return text
    for choice in choices:
        if choice == text or choice.lower() == text.lower():
            return choice
    raise _Invalid(f"must be one of {', '.join(choices)}, got {text!r}")


def _choices(field: Field, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise _Invalid(f"must be a list of options from {', '.join(field.choices)}")
    out: list[str] = []
    for item in value:
        choice = _choice(field, item)
        if choice not in out:
            out.append(choice)
    return out


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Invalid(f"must be text, got {type(value).__name__}")


def clean_value(field: Field, value: Any) -> Any:
    """Convert one non-empty value to the field's type. Raises ValueError with the reason."""
    try:
        if field.type == "number":
            return _number(field, value)
        if field.type == "boolean":
            return _boolean(value)
        if field.type == "select":
            return _choice(field, value)
        if field.type == "multiselect":
            return _choices(field, value)
        return _text(value)
    except _Invalid as exc:
        raise ValueError(str(exc)) from None


def validate_answer(
    fields: Sequence[Field], response: Any
) -> tuple[dict[str, Any], list[FieldError]]:
    """Check ``response`` (a dict of field values, or a plain string for the first text
    field) against ``fields``. Returns the cleaned values — every field present, optional
    unanswered ones set to their default or None — and the list of errors (empty = valid).
    Select options match case-insensitively and come back in their defined spelling."""
    errors: list[FieldError] = []
    names = [field.name for field in fields]
    if response is None:
        response = {}
    if isinstance(response, str):
        target = next((f for f in fields if f.type in _TEXT_TYPES), None)
        if target is None and len(fields) == 1:
            target = fields[0]
        if target is None:
            if not fields:
                return {}, []
            return {}, [
                FieldError(
                    "response",
                    "a plain-text answer needs a text field; answer with an object of "
                    f"field values: {', '.join(names)}",
                )
            ]
        response = {target.name: response}
    if not isinstance(response, Mapping):
        return {}, [
            FieldError("response", "must be an object of field values or a plain string")
        ]
    for key in response:
        if key not in names:
            expected = ", ".join(names) if names else "no fields"
            errors.append(FieldError(str(key), f"unknown field; expected {expected}"))
    cleaned: dict[str, Any] = {}
    for field in fields:
        value = response.get(field.name)
        if _is_empty(value):
            if field.required:
                errors.append(FieldError(field.name, f"{field.label or field.name} is required"))
            cleaned[field.name] = field.default
            continue
        try:
            cleaned[field.name] = clean_value(field, value)
        except ValueError as exc:
            errors.append(FieldError(field.name, str(exc)))
    return cleaned, errors
