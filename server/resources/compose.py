"""Seed 002's compose endpoint: task -> workflow, checked, and (in execute mode) run, with a
provider chosen per stage (generation, validation, execution).

Why a module of its own over ``/orchestrate``'s pieces: seed 002 calls its whole API an
extension of "the basic compose functionality" (``/generate`` is "compose in plan mode")
and its multi-provider example is a compose request. ``/orchestrate`` already does the
stages; this module adds compose's vocabulary (``mode``, a default ``provider`` for every
stage) and MCP validators, and reuses the rest: the same generator, validators, review,
inline-run start and wait, and stream frames (imported from ``resources.providers``).

MCP validators: in ``strategy.validation.tools`` a name that is not a built-in validator
(definition, tools, best-practices) may name an MCP tool (``kubernetes-validator``, or
``mcp__<server>__<tool>``). It is called with the generated workflow (as its ``workflow``
argument, or as JSON text in its one required string argument) and may answer
``{"valid", "issues", "suggestions"}`` (issues block execution) or text (a suggestion);
a validator that fails is an issue. MCP tools are privileged: a non-admin may use them
only where ``[tools] inline_tools_for_non_admins`` lists "mcp", and every use is audited
(``workflow.validate_privileged``) before the first call.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import msgspec
import yaml
from aiohttp import web
from msgspec import UNSET
from pydantic import Field

from switchboard.engine.errors import Forbidden, ValidationFailed
from switchboard.engine.orchestrations.generate import GenerationResult, Issue
from switchboard.engine.orchestrations.inline import INLINE_TOOLS_SETTING
from switchboard.engine.providers.mcp import MCPProvider
from switchboard.engine.providers.registry import UnknownProviderError
from switchboard.engine.tools.mcp import KIND as MCP_KIND
from switchboard.server import convert
from switchboard.server.contract import compose as wire
from switchboard.server.jsonio import StrictModel
from switchboard.server.resources.common import actor_of, engine_of
from switchboard.server.resources.execution_view import ExecutionView
from switchboard.server.resources.providers import (
    VALIDATORS,
    ExecuteOptions,
    ExecutionStage,
    GenerationStage,
    Strategy,
    ValidationStage,
    _check_strategy,
    _finish,
    _generator,
    _orchestrate_items,
    _plan,
    _start_inline,
)
from switchboard.server.routing import RouteTable
from switchboard.server.sse import stream_events

routes = RouteTable(tag="providers")
JsonObject = dict[str, Any]


# -- request ----------------------------------------------------------------------------------

class ComposeOptions(StrictModel):
    stream: bool = Field(False, description="Execute mode: stream generation_complete, "
                         "validation_complete, then `/execute`'s events (SSE).")
    timeout: float | None = Field(None, gt=0, le=7 * 86_400_000,
                                  description="Run timeout in milliseconds.")
    on_failure: Literal["stop", "continue", "rollback"] = Field(
        "stop", description="What a failed tool or task step does.")
    include_validation: bool = Field(True, description="Include the validation block.")
    format: Literal["json", "yaml"] = Field(
        "json", description="`yaml` adds `document`: the workflow as YAML text.")


class ComposeBody(StrictModel):
    task: str = Field(min_length=1, max_length=20_000, description="What the workflow is for.")
    mode: Literal["plan", "execute"] | None = Field(
        None, description="`plan`: generate and validate only (like `/generate`); `execute`: "
        "then run it. Default: execute when the strategy has an execution stage.")
    provider: str | None = Field(None, description="Provider for every stage that names none "
                                 "(else the default provider).")
    model: str | None = Field(None, description="Model for every stage that names none.")
    strategy: Strategy | None = Field(None, description="Per-stage providers: generation, "
                                      "validation (+ validators, MCP tools too), execution.")
    context: JsonObject | None = Field(None, description="Facts the workflow should use.")
    parameters: JsonObject | None = Field(None, description="Initial state of the run.")
    options: ComposeOptions | None = None


# -- stages -----------------------------------------------------------------------------------

def _effective(body: ComposeBody) -> Strategy:
    """The strategy with the request's ``provider``/``model`` filled into the stages it has
    (and a generation stage, and a validation stage when a default provider is given)."""
    given = body.strategy or Strategy()

    def fill(stage: Any, cls: type[Any]) -> Any:
        stage = stage if stage is not None else cls()
        return stage.model_copy(update={"provider": stage.provider or body.provider,
                                        "model": stage.model or body.model})

    return Strategy(generation=fill(given.generation, GenerationStage),
                    validation=fill(given.validation, ValidationStage)
                    if given.validation is not None or body.provider or body.model else None,
                    execution=(fill(given.execution, ExecutionStage)
                               if given.execution is not None else None))


def _mcp(request: web.Request) -> MCPProvider | None:
    try:
        provider = engine_of(request).providers.get("mcp")
    except UnknownProviderError:
        return None
    return provider if isinstance(provider, MCPProvider) else None


def _split_validators(request: web.Request, strategy: Strategy) -> tuple[Strategy, list[str]]:
    """Built-in validators stay in the strategy; other names must be MCP tools (their
    registry names are returned). Raises ValidationFailed naming the unknown one."""
    stage = strategy.validation
    if stage is None or stage.tools is None:
        return strategy, []
    builtin: list[str] = []
    mcp_tools: list[str] = []
    mcp = _mcp(request)
    for index, name in enumerate(stage.tools):
        if name in VALIDATORS:
            builtin.append(name)
            continue
        resolved = mcp.resolve_tool(name) if mcp is not None else None
        if resolved is None:
            offered = mcp.tool_names() if mcp is not None else []
            why = (f"; MCP tools: {', '.join(offered)}" if offered else
                   f"; no MCP tools ({mcp.unavailable_reason() or 'none registered'})"
                   if mcp is not None else "")
            raise ValidationFailed(f"strategy.validation.tools[{index}]",
                                   f"unknown validator {name!r}; built-in: "
                                   f"{', '.join(VALIDATORS)}{why}")
        mcp_tools.append(resolved)
    narrowed = stage.model_copy(update={"tools": builtin})
    return strategy.model_copy(update={"validation": narrowed}), mcp_tools


def _authorize_mcp(request: web.Request, tools: list[str]) -> str | None:
    """May the caller run these MCP tools? Why (for the audit row), or Forbidden."""
    if not tools:
        return None
    actor = actor_of(request)
    if actor.is_admin:
        return "admin"
    if MCP_KIND in engine_of(request).config.tools.inline_tools_for_non_admins:
        return INLINE_TOOLS_SETTING
    raise Forbidden(f"strategy.validation.tools: the {tools[0]!r} tool is not available to "
                    f"requests from the {actor.role} role; an admin may run it, or allow it "
                    f"with {INLINE_TOOLS_SETTING} = [\"{MCP_KIND}\"]")


def _arguments(schema: JsonObject, workflow: JsonObject) -> JsonObject:
    properties = schema.get("properties") or {}
    if "workflow" in properties:
        kind = (properties["workflow"] or {}).get("type")
        return {"workflow": json.dumps(workflow) if kind == "string" else workflow}
    required = [n for n in schema.get("required") or []
                if (properties.get(n) or {}).get("type") == "string"]
    if len(required) == 1:
        return {required[0]: json.dumps(workflow)}
    return {"workflow": workflow}


async def _mcp_validate(request: web.Request, result: GenerationResult, tools: list[str]) -> None:
    """Call each MCP validator with the workflow; merge its verdict into ``result``."""
    registry = engine_of(request).tools
    validation = result.validation
    for name in tools:
        tool = registry.get(name)
        short = name.rsplit("__", 1)[-1]
        outcome = await registry.call(name, _arguments(tool.parameters, result.workflow))
        if not outcome.ok:
            validation.issues.append(Issue(path="", message=f"{short}: validator failed: "
                                                            f"{outcome.error}"))
            continue
        output = outcome.output
        if isinstance(output, dict) and set(output) == {"result"}:
            output = output["result"]
        if isinstance(output, dict) and ({"valid", "issues", "suggestions"} & set(output)):
            for issue in output.get("issues") or []:
                if isinstance(issue, dict):
                    validation.issues.append(Issue(path=str(issue.get("path") or ""),
                                                   message=f"{short}: {issue.get('message')}"))
                else:
                    validation.issues.append(Issue(path="", message=f"{short}: {issue}"))
            if output.get("valid") is False and not output.get("issues"):
                validation.issues.append(Issue(path="", message=f"{short}: not valid"))
            validation.suggestions += [f"{short}: {s}" for s in output.get("suggestions") or []]
        elif output not in (None, ""):
            text = output if isinstance(output, str) else json.dumps(output)
            validation.suggestions.append(f"{short}: {text}")
    validation.valid = not validation.issues


# -- the route --------------------------------------------------------------------------------

def _result(mode: str, result: GenerationResult, opts: ComposeOptions,
            execution: wire.ComposeExecution | None) -> wire.ComposeResult:
    meta = result.metadata
    strategy = meta["strategy"]
    out = wire.ComposeResult(
        mode=mode, workflow=result.workflow,  # type: ignore[arg-type]
        metadata=wire.ComposeMetadata(
            generated_at=meta["generated_at"], provider=meta["provider"], model=meta["model"],
            mode=mode, generator=meta["generator"],  # type: ignore[arg-type]
            notice=meta.get("notice", UNSET), attempts=meta.get("attempts", UNSET),
            usage=meta.get("usage", UNSET),
            strategy=wire.ComposeStrategy(
                generation=wire.StageChoice(**strategy["generation"]),
                validation=wire.ValidationChoice(**strategy["validation"]),
                execution=wire.ExecutionChoice(**strategy["execution"]))),
        execution=execution if execution is not None else UNSET)
    if opts.include_validation:
        out.validation = convert.validation(result.validation)
    if opts.format == "yaml":
        out.format = "yaml"
        out.document = yaml.safe_dump(result.workflow, sort_keys=False, allow_unicode=True)
    return out


@routes.post("/compose", role="agent", body=ComposeBody, response=wire.ComposeResult,
             responses={403: "an MCP validator, or a generated step's http/command/python/mcp "
                             "tool, is not available to the caller's role",
                        400: "unknown or unavailable provider, validator or runner (the reason "
                             "says how to enable it, e.g. the extra to install)",
                        502: "a provider failed"})
async def compose(request: web.Request, body: ComposeBody
                  ) -> web.StreamResponse | wire.ComposeResult:
    """Compose a workflow for a task: plan mode generates and validates it; execute mode
    then runs it. Each stage may use its own provider (seed 002's multi-provider strategy).

    Stages: `generation` (provider, model), `validation` (provider reviews it; `tools`:
    built-in validators definition, tools, best-practices, or MCP tools), `execution`
    (provider for agent steps naming none; runner `engine`). `provider`/`model` at the top
    fill stages that name none. With `options.stream` in execute mode the answer is SSE:
    generation_complete, validation_complete, then `/execute`'s events."""
    opts = body.options or ComposeOptions()
    strategy = _effective(body)
    mode = body.mode or ("execute" if strategy.execution is not None else "plan")
    if mode == "execute" and strategy.execution is None:
        strategy = strategy.model_copy(update={"execution": ExecutionStage(
            provider=body.provider, model=body.model)})
    gen = _generator(request)
    strategy, mcp_tools = _split_validators(request, strategy)
    validators = _check_strategy(gen, strategy)
    allowed_by = _authorize_mcp(request, mcp_tools)
    result = await _plan(gen, body, strategy, validators)  # type: ignore[arg-type]
    if mcp_tools and result.validation.valid:
        await engine_of(request).audit.record_action(
            actor_of(request), "workflow.validate_privileged", "workflow",
            str(result.workflow.get("name") or "") or None, reason=allowed_by,
            after={"tools": mcp_tools, "task": body.task[:200]})
        await _mcp_validate(request, result, mcp_tools)
    result.metadata["strategy"]["validation"]["mcp_tools"] = mcp_tools
    result.metadata["mode"] = mode
    if mode == "plan":
        return _result(mode, result, opts, None)
    stage = strategy.execution or ExecutionStage()
    exec_options = ExecuteOptions(stream=opts.stream, timeout=opts.timeout,
                                  on_failure=opts.on_failure, provider=stage.provider,
                                  model=stage.model)
    skipped: JsonObject | None = None
    view: ExecutionView | None = None
    after = 0
    if not result.validation.valid:
        skipped = {"status": "skipped", "reason": "the workflow did not validate: "
                   + result.validation.summary()}
    else:
        view, after = await _start_inline(request, gen, result.workflow, body.parameters,
                                          None, exec_options)
    if opts.stream:
        return await stream_events(request, _orchestrate_items(request, result, view, after,
                                                               skipped))
    finished = skipped if view is None else msgspec.to_builtins(
        await _finish(request, view, exec_options))
    return _result(mode, result, opts, msgspec.convert(finished, wire.ComposeExecution))


__all__ = ["ComposeBody", "routes"]
