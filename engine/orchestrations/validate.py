"""Cross-field rules for a decoded orchestration: everything a type checker cannot see.

Why separate from decoding: these rules need the whole definition at once (goto targets,
templates against the state schema, cycles), and they also run on partially broken files so
an author sees every problem in one pass. Each problem is reported through ``report(path,
message)``; the loader turns that into ``DefinitionProblem``s with file and line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from switchboard.engine.config import check_assignees, parse_duration
from switchboard.engine.models import normalize_priority
from switchboard.engine.orchestrations.answers import clean_value, validate_answer
from switchboard.engine.orchestrations.conditions import ConditionError, parse_condition
from switchboard.engine.orchestrations.definitions import (
    END,
    AgentStep,
    HumanStep,
    Orchestration,
    Step,
    TaskStep,
    ToolStep,
)
from switchboard.engine.orchestrations.templates import iter_strings, template_keys, unsupported_placeholders

Report = Callable[[str, str], None]

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
ROLES = ("admin", "agent", "user")

_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "any": lambda v: True,
}


@dataclass(frozen=True)
class ValidationContext:
    """What exists outside the file: registered tools and providers. None = don't check."""

    tool_exists: Callable[[str], bool] | None = None
    providers: Collection[str] | None = None


def check_orchestration(
    orch: Orchestration,
    report: Report,
    *,
    step_paths: Sequence[str] | None = None,
    untyped_steps: Mapping[str, str] | None = None,
    steps_broken: bool = False,
    context: ValidationContext | None = None,
) -> None:
    """Report every cross-field problem of ``orch``.

    ``step_paths`` maps each step's position to its path in the document; ``untyped_steps``
    maps the paths of steps that could not be decoded at all (unknown type) to their ids, so
    gotos to them are not reported again and duplicate ids among them are still found.
    """
    context = context or ValidationContext()
    paths = list(step_paths) if step_paths is not None else [
        f"steps[{i}]" for i in range(len(orch.steps))
    ]
    if orch.id and not ID_PATTERN.match(orch.id):
        report("id", "must start with a letter or digit and use only letters, digits, "
               "'-', '_' and '.' (it appears in URLs)")
    _check_schema(orch, report)
    _check_limits(orch, report)
    if not orch.steps and not steps_broken:
        report("steps", "an orchestration needs at least one step")
    id_items = [(path, step.id) for path, step in zip(paths, orch.steps, strict=True)]
    id_items.extend((untyped_steps or {}).items())
    id_items.sort(key=lambda item: _position(item[0]))
    targets = _check_ids(id_items, report) | {END}
    known_keys = set(orch.state_types())
    schema_keys = set(orch.state_schema)
    for step, path in zip(orch.steps, paths, strict=True):
        _check_branches(step, path, targets, known_keys, report)
        _check_step(step, path, known_keys, schema_keys, context, report)
    _check_templates([("response", orch.response)], known_keys, report)
    _check_cycles(orch, paths, report)


def _check_schema(orch: Orchestration, report: Report) -> None:
    for key, spec in orch.state_schema.items():
        if not KEY_PATTERN.match(key):
            report(f"state_schema.{key}", "state keys must be identifiers (letters, digits, "
                   "'_', not starting with a digit) so templates and conditions can name them")
        if spec.default is not None and not _TYPE_CHECKS[spec.type](spec.default):
            report(f"state_schema.{key}.default",
                   f"default {spec.default!r} is not of type {spec.type}")


def _check_limits(orch: Orchestration, report: Report) -> None:
    limits = orch.limits
    if limits.max_cost_usd is not None and not _positive(limits.max_cost_usd):
        report("limits.max_cost_usd", "must be a finite number greater than 0")
    if limits.max_turns is not None and limits.max_turns < 1:
        report("limits.max_turns", "must be at least 1")
    _check_positive(limits.timeout, "limits.timeout", report)


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _position(path: str) -> int:
    digits = "".join(ch for ch in path.split("]")[0] if ch.isdigit())
    return int(digits) if digits else 0


def _check_ids(items: Sequence[tuple[str, str]], report: Report) -> set[str]:
    seen: dict[str, str] = {}
    for path, step_id in items:
        if not step_id.strip() or any(ch.isspace() for ch in step_id):
            report(f"{path}.id", "step ids must be non-empty and contain no whitespace")
        elif step_id == END:
            report(f"{path}.id", f"{END!r} is reserved: it is the target that ends a run")
        elif step_id in seen:
            report(f"{path}.id", f"duplicate step id {step_id!r} (first used at {seen[step_id]})")
        else:
            seen[step_id] = path
    return set(seen)


