"""Seed 002's workflow generation and refinement through a provider.

Why here and not in the server: the console, sessions, templates and the HTTP API all need
"task -> validated workflow" and "workflow + requirements -> better workflow", with the
same validation, the same labelled offline fallback and the same result shape::

    {"workflow": {...}, "validation": {"valid", "issues", "suggestions"},
     "metadata": {"generated_at", "provider", "model", ...}}

Two paths. The builtin provider is not a language model, so it gets the deterministic
planner (``engine.orchestrations.planner``), clearly labelled. Any other provider (an
OpenAI-compatible endpoint) gets a prompt that describes our definition format and the
registered tools and asks for one JSON object; the reply is parsed, validated with the
loader and, if it has problems, sent back once with the problems listed (``max_repairs``).
What the model could not fix is reported as ``issues``, never hidden: the caller decides
whether to refine, fix by hand or give up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from switchboard.engine.clock import Clock, iso
from switchboard.engine.errors import EngineError, ValidationFailed
from switchboard.engine.orchestrations import planner
from switchboard.engine.orchestrations.definitions import (
    AgentStep,
    HumanStep,
    Orchestration,
    TaskStep,
    ToolStep,
)
from switchboard.engine.orchestrations.loader import load_inline
from switchboard.engine.orchestrations.validate import ValidationContext
from switchboard.engine.providers.base import (
    Message,
    Provider,
    ProviderError,
    Usage,
    unavailable_reason,
)
from switchboard.engine.providers.builtin import BuiltinProvider
from switchboard.engine.providers.registry import ProviderRegistry, UnknownProviderError
from switchboard.engine.tools import ToolRegistry

MAX_REPAIRS = 1
MAX_REPLY_SNIPPET = 300
SIMULATED_TOOLS = ("web_search", "publish", "notify")
DEPLOY_STEP = re.compile(r"deploy|release|roll_?out")


class GenerationFailed(EngineError):
    """The provider failed or never produced a JSON workflow (HTTP 502: upstream's fault)."""

    status = 502


class Issue(msgspec.Struct, frozen=True, kw_only=True):
    """One validation problem: where in the workflow (``steps[0].tool``) and why."""

    path: str
    message: str


class Validation(msgspec.Struct, kw_only=True):
    """Seed 002's ``validation`` block. Issues block running; suggestions do not."""

    valid: bool
    issues: list[Issue] = []
    suggestions: list[str] = []

    def as_dict(self) -> dict[str, Any]:
        return {"valid": self.valid,
                "issues": [{"path": i.path, "message": i.message} for i in self.issues],
                "suggestions": list(self.suggestions)}

    def summary(self) -> str:
        """Issues on one line (``steps[0].tool: unknown ...; ...``) for error details."""
        return "; ".join(f"{i.path or '<workflow>'}: {i.message}" for i in self.issues)


class GenerationResult(msgspec.Struct, kw_only=True):
    workflow: dict[str, Any]
    validation: Validation
    metadata: dict[str, Any]
    orchestration: Orchestration | None = None

    def as_dict(self, include_validation: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"workflow": self.workflow}
        if include_validation:
            out["validation"] = self.validation.as_dict()
        out["metadata"] = self.metadata
        return out


def offline(provider: Provider) -> bool:
    """Is ``provider`` the builtin one, directly or as the model behind a provider that
    wraps another (``mcp``)? Then the deterministic planner writes the workflow."""
    inner = getattr(provider, "model_provider", None)
    return isinstance(inner if inner is not None else provider, BuiltinProvider)


def validation_context(providers: ProviderRegistry, tools: ToolRegistry) -> ValidationContext:
    return ValidationContext(tool_exists=tools.has, providers=providers.names())


def validate_workflow(
    workflow: Any, context: ValidationContext, parameters: Mapping[str, Any] | None = None
) -> tuple[Orchestration | None, Validation]:
    """Load ``workflow`` (seed 002's loose shape) with the definition loader; problems
    become issues, and a valid workflow gets best-practice suggestions."""
    result = load_inline(workflow, parameters, context)
    if result.orchestration is None:
        issues = [Issue(path=p.path, message=p.message) for p in result.problems]
        return None, Validation(valid=False, issues=issues)
    orch = result.orchestration
    return orch, Validation(valid=True, suggestions=suggestions(orch))


def suggestions(orch: Orchestration) -> list[str]:
    """Advice for a valid workflow: what a reviewer would ask about, phrased as a
    requirement ``/refine`` understands."""
    out: list[str] = []
    ids = " ".join(f"{s.id} {s.name}".lower() for s in orch.steps)
    deploys = bool(DEPLOY_STEP.search(ids))
    if deploys and not planner.PRESENT["health"].search(ids):
        out.append("Add health checks after deployment")
    if deploys and not planner.PRESENT["rollback"].search(ids):
        out.append("Include rollback strategy")
    if deploys and not any(isinstance(s, HumanStep) for s in orch.steps):
        out.append("Add an approval gate before deploying (a human step)")
    simulated = sorted({s.tool for s in orch.steps if isinstance(s, ToolStep)
                        and s.tool in SIMULATED_TOOLS}
                       | {t for s in orch.steps if isinstance(s, AgentStep) for t in s.tools
                          if t in SIMULATED_TOOLS})
    if simulated:
        out.append(f"Tools {', '.join(simulated)} are simulated offline stand-ins; register "
                   "real ones before relying on their results")
    if orch.limits.max_turns is None and orch.limits.timeout is None and (
            orch.limits.max_cost_usd is None):
        out.append("Set limits (max_turns, timeout or max_cost_usd) to bound the run")
    if any(isinstance(s, TaskStep) for s in orch.steps):
        out.append("Task steps wait for an agent worker of their type; make sure one runs")
    return out


# -- the LLM path ------------------------------------------------------------------------

FORMAT_GUIDE = """\
A workflow is one JSON object:
{"name": "kebab-case-name", "description": "...",
 "state_schema": {"key": {"type": "string|number|integer|boolean|list|object", "default": ...}},
 "limits": {"max_turns": 50},
 "steps": [ ...steps, run in order... ]}
Step types (every step has "id" (snake_case, unique), "name", "type", optional "description",
optional "next" (a step id or "end") and "when": [{"condition": "key == 'value'", "goto": "id"}]):
- {"type": "tool", "tool": "<registered tool>", "parameters": {...}, "output_key": "key",
   "on_failure": "<step id>"}
- {"type": "agent", "prompt": "...", "system_prompt": "...", "tools": ["<registered tool>"],
   "output_key": "key"}
- {"type": "human", "prompt": "...", "fields": [{"name": "decision", "type":
   "select|text|textarea|number|boolean|multiselect", "options": "approve,reject",
   "required": true}]}
- {"type": "task", "task_type": "deployment", "payload": {...}, "result_key": "key"}
Templates: "{key}" in prompts and parameters is replaced by the state value; every key used
in a template, output_key or condition must be declared in state_schema (human field names
are declared automatically). Use "{{" and "}}" for literal braces. Use only the tools listed."""


def _tools_text(tools: ToolRegistry) -> str:
    lines = []
    for name in tools.names():
        tool = tools.get(name)
        args = ", ".join(tool.parameters.get("properties", {}) or {}) or "no arguments"
        lines.append(f"- {name}: {tool.description} (arguments: {args})")
    return "\n".join(lines)


def extract_json(text: str) -> Any:
    """The first JSON object in a model's reply: the whole text, a fenced block, or the
    first balanced ``{...}``. Raises ValueError when there is none."""
    candidates = [text.strip()]
    candidates += [m.group(1) for m in re.finditer(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)]
    start = text.find("{")
    if start >= 0:
        candidates.append(_balanced(text, start))
    for candidate in candidates:
        if not candidate:
            continue
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError("no JSON object found in the reply")


def _balanced(text: str, start: int) -> str:
    depth, in_string, escaped = 0, False, False
    for index in range(start, len(text)):
        ch = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start:index + 1]
    return ""


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:MAX_REPLY_SNIPPET] + ("..." if len(flat) > MAX_REPLY_SNIPPET else "")


