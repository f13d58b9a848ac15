"""Seed 002's ``/execute``: turn an inline workflow plus request options into a definition
a run can be pinned to.

Why a module of its own: the request's options change the definition itself, and they must
be applied before validation so that what runs is exactly what was checked. ``timeout``
(milliseconds, as seed 002 writes it) becomes ``limits.timeout`` unless the workflow sets
one; ``on_failure`` wires tool and task steps (the step types that can branch on failure):
``stop`` (default) fails the run, ``continue`` goes on with the next step, ``rollback``
goes to the workflow's rollback step; an execution provider/model fills agent steps that
name none. Parameters become typed state values: a parameter the workflow declares must
match the declared type, an undeclared one is added with its value's type.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from switchboard.engine.actors import Actor
from switchboard.engine.config import PRIVILEGED_TOOL_KINDS
from switchboard.engine.errors import Forbidden, ValidationFailed
from switchboard.engine.orchestrations.definitions import AgentStep, Orchestration, ToolStep
from switchboard.engine.orchestrations.generate import Issue, Validation
from switchboard.engine.orchestrations.loader import load_mapping, normalise_inline
from switchboard.engine.orchestrations.validate import ValidationContext
from switchboard.engine.store.base import ReadConn, Store
from switchboard.engine.store.queries import Q
from switchboard.engine.tools.registry import ToolRegistry, UnknownToolError

OnFailure = Literal["stop", "continue", "rollback"]
KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
ROLLBACK = re.compile(r"rollback|roll[_ -]back|revert", re.IGNORECASE)
_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


class InvalidWorkflow(ValidationFailed):
    """The workflow did not validate; ``validation`` holds every issue, the message names
    each path under ``field`` (``workflow.steps[0].tool: unknown ...``)."""

    def __init__(self, validation: Validation, field: str = "workflow") -> None:
        self.validation = validation
        first = validation.issues[0] if validation.issues else Issue(path="", message="invalid")
        name = f"{field}.{first.path}" if first.path else field
        detail = "; ".join(f"{field}.{i.path}: {i.message}" if i.path else f"{field}: {i.message}"
                           for i in validation.issues) or f"{name}: invalid"
        super().__init__(name, detail.removeprefix(f"{name}: "))


def _check_parameters(workflow: Mapping[str, Any], parameters: Mapping[str, Any]) -> None:
    schema = workflow.get("state_schema")
    declared = schema if isinstance(schema, Mapping) else {}
    for key, value in parameters.items():
        if not KEY_PATTERN.match(key):
            raise ValidationFailed(f"parameters.{key}", "parameter names must be identifiers "
                                   "(letters, digits, '_'): they become state keys")
        spec = declared.get(key)
        kind = spec if isinstance(spec, str) else spec.get("type") if isinstance(
            spec, Mapping) else None
        check = _CHECKS.get(kind) if isinstance(kind, str) else None
        if check is not None and not check(value):
            raise ValidationFailed(f"parameters.{key}", f"expected {kind} (as the workflow's "
                                   f"state_schema declares), got {type(value).__name__}")


def _wire_failures(steps: list[Any], on_failure: OnFailure) -> None:
    if on_failure == "stop":
        return
    dicts = [s for s in steps if isinstance(s, dict)]
    target: str | None = None
    if on_failure == "rollback":
        rollback = next((s for s in dicts if ROLLBACK.search(f"{s.get('id')} {s.get('name')}")),
                        None)
        if rollback is None:
            raise ValidationFailed("options.on_failure", "'rollback' needs a rollback step in "
                                   "the workflow (refine it with 'Include rollback strategy')")
        target = str(rollback["id"])
    for index, step in enumerate(dicts):
        if step.get("type") not in ("tool", "task") or step.get("on_failure"):
            continue
        if target is not None:
            if step.get("id") != target:
                step["on_failure"] = target
        else:
            following = dicts[index + 1]["id"] if index + 1 < len(dicts) else "end"
            step["on_failure"] = following


def prepare_inline(
    workflow: Any,
    parameters: Mapping[str, Any] | None,
    context: ValidationContext,
    *,
    timeout_seconds: float | None = None,
    on_failure: OnFailure = "stop",
    provider: str | None = None,
    model: str | None = None,
) -> Orchestration:
    """The validated definition to run. Raises InvalidWorkflow (every problem listed) or
    ValidationFailed for a bad parameter or option."""
    if not isinstance(workflow, Mapping):
        raise ValidationFailed("workflow", "must be a JSON object with steps")
    params = dict(parameters or {})
    _check_parameters(workflow, params)
    data = normalise_inline(workflow, params)
    steps = data.get("steps")
    if isinstance(steps, list):
        steps = [dict(s) if isinstance(s, Mapping) else s for s in steps]
        data["steps"] = steps
        _wire_failures(steps, on_failure)
        for step in steps:
            if isinstance(step, dict) and step.get("type") == "agent":
                if provider and not step.get("provider"):
                    step["provider"] = provider
                if model and not step.get("model"):
                    step["model"] = model
    if timeout_seconds is not None:
        limits = data.get("limits")
        limits = dict(limits) if isinstance(limits, Mapping) else {}
        if limits.get("timeout") is None:
            limits["timeout"] = timeout_seconds
        data["limits"] = limits
    result = load_mapping(data, "<inline>", context)
    if result.orchestration is None:
        raise InvalidWorkflow(Validation(valid=False, issues=[
            Issue(path=p.path, message=p.message) for p in result.problems]))
    return result.orchestration


# -- privileged tools ---------------------------------------------------------------------
# Why: the server runs a definition's tools with its own network position and rights. An
# operator put the files in the orchestrations folder on purpose; an inline workflow is
# whatever a caller posted, so tools that reach outside the engine (http, command, python)
# are for admins unless [tools] inline_tools_for_non_admins grants a kind, and every such
# run is audited.

INLINE_TOOLS_SETTING = "[tools] inline_tools_for_non_admins"


@dataclass(frozen=True)
class ToolUse:
    """A privileged tool a definition uses, and where (``workflow.steps[0].tool``)."""

    path: str
    tool: str
    kind: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "tool": self.tool, "kind": self.kind}


def privileged_tools(orch: Orchestration, tools: ToolRegistry,
                     field: str = "workflow") -> list[ToolUse]:
    """Every use of an http, command or python tool: tool steps, and tools an agent step
    offers its model (the model may call only those)."""
    uses: list[ToolUse] = []
    for index, step in enumerate(orch.steps):
        named: list[tuple[str, str]] = []
        if isinstance(step, ToolStep):
            named.append((f"{field}.steps[{index}].tool", step.tool))
        elif isinstance(step, AgentStep):
            named += [(f"{field}.steps[{index}].tools[{i}]", name)
                      for i, name in enumerate(step.tools)]
        for path, name in named:
            try:
                kind = tools.get(name).kind
            except UnknownToolError:
                continue  # validation already refused unknown tools
            if kind in PRIVILEGED_TOOL_KINDS:
                uses.append(ToolUse(path, name, kind))
    return uses


def authorize_inline(orch: Orchestration, tools: ToolRegistry, actor: Actor,
                     allowed_kinds: Collection[str], field: str = "workflow"
                     ) -> tuple[list[ToolUse], str | None]:
    """May ``actor`` run this inline definition? Raises Forbidden naming the first tool it
    may not use and the setting that would allow it. Returns the privileged uses and why
    they are allowed (``"admin"`` or the setting; None when there are none): the caller
    audits them as ``workflow.execute_privileged``."""
    uses = privileged_tools(orch, tools, field)
    if not uses:
        return uses, None
    if actor.is_admin:
        return uses, "admin"
    for use in uses:
        if use.kind not in allowed_kinds:
            raise Forbidden(
                f"{use.path}: the {use.tool!r} tool is not available to inline workflows "
                f"posted by the {actor.role} role; an admin may run it, or allow it with "
                f"{INLINE_TOOLS_SETTING} = [\"{use.kind}\"]")
    return uses, INLINE_TOOLS_SETTING


async def run_definition(store: Store, run_id: str) -> Orchestration | None:
    """The definition a run is pinned to (inline runs have no file to look it up by)."""
    def read(conn: ReadConn) -> bytes | str | None:
        row = conn.one(Q.run_definition, {"run_id": run_id})
        return row[0] if row else None

    blob = await store.read(read)
    return None if blob is None else msgspec.json.decode(blob, type=Orchestration)
