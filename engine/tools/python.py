"""Python callables as tools, named ``module:function``.

Why an allow-list: a definition or an inline ``/execute`` body could otherwise name
``os:system``. Only names matching ``orchestrations.tool_python`` entries resolve: an exact
``module:function``, or a module (``mycompany.tools``) covering its functions and its
submodules' functions. Private names (``_x``) never resolve. Sync functions run in a worker
thread so they cannot stall the event loop; async ones are awaited. Arguments are passed as
keyword arguments; the JSON Schema is derived from the signature.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from switchboard.engine.tools.registry import Tool, ToolContext

_SCHEMA_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number",
                                 bool: "boolean", list: "array", dict: "object"}


def is_allowed(name: str, allowed: Sequence[str]) -> bool:
    module, _, function = name.partition(":")
    if not module or not function.isidentifier() or function.startswith("_"):
        return False
    for entry in allowed:
        if entry == name:
            return True
        if ":" not in entry and (module == entry or module.startswith(entry + ".")):
            return True
    return False


def _schema(function: Callable[..., Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    try:
        signature = inspect.signature(function, eval_str=True)
    except (TypeError, ValueError, NameError):
        return {"type": "object", "properties": {}}
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        kind = _SCHEMA_TYPES.get(parameter.annotation)
        properties[parameter.name] = {"type": kind} if kind else {}
        if parameter.default is parameter.empty:
            required.append(parameter.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def callable_tool(name: str, function: Callable[..., Any], timeout: float = 30.0) -> Tool:
    """Wrap a Python function as a tool called ``name``."""

    async def handler(args: dict[str, Any], _ctx: ToolContext) -> Any:
        if inspect.iscoroutinefunction(function):
            return await function(**args)
        return await asyncio.to_thread(function, **args)

    doc = inspect.getdoc(function) or f"Python callable {name}"
    return Tool(name=name, description=doc.splitlines()[0], handler=handler,
                parameters=_schema(function), timeout=timeout, kind="python")


def python_resolver(allowed: Sequence[str]) -> Callable[[str], Tool | None]:
    """A resolver for ``ToolRegistry``: allow-listed ``module:function`` -> Tool, else None."""
    allow = list(allowed)

    def resolve(name: str) -> Tool | None:
        if not is_allowed(name, allow):
            return None
        module_name, _, function_name = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return None
        function = getattr(module, function_name, None)
        if not callable(function):
            return None
        return callable_tool(name, function)

    return resolve