class WorkflowGenerator:
    """Generate, refine and review workflows through the providers of a registry."""

    def __init__(self, providers: ProviderRegistry, tools: ToolRegistry, clock: Clock, *,
                 max_repairs: int = MAX_REPAIRS) -> None:
        self.providers = providers
        self.tools = tools
        self.clock = clock
        self.max_repairs = max_repairs

    @property
    def context(self) -> ValidationContext:
        return validation_context(self.providers, self.tools)

    def validate(self, workflow: Any, parameters: Mapping[str, Any] | None = None
                 ) -> tuple[Orchestration | None, Validation]:
        return validate_workflow(workflow, self.context, parameters)

    def provider(self, name: str | None, feature: str, field: str = "provider") -> Provider:
        """The named (or default) provider, which must exist, be available and offer
        ``feature``. Raises ValidationFailed naming ``field``."""
        try:
            provider = self.providers.get(name)
        except UnknownProviderError as exc:
            raise ValidationFailed(field, str(exc)) from None
        if not provider.available():
            raise ValidationFailed(field, f"provider {provider.name!r} is not available: "
                                   f"{unavailable_reason(provider)}")
        if not getattr(provider.features, feature, False):
            raise ValidationFailed(field, f"provider {provider.name!r} does not support "
                                   f"{feature}")
        return provider

    def _metadata(self, provider: Provider, model: str, mode: str, **extra: Any) -> dict[str, Any]:
        meta: dict[str, Any] = {"generated_at": iso(self.clock.now()), "provider": provider.name,
                                "model": model, "mode": mode}
        if offline(provider):
            meta["generator"] = "builtin-deterministic"
            meta["notice"] = planner.GENERATOR_LABEL
        else:
            meta["generator"] = "llm"
        meta.update(extra)
        return meta

    # -- generate ----------------------------------------------------------------------
    async def generate(self, task: str, context: Mapping[str, Any] | None = None, *,
                       provider: str | None = None, model: str | None = None
                       ) -> GenerationResult:
        """A workflow for ``task`` (seed 002 ``POST /generate``)."""
        if not task.strip():
            raise ValidationFailed("task", "must not be empty")
        chosen = self.provider(provider, "generation")
        ctx = dict(context or {})
        if offline(chosen):
            workflow = planner.plan(task, ctx, self.tools.names())
            orch, validation = self.validate(workflow)
            return GenerationResult(workflow=workflow, validation=validation, orchestration=orch,
                                    metadata=self._metadata(chosen, chosen.default_model,
                                                            "generate"))
        request = (f"Task: {task}\nContext (JSON): {json.dumps(ctx, sort_keys=True)}\n\n"
                   "Design the workflow that accomplishes the task. Answer with the workflow "
                   "JSON object only.")
        return await self._ask(chosen, model, request, "generate")

    # -- refine ------------------------------------------------------------------------
    async def refine(self, workflow: Mapping[str, Any], requirements: Sequence[str],
                     context: Mapping[str, Any] | None = None, *, provider: str | None = None,
                     model: str | None = None) -> GenerationResult:
        """``workflow`` improved for ``requirements`` (seed 002 ``POST /refine``)."""
        if not isinstance(workflow, Mapping):
            raise ValidationFailed("workflow", "must be a JSON object with steps")
        chosen = self.provider(provider, "refinement")
        ctx = dict(context or {})
        if offline(chosen):
            refined, changes = planner.refine(workflow, list(requirements), ctx,
                                              self.tools.names(), self.tools.has)
            orch, validation = self.validate(refined)
            return GenerationResult(workflow=refined, validation=validation, orchestration=orch,
                                    metadata=self._metadata(chosen, chosen.default_model,
                                                            "refine", changes=changes))
        _, before = self.validate(dict(workflow))
        listed = "\n".join(f"- {r}" for r in requirements) or "- (none: fix any problems)"
        problems = ("\nKnown problems:\n" + "\n".join(
            f"- {i.path}: {i.message}" for i in before.issues)) if before.issues else ""
        request = (f"Current workflow (JSON):\n{json.dumps(dict(workflow), sort_keys=True)}\n\n"
                   f"Requirements:\n{listed}\nContext (JSON): {json.dumps(ctx, sort_keys=True)}"
                   f"{problems}\n\nReturn the complete improved workflow JSON object only.")
        return await self._ask(chosen, model, request, "refine")

    # -- review (multi-provider validation) --------------------------------------------
    async def review(self, workflow: Mapping[str, Any], *, provider: str | None = None,
                     model: str | None = None, field: str = "provider") -> list[str]:
        """Extra suggestions from a second provider (``/orchestrate``'s validation stage).
        The builtin provider adds nothing beyond ``suggestions``; a model is asked for a
        JSON list of concrete improvements."""
        chosen = self.provider(provider, "refinement", field)
        if offline(chosen):
            return []
        messages = [Message.system("You review workflow definitions for an orchestration "
                                   "engine. Answer with JSON only: {\"suggestions\": "
                                   "[\"...\"]}, at most 5 short, concrete items."),
                    Message.user(json.dumps(dict(workflow), sort_keys=True))]
        try:
            turn = await chosen.complete(messages, (), model or None, temperature=0.0)
        except ProviderError as exc:
            raise GenerationFailed(f"{chosen.name}: review failed: {exc.message}") from None
        try:
            data = extract_json(turn.text)
        except ValueError:
            return [f"{chosen.name} review (unparsed): {_snippet(turn.text)}"]
        items = data.get("suggestions") if isinstance(data, dict) else None
        return [f"{chosen.name} review: {item}" for item in (items or []) if isinstance(item, str)]

    async def _ask(self, provider: Provider, model: str | None, request: str,
                   mode: str) -> GenerationResult:
        """Prompt, parse, validate; send problems back up to ``max_repairs`` times."""
        messages = [Message.system("You design workflows for an orchestration engine.\n"
                                   f"{FORMAT_GUIDE}\n\nRegistered tools:\n"
                                   f"{_tools_text(self.tools)}\n\nAnswer with one JSON object "
                                   "and nothing else."),
                    Message.user(request)]
        usage = Usage()
        used_model = model or provider.default_model
        workflow: dict[str, Any] | None = None
        orch: Orchestration | None = None
        validation = Validation(valid=False)
        attempts = 0
        for attempts in range(1, self.max_repairs + 2):
            try:
                turn = await provider.complete(messages, (), model or None, temperature=0.2)
            except ProviderError as exc:
                raise GenerationFailed(f"{provider.name}: {exc.message}") from None
            usage = usage + turn.usage
            used_model = turn.model or used_model
            messages.append(Message(role="assistant", content=turn.text))
            try:
                data = extract_json(turn.text)
            except ValueError:
                if attempts > self.max_repairs:
                    raise GenerationFailed(f"{provider.name} did not return a JSON workflow: "
                                           f"{_snippet(turn.text)!r}") from None
                messages.append(Message.user("That was not a JSON object. Answer with the "
                                             "workflow JSON object only."))
                continue
            inner = data.get("workflow")
            workflow = dict(inner) if isinstance(inner, dict) else data
            orch, validation = self.validate(workflow)
            if validation.valid or attempts > self.max_repairs:
                break
            messages.append(Message.user(
                "The workflow has these problems:\n" + "\n".join(
                    f"- {i.path or '<workflow>'}: {i.message}" for i in validation.issues)
                + "\nReturn the corrected complete workflow JSON object only."))
        assert workflow is not None
        return GenerationResult(workflow=workflow, validation=validation, orchestration=orch,
                                metadata=self._metadata(
                                    provider, used_model, mode, attempts=attempts,
                                    usage={"input_tokens": usage.input_tokens,
                                           "output_tokens": usage.output_tokens}))