def _check_target(target: str | None, path: str, targets: set[str], report: Report) -> None:
    if target is not None and target not in targets:
        choices = ", ".join(sorted(targets))
        report(path, f"unknown step {target!r}; expected one of: {choices}")


def _check_branches(
    step: Step, path: str, targets: set[str], known_keys: set[str], report: Report
) -> None:
    _check_target(step.next, f"{path}.next", targets, report)
    _check_target(getattr(step, "on_failure", None), f"{path}.on_failure", targets, report)
    for index, branch in enumerate(step.when):
        where = f"{path}.when[{index}]"
        _check_target(branch.goto, f"{where}.goto", targets, report)
        try:
            condition = parse_condition(branch.condition)
        except ConditionError as exc:
            report(f"{where}.condition", str(exc))
            continue
        for name in sorted(condition.names - known_keys):
            report(f"{where}.condition",
                   f"names {name!r}, which is not a state_schema key or a human field")


def _check_templates(
    items: Iterable[tuple[str, str]], known_keys: set[str], report: Report
) -> None:
    for path, text in items:
        for key in template_keys(text):
            if key not in known_keys:
                report(path, f"template names {{{key}}}, but state_schema has no key {key!r}")
        for placeholder in unsupported_placeholders(text):
            report(path, f"{placeholder} is not substituted: templates support only "
                   "{state_key} (use {{ and }} for literal braces)")


def _check_output_key(key: str | None, path: str, schema_keys: set[str], report: Report) -> None:
    if key is not None and key not in schema_keys:
        report(path, f"writes to {key!r}, which state_schema does not declare")


def _check_step(
    step: Step,
    path: str,
    known_keys: set[str],
    schema_keys: set[str],
    context: ValidationContext,
    report: Report,
) -> None:
    if isinstance(step, AgentStep):
        _check_templates(
            [(f"{path}.prompt", step.prompt), (f"{path}.system_prompt", step.system_prompt)],
            known_keys, report,
        )
        _check_output_key(step.output_key, f"{path}.output_key", schema_keys, report)
        if step.max_turns < 1:
            report(f"{path}.max_turns", "must be at least 1")
        if step.temperature is not None and not 0 <= step.temperature <= 2:
            report(f"{path}.temperature", "must be between 0 and 2")
        if context.providers is not None and step.provider is not None and (
            step.provider not in context.providers
        ):
            report(f"{path}.provider", f"unknown provider {step.provider!r}; expected one of: "
                   f"{', '.join(sorted(context.providers))}")
        for index, tool in enumerate(step.tools):
            _check_tool(tool, f"{path}.tools[{index}]", context, report)
    elif isinstance(step, TaskStep):
        if not step.task_type.strip():
            report(f"{path}.task_type", "must not be empty")
        try:
            normalize_priority(step.priority)  # the task engine's own rule, so they agree
        except ValueError as exc:
            report(f"{path}.priority", str(exc))
        _check_templates(iter_strings(step.payload, f"{path}.payload"), known_keys, report)
        _check_output_key(step.result_key, f"{path}.result_key", schema_keys, report)
        _check_positive(step.timeout_seconds, f"{path}.timeout_seconds", report)
        if step.max_attempts is not None and step.max_attempts < 1:
            report(f"{path}.max_attempts", "must be at least 1")
    elif isinstance(step, ToolStep):
        _check_tool(step.tool, f"{path}.tool", context, report)
        _check_templates(iter_strings(step.args, f"{path}.args"), known_keys, report)
        _check_output_key(step.output_key, f"{path}.output_key", schema_keys, report)
        _check_positive(step.timeout, f"{path}.timeout", report)
    else:
        _check_human(step, path, known_keys, report)


def _check_positive(value: float | None, path: str, report: Report) -> None:
    if value is not None and not _positive(value):
        report(path, "must be a finite number of seconds greater than 0")


def _check_tool(name: str, path: str, context: ValidationContext, report: Report) -> None:
    if not name.strip():
        report(path, "tool name must not be empty")
    elif context.tool_exists is not None and not context.tool_exists(name):
        kind = "python callable" if ":" in name else "tool"
        report(path, f"unknown or disallowed {kind} {name!r}")


