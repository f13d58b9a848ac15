"""Tools by name: what agents may call and what ``tool`` steps run.

Why one registry for both: an agent's tool call and a definition's tool step are the same
operation (look up by name, check arguments, run with a timeout, capture the outcome), and
the executor emits the same ``tool_execution``/``tool_result`` events for both. A tool's
failure is a result (``ok=False`` and a reason the model or operator can read), never an
exception that could kill a run; only an unknown tool name raises.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from switchboard.engine.providers.base import ToolSpec

PREVIEW_CHARS = 200


class ToolError(Exception):
    """Raised by a tool handler for an expected failure; ``output`` is kept in the result
    (e.g. a command's stderr)."""

    def __init__(self, message: str, output: Any = None) -> None:
        super().__init__(message)
        self.output = output


class UnknownToolError(KeyError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown tool {name!r}; registered: {', '.join(known) or 'none'}")

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class ToolContext:
    """Who is calling, for tools that care: the idempotency key lets an external side effect
    be de-duplicated when a step runs again after a crash (at-least-once execution)."""

    run_id: str | None = None
    step_id: str | None = None
    idempotency_key: str | None = None


Handler = Callable[[dict[str, Any], ToolContext], Awaitable[Any]]


@dataclass(frozen=True)
class Tool:
    """A registered tool. ``parameters`` is a JSON Schema object; ``simulated`` marks
    offline stand-ins whose output says so."""

    name: str
    description: str
    handler: Handler
    parameters: dict[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    timeout: float = 30.0
    kind: str = "builtin"
    simulated: bool = False

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)


class ToolResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one call, as recorded in run history and ``tool_result`` events."""

    tool_name: str
    ok: bool
    output: Any = None
    error: str | None = None
    duration_ms: float = 0.0

    def as_text(self) -> str:
        """What an agent sees as the tool message: the output (JSON for non-text), or the
        error."""
        if not self.ok:
            detail = "" if self.output is None else f"\n{_to_text(self.output)}"
            return f"ERROR: {self.error}{detail}"
        return _to_text(self.output)

    def preview(self, limit: int = PREVIEW_CHARS) -> str:
        """Seed 000's ``tool_result.preview``: the start of ``as_text()`` on one line."""
        text = " ".join(self.as_text().split())
        return text if len(text) <= limit else text[: limit - 3] + "..."


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return msgspec.json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return repr(value)


_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def check_arguments(schema: Mapping[str, Any], args: Mapping[str, Any]) -> str | None:
    """A shallow JSON Schema check (required keys, top-level types, no unknown keys when
    ``additionalProperties`` is false). Returns the first problem, phrased for a model."""
    properties: Mapping[str, Any] = schema.get("properties", {}) or {}
    for name in schema.get("required", []) or []:
        if name not in args:
            return f"missing required argument {name!r}"
    for name, value in args.items():
        spec = properties.get(name)
        if spec is None:
            if schema.get("additionalProperties") is False:
                return f"unknown argument {name!r}; expected: {', '.join(properties)}"
            continue
        kinds = spec.get("type") if isinstance(spec, Mapping) else None
        if kinds is None:
            continue
        options = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_JSON_TYPES.get(kind, lambda v: True)(value) for kind in options):
            return f"argument {name!r} must be {' or '.join(options)}"
    return None


class ToolRegistry:
    """Tools by name, plus ``module:function`` callables resolved on demand from an
    allow-list (see ``engine.tools.python``)."""

    def __init__(self, resolver: Callable[[str], Tool | None] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        self._resolver = resolver

    def register(self, tool: Tool, *, replace: bool = False) -> None:
        if tool.name in self._tools and not replace:
            raise ValueError(f"tool {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def names(self) -> list[str]:
        return sorted(self._tools)

    def get(self, name: str) -> Tool:
        """The tool called ``name`` (resolving allow-listed ``module:function`` names).
        Raises UnknownToolError."""
        tool = self._tools.get(name)
        if tool is None and ":" in name and self._resolver is not None:
            tool = self._resolver(name)
            if tool is not None:
                self._tools[name] = tool
        if tool is None:
            raise UnknownToolError(name, self.names())
        return tool

    def has(self, name: str) -> bool:
        """For definition validation: does ``name`` resolve to a tool?"""
        try:
            self.get(name)
        except UnknownToolError:
            return False
        return True

    def specs(self, names: Iterable[str]) -> list[ToolSpec]:
        """Specs to offer a model, in the order given. Raises UnknownToolError."""
        return [self.get(name).spec() for name in names]

    async def call(
        self,
        name: str,
        args: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        context: ToolContext | None = None,
    ) -> ToolResult:
        """Run a tool. Bad arguments, errors and timeouts come back as ``ok=False``."""
        tool = self.get(name)
        arguments = dict(args or {})
        started = time.perf_counter()

        def done(ok: bool, output: Any = None, error: str | None = None) -> ToolResult:
            elapsed = round((time.perf_counter() - started) * 1000, 3)
            return ToolResult(tool_name=name, ok=ok, output=output, error=error,
                              duration_ms=elapsed)

        problem = check_arguments(tool.parameters, arguments)
        if problem is not None:
            return done(False, error=problem)
        limit = timeout if timeout is not None else tool.timeout
        scope = asyncio.timeout(limit)
        try:
            async with scope:
                output = await tool.handler(arguments, context or ToolContext())
        except TimeoutError as exc:
            if scope.expired():
                return done(False, error=f"timed out after {limit:g}s")
            return done(False, error=f"TimeoutError: {exc}".rstrip(": "))
        except ToolError as exc:
            return done(False, output=exc.output, error=str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return done(False, error=f"{type(exc).__name__}: {exc}")
        return done(True, output=output)
