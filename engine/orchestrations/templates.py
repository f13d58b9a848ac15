"""``{state_key}`` templates: the only substitution definitions get.

Why so small: prompts routinely contain JSON, code and prose with braces, and a definition
file must never be able to reach attributes or run code (``str.format`` would allow
``{x.__class__}``). So only ``{identifier}`` is substituted; ``{{`` and ``}}`` are literal
braces; ``{a.b}``/``{a[0]}``/``{0}`` are reported by validation and left literal when
rendered; anything else in braces (``{"json": 1}``) is plain text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}\n]*)\}")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LOOKS_LIKE_ACCESS = re.compile(r"[A-Za-z0-9_]+([.\[][A-Za-z0-9_.\[\]'\"-]*)?\Z")


def template_keys(text: str) -> list[str]:
    """State keys a template names, in order of appearance (duplicates kept once)."""
    seen: dict[str, None] = {}
    for match in _TOKEN.finditer(text):
        key = match.group(1)
        if key is not None and _KEY.match(key):
            seen.setdefault(key, None)
    return list(seen)


def unsupported_placeholders(text: str) -> list[str]:
    """Placeholders that look like ``str.format`` access (``{a.b}``, ``{a[0]}``, ``{0}``) and
    are therefore NOT substituted; validation reports them so authors are not surprised."""
    out: list[str] = []
    for match in _TOKEN.finditer(text):
        inner = match.group(1)
        if inner is None or _KEY.match(inner):
            continue
        if _LOOKS_LIKE_ACCESS.match(inner):
            out.append("{" + inner + "}")
    return out


def to_text(value: Any) -> str:
    """How a state value appears inside rendered text: strings as-is, None as empty,
    booleans as true/false, containers as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    try:
        return msgspec.json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return str(value)


def render(template: str, state: Mapping[str, Any]) -> str:
    """Substitute ``{key}`` with ``state[key]``; keys missing from state stay literal."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        key = match.group(1)
        if key is not None and _KEY.match(key) and key in state:
            return to_text(state[key])
        return token

    return _TOKEN.sub(replace, template)


def render_value(value: Any, state: Mapping[str, Any]) -> Any:
    """Render templates inside any JSON-like value (task payloads, tool args).

    A string that is exactly ``{key}`` becomes the state value itself, keeping its type, so
    ``replicas = "{replicas}"`` passes the number 3 rather than the text "3".
    """
    if isinstance(value, str):
        match = _TOKEN.fullmatch(value)
        if match and match.group(1) is not None and _KEY.match(match.group(1)):
            key = match.group(1)
            return state[key] if key in state else value
        return render(value, state)
    if isinstance(value, Mapping):
        return {k: render_value(v, state) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(item, state) for item in value]
    return value


def iter_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside a JSON-like value with its path (``payload.items[1]``), so
    validation can check each template where it is."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from iter_strings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from iter_strings(item, f"{path}[{index}]")