def _check_human(step: HumanStep, path: str, known_keys: set[str], report: Report) -> None:
    _check_templates(
        [(f"{path}.prompt", step.prompt), (f"{path}.agent_context", step.agent_context)],
        known_keys, report,
    )
    if not step.prompt.strip():
        report(f"{path}.prompt", "a human gate needs a prompt telling the person what to decide")
    seen: set[str] = set()
    for index, field in enumerate(step.fields):
        where = f"{path}.fields[{index}]"
        if not KEY_PATTERN.match(field.name):
            report(f"{where}.name", "field names must be identifiers: the answer is stored "
                   "in shared state under this name")
        elif field.name in seen:
            report(f"{where}.name", f"duplicate field name {field.name!r}")
        seen.add(field.name)
        if field.type in ("select", "multiselect") and not field.choices:
            report(f"{where}.options", f"a {field.type} field needs options, e.g. "
                   "\"approve,reject\" or [\"approve\", \"reject\"]")
        if field.min is not None and field.max is not None and field.min > field.max:
            report(f"{where}.min", f"min {field.min} is greater than max {field.max}")
        if field.default is not None:
            try:
                clean_value(field, field.default)
            except ValueError as exc:
                report(f"{where}.default", f"default {exc}")
    for role_index, role in enumerate(step.allowed_roles):
        if role not in ROLES:
            report(f"{path}.allowed_roles[{role_index}]",
                   f"unknown role {role!r}; expected one of: {', '.join(ROLES)}")
    _check_positive(step.timeout_seconds, f"{path}.timeout_seconds", report)
    if step.default_answer is not None:
        _, errors = validate_answer(step.fields, step.default_answer)
        for error in errors:
            report(f"{path}.default_answer.{error.field}", error.message)
    _check_routing(step, path, report)


def _check_routing(step: HumanStep, path: str, report: Report) -> None:
    """A gate's assignees, delegates, quorum, SLA and on_timeout (issue 14)."""
    for key in ("assignees", "delegates"):
        for index, value in enumerate(getattr(step, key)):
            try:
                check_assignees([value])
            except ValueError as exc:
                report(f"{path}.{key}[{index}]", str(exc))
    if step.quorum is not None and not 1 <= step.quorum <= 20:
        report(f"{path}.quorum", "must be between 1 and 20 distinct approvers")
    if step.sla is not None:
        try:
            if parse_duration(step.sla) <= 0:
                report(f"{path}.sla", "must be longer than 0s")
        except ValueError as exc:
            report(f"{path}.sla", str(exc))
    if step.on_timeout is not None:
        if step.on_timeout not in ("escalate", "default", "reject"):
            report(f"{path}.on_timeout",
                   f"unknown {step.on_timeout!r}; expected escalate, default or reject")
        elif step.on_timeout == "default" and step.default_answer is None:
            report(f"{path}.on_timeout", "\"default\" needs the gate's default_answer")


def _edges(orch: Orchestration) -> dict[str, list[str]]:
    ids = {step.id for step in orch.steps}
    graph: dict[str, list[str]] = {}
    for step in orch.steps:
        targets = [branch.goto for branch in step.when]
        targets.append(step.next if step.next is not None else orch.following_step_id(step) or END)
        failure = getattr(step, "on_failure", None)
        if failure is not None:
            targets.append(failure)
        graph[step.id] = [t for t in targets if t in ids]
    return graph


def _strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (definitions can be long; no recursion limit worries)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            recurse = False
            successors = graph[node]
            while child < len(successors):
                succ = successors[child]
                child += 1
                if succ not in index:
                    work.append((node, child))
                    work.append((succ, 0))
                    recurse = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if recurse:
                continue
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _check_cycles(orch: Orchestration, paths: Sequence[str], report: Report) -> None:
    if orch.limits.max_turns is not None or orch.limits.timeout is not None:
        return
    graph = _edges(orch)
    order = {step.id: position for position, step in enumerate(orch.steps)}
    humans = {step.id for step in orch.steps if isinstance(step, HumanStep)}
    for component in _strongly_connected(graph):
        looping = len(component) > 1 or component[0] in graph[component[0]]
        if not looping or humans.intersection(component):
            continue
        members = sorted(component, key=order.__getitem__)
        what = (f"step {members[0]} loops to itself" if len(members) == 1
                else f"steps {', '.join(members)} form a cycle")
        report(paths[order[members[0]]],
               f"{what} with no human gate, and limits set neither max_turns nor timeout: "
               "a run could loop forever")
