"""Convert parsed documents into Structs while collecting EVERY error, not just the first.

Why not plain ``msgspec.convert``: it stops at the first problem, and an author fixing a file
one error per save is miserable. This walks a Struct's fields itself, recurses into nested
Structs, lists and dicts of Structs, and only hands leaf values to ``msgspec.convert`` (so
type rules stay msgspec's). Each error carries a document path like ``steps[2].fields[0].type``.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from typing import Any, Literal, Union, get_args, get_origin

import msgspec

Report = Callable[[str, str], None]
"""report(path, message)"""

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def type_name(value: Any) -> str:
    """Document-level type names: authors write TOML/YAML, not Python."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "table/mapping"
    return type(value).__name__


def _struct_of(tp: Any) -> type[msgspec.Struct] | None:
    return tp if isinstance(tp, type) and issubclass(tp, msgspec.Struct) else None


def _optional_inner(tp: Any) -> Any | None:
    """For ``X | None`` return X, else None."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0]
    return None


def _leaf(value: Any, tp: Any, path: str, report: Report) -> tuple[bool, Any]:
    if get_origin(tp) is Literal:
        allowed = get_args(tp)
        if value in allowed and type(value) is type(allowed[0]):
            return True, value
        choices = ", ".join(str(a) for a in allowed)
        report(path, f"unknown value {value!r}; expected one of {choices}")
        return False, None
    try:
        return True, msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        match = _AT.match(str(exc))
        message = match.group("msg") if match else str(exc)
        sub = (match.group("path") if match else "") or ""
        message = re.sub(r"`([^`]*)`", r"\1", message)
        message = message.replace("Expected", "expected", 1)
        for python, document in (("str", "string"), ("int", "integer"), ("float", "number"),
                                 ("bool", "boolean"), ("dict", "table/mapping"),
                                 ("None", "null"), ("array", "list"), ("object", "table/mapping")):
            message = re.sub(rf"\b{python}\b", document, message)
        if message == "expected string, got boolean":
            message += " (YAML reads yes/no/on/off as booleans: quote them)"
        report(path + sub.replace("[...]", ""), message)
        return False, None


def convert_value(value: Any, tp: Any, path: str, report: Report) -> tuple[bool, Any]:
    """Convert one value to ``tp``; returns (ok, converted)."""
    inner = _optional_inner(tp)
    if inner is not None:
        if value is None:
            return True, None
        tp = inner
    struct = _struct_of(tp)
    if struct is not None:
        result = convert_struct(value, struct, path, report)
        return result is not None, result
    origin = get_origin(tp)
    if origin is list and _struct_of(get_args(tp)[0]) is not None:
        if not isinstance(value, list):
            report(path, f"expected a list, got {type_name(value)}")
            return False, None
        items, ok = [], True
        for index, item in enumerate(value):
            good, converted = convert_value(item, get_args(tp)[0], join(path, index), report)
            ok = ok and good
            items.append(converted)
        return ok, items
    if origin is dict and _struct_of(get_args(tp)[1]) is not None:
        if not isinstance(value, dict):
            report(path, f"expected a table/mapping, got {type_name(value)}")
            return False, None
        out, ok = {}, True
        for key, item in value.items():
            if not isinstance(key, str):
                report(join(path, str(key)), f"keys must be strings, got {type_name(key)}")
                ok = False
                continue
            good, converted = convert_value(item, get_args(tp)[1], join(path, key), report)
            ok = ok and good
            out[key] = converted
        return ok, out
    return _leaf(value, tp, path, report)


def convert_struct(
    data: Any,
    cls: type[msgspec.Struct],
    path: str,
    report: Report,
    *,
    skip: frozenset[str] = frozenset(),
) -> Any:
    """Build ``cls`` from a mapping, reporting every unknown key, missing required key and
    bad value. Returns None if anything was wrong. ``skip`` names fields a document may not
    set (loader-managed ones such as ``version``)."""
    if not isinstance(data, dict):
        report(path, f"expected a table/mapping, got {type_name(data)}")
        return None
    fields = {f.encode_name: f for f in msgspec.structs.fields(cls) if f.name not in skip}
    tag_field = cls.__struct_config__.tag_field
    ok = True
    for key in data:
        if key == tag_field or key in fields:
            continue
        if not isinstance(key, str):
            report(join(path, str(key)), f"keys must be strings, got {type_name(key)}")
        else:
            expected = ", ".join(sorted(fields))
            report(join(path, key), f"unknown key {key!r}; expected one of: {expected}")
        ok = False
    values: dict[str, Any] = {}
    for key, field in fields.items():
        if key not in data:
            if field.default is msgspec.NODEFAULT and field.default_factory is msgspec.NODEFAULT:
                report(join(path, key), "required key is missing")
                ok = False
            continue
        good, converted = convert_value(data[key], field.type, join(path, key), report)
        ok = ok and good
        values[field.name] = converted
    if not ok:
        return None
    return cls(**values)


def _silent(path: str, message: str) -> None:
    return None


def _placeholder(tp: Any) -> tuple[bool, Any]:
    """A stand-in for a required value that failed to decode, so the rest of the struct can
    still be validated (the structural problem has already been reported)."""
    if _optional_inner(tp) is not None:
        return True, None
    if get_origin(tp) is Literal:
        return True, get_args(tp)[0]
    origin = get_origin(tp) or tp
    for kind, value in ((str, ""), (bool, False), (int, 0), (float, 0.0), (list, []), (dict, {})):
        if origin is kind:
            return True, value
    return False, None


def salvage_struct(data: Any, cls: type[msgspec.Struct], skip: frozenset[str] = frozenset()) -> Any:
    """Best-effort, silent version of ``convert_struct``: keeps what decodes, drops bad list
    items, and fills bad required values with placeholders. Used only so cross-field
    validation can still look at a broken part; never returned to callers as a result."""
    if not isinstance(data, dict):
        return None
    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(cls):
        if field.name in skip:
            continue
        required = field.default is msgspec.NODEFAULT and field.default_factory is msgspec.NODEFAULT
        if field.encode_name in data:
            raw = data[field.encode_name]
            good, converted = convert_value(raw, field.type, "", _silent)
            if good:
                values[field.name] = converted
                continue
            tp = _optional_inner(field.type) or field.type
            item_type = get_args(tp)[0] if get_origin(tp) is list else None
            if item_type is not None and _struct_of(item_type) and isinstance(raw, list):
                items = [salvage_struct(item, item_type) for item in raw]
                values[field.name] = [item for item in items if item is not None]
                continue
            value_type = get_args(tp)[1] if get_origin(tp) is dict else None
            if value_type is not None and _struct_of(value_type) and isinstance(raw, dict):
                rescued_items = {key: salvage_struct(item, value_type)
                                 for key, item in raw.items() if isinstance(key, str)}
                values[field.name] = {key: item for key, item in rescued_items.items()
                                      if item is not None}
                continue
            if _struct_of(tp) is not None:
                rescued = salvage_struct(raw, tp)
                if rescued is not None:
                    values[field.name] = rescued
                    continue
        if required:
            good, value = _placeholder(field.type)
            if not good:
                return None
            values[field.name] = value
    try:
        return cls(**values)
    except (TypeError, ValueError):
        return None
