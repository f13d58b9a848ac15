"""Seed 002's orchestration API: providers, generate, refine, execute, multi-provider
orchestration, templates and sessions, in seed 002's shapes.

Why these routes build their services per request: the generator, the session service and
the catalog hold no state of their own (providers, tools and the store belong to the
engine), so a request-scoped instance costs a few attribute assignments and keeps the
engine free of seed-002 wiring. Roles: reads are ``user``; generate, refine, execute,
orchestrate and sessions are ``agent`` (they spend model tokens or start runs); switching
the default provider is ``admin`` (audited). Inline workflows (execute, orchestrate) may use
http/command/python tools only when posted by an admin or allowed by ``[tools]
inline_tools_for_non_admins``; each such run is audited (``workflow.execute_privileged``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

import msgspec
import yaml
from aiohttp import web
from msgspec import UNSET
from pydantic import Field

from switchboard.engine.clock import iso
from switchboard.engine.errors import NotFound, ValidationFailed
from switchboard.engine.orchestrations.catalog import TemplateCatalog
from switchboard.engine.orchestrations.definitions import AgentStep, Orchestration
from switchboard.engine.orchestrations.generate import GenerationResult, WorkflowGenerator
from switchboard.engine.orchestrations.inline import (
    authorize_inline,
    prepare_inline,
    run_definition,
)
from switchboard.engine.orchestrations.sessions import ContinueRequest, SessionService
from switchboard.engine.providers.registry import UnknownProviderError
from switchboard.server import convert
from switchboard.server.contract import providers as wire
from switchboard.server.errors import ApiError
from switchboard.server.jsonio import QueryModel, StrictModel
from switchboard.server.resources.common import PageQuery, actor_of, engine_of, pagination
from switchboard.server.resources.execution_view import ExecutionView, Frame, execution_items
from switchboard.server.routing import RouteTable
from switchboard.server.sse import last_event_id, stream_events

routes = RouteTable(tag="providers")
CATALOG = TemplateCatalog()
WAIT_SLACK_SECONDS = 5.0
VALIDATORS = {
    "definition": "structure, step types, goto targets, templates and cycles",
    "tools": "every tool a step names is registered",
    "best-practices": "suggestions: health checks, rollback, approval gates, limits",
}
RUNNERS = {"engine": "durable runs in this server (checkpointed after every step)"}

JsonObject = dict[str, Any]


def _generator(request: web.Request) -> WorkflowGenerator:
    engine = engine_of(request)
    return WorkflowGenerator(engine.providers, engine.tools, engine.clock)


def _sessions(request: web.Request) -> SessionService:
    return SessionService(engine_of(request).store, _generator(request))


class OutputOptions(StrictModel):
    include_validation: bool = Field(True, description="Include the validation block.")
    format: Literal["json", "yaml"] = Field(
        "json", description="`yaml` adds `document`: the workflow as YAML text.")


def _yaml(workflow: JsonObject) -> str:
    return yaml.safe_dump(workflow, sort_keys=False, allow_unicode=True)


def _answer(result: GenerationResult, options: OutputOptions | None) -> wire.GeneratedWorkflow:
    opts = options or OutputOptions()
    out = wire.GeneratedWorkflow(workflow=result.workflow, metadata=result.metadata)
    if opts.include_validation:
        out.validation = convert.validation(result.validation)
    if opts.format == "yaml":
        out.format = "yaml"
        out.document = _yaml(result.workflow)
    return out


# -- providers --------------------------------------------------------------------------------

@routes.get("/providers", role="user", response=wire.Providers)
async def list_providers(request: web.Request) -> wire.Providers:
    """Available orchestration providers, their capabilities, and the default."""
    described = engine_of(request).providers.describe()
    return wire.Providers(
        providers={key: wire.Provider(name=item["name"], available=item["available"],
                                      features=wire.ProviderFeatures(**item["features"]),
                                      reason=item.get("reason", UNSET))
                   for key, item in described["providers"].items()},
        default=described["default"])


class SwitchConfig(StrictModel):
    timeout: float | None = Field(None, gt=0, le=3_600_000,
                                  description="Request timeout in milliseconds.")
    max_retries: int | None = Field(None, ge=0, le=10)


class SwitchBody(StrictModel):
    provider: str = Field(min_length=1, max_length=100)
    config: SwitchConfig | None = None


@routes.post("/providers/switch", role="admin", body=SwitchBody,
             response=wire.ProviderSwitched,
             responses={409: "the provider is not available", 400: "unknown provider"})
async def switch_provider(request: web.Request, body: SwitchBody) -> wire.ProviderSwitched:
    """Make a provider the default (and apply its timeout/retry settings)."""
    engine = engine_of(request)
    registry = engine.providers
    config = body.config.model_dump(exclude_none=True) if body.config else {}
    before = registry.default
    try:
        registry.get(body.provider)
        result = registry.switch(body.provider, config)
    except UnknownProviderError as exc:
        raise ValidationFailed("provider", str(exc)) from None
    except ValueError as exc:
        raise ApiError(409, f"provider: {exc}") from None
    await engine.audit.record_action(actor_of(request), "provider.switch", "provider",
                                     body.provider, before={"default": before},
                                     after={"default": registry.default, "config": config})
    return wire.ProviderSwitched(success=result["success"], provider=result["provider"],
                                 default=result["default"], config=config)


# -- generate / refine ------------------------------------------------------------------------

class GenerateBody(StrictModel):
    task: str = Field(min_length=1, max_length=20_000, description="What the workflow is for.")
    context: JsonObject | None = Field(None, description="Facts the workflow should use.")
    provider: str | None = Field(None, description="Provider name; the default if omitted.")
    model: str | None = None
    options: OutputOptions | None = None


@routes.post("/generate", role="agent", body=GenerateBody, response=wire.GeneratedWorkflow,
             responses={400: "bad input or unknown provider", 502: "the provider failed"})
async def generate(request: web.Request, body: GenerateBody) -> wire.GeneratedWorkflow:
    """Generate a workflow without executing it (validated, with suggestions)."""
    result = await _generator(request).generate(body.task, body.context, provider=body.provider,
                                                model=body.model)
    return _answer(result, body.options)


class RefineBody(StrictModel):
    workflow: JsonObject = Field(description="The workflow to improve (seed 002's shape).")
    requirements: list[str] = Field(default_factory=list, max_length=100)
    context: JsonObject | None = Field(None, description="e.g. `previous_errors`.")
    provider: str | None = None
    model: str | None = None
    options: OutputOptions | None = None


@routes.post("/refine", role="agent", body=RefineBody, response=wire.GeneratedWorkflow,
             responses={400: "bad input or unknown provider", 502: "the provider failed"})
async def refine(request: web.Request, body: RefineBody) -> wire.GeneratedWorkflow:
    """Improve a workflow for new requirements; fixes what it can and reports the rest."""
    result = await _generator(request).refine(body.workflow, body.requirements, body.context,
                                              provider=body.provider, model=body.model)
    return _answer(result, body.options)


# -- execute ----------------------------------------------------------------------------------

class ExecuteOptions(StrictModel):
    stream: bool = Field(False, description="Stream seed 002's SSE events instead of waiting.")
    timeout: float | None = Field(None, gt=0, le=7 * 86_400_000,
                                  description="Run timeout in milliseconds (limits.timeout).")
    on_failure: Literal["stop", "continue", "rollback"] = Field(
        "stop", description="What a failed tool or task step does.")
    provider: str | None = Field(None, description="Provider for agent steps naming none.")
    model: str | None = None


class ExecuteBody(StrictModel):
    workflow: JsonObject
    parameters: JsonObject | None = Field(None, description="Initial state values.")
    message: str | None = Field(None, max_length=100_000,
                                description="Fills the first state key, as in seed 000.")
    options: ExecuteOptions | None = None


def _check_execution(gen: WorkflowGenerator, orch: Orchestration, field: str) -> None:
    """Every agent step's provider must exist, be available and support execution."""
    for index, step in enumerate(orch.steps):
        if isinstance(step, AgentStep):
            gen.provider(step.provider, "execution", f"{field}.steps[{index}].provider")


async def _start_inline(request: web.Request, gen: WorkflowGenerator, workflow: JsonObject,
                        parameters: JsonObject | None, message: str | None,
                        options: ExecuteOptions) -> tuple[ExecutionView, int]:
    """Validate, pin and start an inline run; returns its view and the seq to stream from."""
    engine = engine_of(request)
    if options.provider:
        gen.provider(options.provider, "execution", "options.provider")
    orch = prepare_inline(workflow, parameters, gen.context,
                          timeout_seconds=options.timeout / 1000 if options.timeout else None,
                          on_failure=options.on_failure, provider=options.provider,
                          model=options.model)
    _check_execution(gen, orch, "workflow")
    actor = actor_of(request)
    uses, allowed_by = authorize_inline(orch, engine.tools, actor,
                                        engine.config.tools.inline_tools_for_non_admins)
    privileged = ({"tools": [u.as_dict() for u in uses], "version": orch.version,
                   "allowed_by": allowed_by} if uses else None)
    after = engine.bus.last_seq
    # the audit row commits with the run it allows (same transaction)
    run = await engine.runs.start(orch, message, actor=actor, values=parameters,
                                  privileged=privileged)
    return ExecutionView(orch, run), after


async def _finish(request: web.Request, view: ExecutionView, options: ExecuteOptions
                  ) -> wire.ExecutionResult:
    engine = engine_of(request)
    bound = (options.timeout / 1000 + WAIT_SLACK_SECONDS if options.timeout
             else engine.config.server.sync_run_wait_seconds)
    run = await engine.runs.wait(view.run_id, bound)
    return view.result(run, engine.clock.now())


@routes.post("/execute", role="agent", body=ExecuteBody, response=wire.ExecutionResult,
             responses={403: "a non-admin's workflow uses an http, command or python tool",
                        400: "the workflow, a parameter or an option is invalid"})
async def execute(request: web.Request, body: ExecuteBody
                  ) -> web.StreamResponse | wire.ExecutionResult:
    """Run an inline workflow: SSE with `options.stream`, else JSON when it ends or pauses.

    Stream events (each data object also carries `"event"`): execution_start, step_start,
    step_output, step_complete, execution_complete; a human gate ends the stream with
    execution_paused (how to resume, and `watch_url` to follow the rest)."""
    options = body.options or ExecuteOptions()
    gen = _generator(request)
    view, after = await _start_inline(request, gen, body.workflow, body.parameters,
                                      body.message, options)
    if options.stream:
        return await stream_events(request, execution_items(engine_of(request), view, after))
    return await _finish(request, view, options)


class WatchQuery(QueryModel):
    after: int | None = Field(None, ge=0, description="Replay events after this seq.")


@routes.get("/execute/runs/{run_id}/stream", role="user", query=WatchQuery,
            media_type="text/event-stream", response=wire.ExecutionFrame)
async def watch_execution(request: web.Request, query: WatchQuery) -> web.StreamResponse:
    """An inline run's seed 002 events from `Last-Event-ID` / `?after=` (default: start)."""
    engine = engine_of(request)
    run_id = request.match_info["run_id"]
    run = await engine.runs.get(run_id)  # 404 before the stream starts
    orch = await run_definition(engine.store, run_id)
    if orch is None:
        raise NotFound(f"run {run_id!r} not found")
    header = last_event_id(request)
    after = query.after or 0
    if header is not None:
        try:
            after = int(header)
        except ValueError:
            raise ApiError(400, "Last-Event-ID must be an event seq") from None
    return await stream_events(request, execution_items(engine, ExecutionView(orch, run), after))


# -- multi-provider orchestration --------------------------------------------------------------

class GenerationStage(StrictModel):
    provider: str | None = None
    model: str | None = None


class ValidationStage(StrictModel):
    provider: str | None = Field(None, description="Reviews the workflow (a model adds "
                                 "suggestions; builtin adds none).")
    model: str | None = None
    tools: list[str] | None = Field(None, description=f"Validators: {', '.join(VALIDATORS)}.")


class ExecutionStage(StrictModel):
    provider: str | None = Field(None, description="Provider for agent steps naming none.")
    model: str | None = None
    runner: str | None = Field(None, description=f"Runner: {', '.join(RUNNERS)}.")


class Strategy(StrictModel):
    generation: GenerationStage | None = None
    validation: ValidationStage | None = None
    execution: ExecutionStage | None = None


class OrchestrateOptions(StrictModel):
    execute: bool | None = Field(None, description="Run the workflow (default: when the "
                                 "strategy has an execution stage).")
    stream: bool = False
    timeout: float | None = Field(None, gt=0, le=7 * 86_400_000)
    on_failure: Literal["stop", "continue", "rollback"] = "stop"


class OrchestrateBody(StrictModel):
    task: str = Field(min_length=1, max_length=20_000)
    strategy: Strategy | None = None
    context: JsonObject | None = None
    parameters: JsonObject | None = None
    options: OrchestrateOptions | None = None


def _check_strategy(gen: WorkflowGenerator, strategy: Strategy) -> list[str]:
    """Refuse unknown providers, validators and runners before any work; the validators."""
    gen.provider(strategy.generation.provider if strategy.generation else None, "generation",
                 "strategy.generation.provider")
    validators = list(VALIDATORS)
    if strategy.validation is not None:
        gen.provider(strategy.validation.provider, "refinement", "strategy.validation.provider")
        if strategy.validation.tools is not None:
            for index, name in enumerate(strategy.validation.tools):
                if name not in VALIDATORS:
                    raise ValidationFailed(f"strategy.validation.tools[{index}]",
                                           f"unknown validator {name!r}; available: "
                                           f"{', '.join(VALIDATORS)}")
            validators = ["definition", "tools", *[t for t in strategy.validation.tools
                                                   if t not in ("definition", "tools")]]
    if strategy.execution is not None:
        gen.provider(strategy.execution.provider, "execution", "strategy.execution.provider")
        runner = strategy.execution.runner
        if runner is not None and runner not in RUNNERS:
            raise ValidationFailed("strategy.execution.runner", f"unknown runner {runner!r}; "
                                   f"available: {', '.join(RUNNERS)}")
    return validators


async def _plan(gen: WorkflowGenerator, body: OrchestrateBody, strategy: Strategy,
                validators: list[str]) -> GenerationResult:
    """Generation by one provider, review by another."""
    stage = strategy.generation or GenerationStage()
    result = await gen.generate(body.task, body.context, provider=stage.provider,
                                model=stage.model)
    review = strategy.validation or ValidationStage()
    if "best-practices" not in validators:
        result.validation.suggestions = []
    elif result.validation.valid:
        result.validation.suggestions += await gen.review(
            result.workflow, provider=review.provider, model=review.model,
            field="strategy.validation.provider")
    execution = strategy.execution or ExecutionStage()
    result.metadata["strategy"] = {
        "generation": {"provider": result.metadata["provider"],
                       "model": result.metadata["model"]},
        "validation": {"provider": gen.providers.get(review.provider).name,
                       "validators": validators},
        "execution": {"provider": gen.providers.get(execution.provider).name,
                      "model": execution.model, "runner": execution.runner or "engine"},
    }
    return result


@routes.post("/orchestrate", role="agent", body=OrchestrateBody, response=wire.OrchestrateResult,
             responses={403: "a non-admin's generated workflow uses an http, command or "
                             "python tool", 400: "unknown provider, validator or runner",
                        502: "a provider failed"})
async def orchestrate(request: web.Request, body: OrchestrateBody
                      ) -> web.StreamResponse | wire.OrchestrateResult:
    """Generate with one provider, validate/review with another, execute with a third.

    JSON: the generate answer plus `execution` (the `/execute` result, or `skipped` with
    the reason). With `options.stream`: generation_complete, validation_complete, then
    `/execute`'s events (or execution_skipped)."""
    strategy = body.strategy or Strategy()
    opts = body.options or OrchestrateOptions()
    gen = _generator(request)
    validators = _check_strategy(gen, strategy)
    result = await _plan(gen, body, strategy, validators)
    run_it = opts.execute if opts.execute is not None else strategy.execution is not None
    stage = strategy.execution or ExecutionStage()
    exec_options = ExecuteOptions(stream=opts.stream, timeout=opts.timeout,
                                  on_failure=opts.on_failure, provider=stage.provider,
                                  model=stage.model)
    skipped: JsonObject | None = None
    view: ExecutionView | None = None
    after = 0
    if run_it and not result.validation.valid:
        skipped = {"status": "skipped", "reason": "the workflow did not validate: "
                   + result.validation.summary()}
    elif run_it:
        view, after = await _start_inline(request, gen, result.workflow, body.parameters, None,
                                          exec_options)
    if not opts.stream:
        execution = skipped if view is None else msgspec.to_builtins(
            await _finish(request, view, exec_options))
        return wire.OrchestrateResult(workflow=result.workflow,
                                      validation=convert.validation(result.validation),
                                      metadata=result.metadata, execution=execution)
    return await stream_events(request, _orchestrate_items(request, result, view, after,
                                                           skipped))


async def _orchestrate_items(request: web.Request, result: GenerationResult,
                             view: ExecutionView | None, after: int,
                             skipped: JsonObject | None) -> AsyncIterator[Frame]:
    """The plan's two frames, then the run's (or why it did not run)."""
    yield None, "generation_complete", {"event": "generation_complete",
                                        "workflow": result.workflow,
                                        "metadata": result.metadata}
    yield None, "validation_complete", {"event": "validation_complete", **msgspec.to_builtins(
        convert.validation(result.validation))}
    if skipped is not None:
        yield None, "execution_skipped", {"event": "execution_skipped", **skipped}
    if view is not None:
        async for frame in execution_items(engine_of(request), view, after):
            yield frame


# -- templates --------------------------------------------------------------------------------

@routes.get("/templates", role="user", response=wire.TemplateList)
async def list_templates(request: web.Request) -> wire.TemplateList:
    """Workflow templates and their declared parameters."""
    items = [convert.template(t.summary()) for t in CATALOG.list()]
    return wire.TemplateList(templates=items, count=len(items))


@routes.get("/templates/{template_id}", role="user", response=wire.Template)
async def get_template(request: web.Request) -> wire.Template:
    """One template and its parameters."""
    return convert.template(CATALOG.get(request.match_info["template_id"]).summary())


class InstantiateBody(StrictModel):
    parameters: JsonObject = Field(default_factory=dict,
                                   description="Values for the template's parameters.")
    options: OutputOptions | None = None


@routes.post("/templates/{template_id}/instantiate", role="user", body=InstantiateBody,
             response=wire.InstantiatedTemplate,
             responses={404: "no such template", 400: "a parameter is missing or invalid"})
async def instantiate_template(request: web.Request, body: InstantiateBody
                               ) -> wire.InstantiatedTemplate:
    """Create a validated workflow from a template with specific parameters."""
    template_id = request.match_info["template_id"]
    gen = _generator(request)
    workflow, resolved, validation = CATALOG.instantiate(template_id, body.parameters,
                                                         gen.context)
    metadata = {"generated_at": iso(engine_of(request).clock.now()),
                "template_id": template_id, "generator": "template"}
    out = wire.InstantiatedTemplate(template_id=template_id, workflow=workflow,
                                    parameters=resolved, metadata=metadata)
    if body.options is None or body.options.include_validation:
        out.validation = convert.validation(validation)
    if body.options is not None and body.options.format == "yaml":
        out.format = "yaml"
        out.document = _yaml(workflow)
    return out


# -- sessions ---------------------------------------------------------------------------------

class SessionBody(StrictModel):
    context: JsonObject | None = None
    preferences: JsonObject | None = Field(None, description="provider, model, streaming, ...")


@routes.post("/sessions", role="agent", body=SessionBody, status=201, response=wire.Session,
             responses={400: "unknown preferred provider"})
async def create_session(request: web.Request, body: SessionBody) -> wire.Session:
    """Create a conversation session for multi-turn workflow development."""
    session = await _sessions(request).create(body.context, body.preferences,
                                              actor_of(request).name)
    return convert.session(session, history=False)


@routes.get("/sessions", role="user", query=PageQuery, response=wire.SessionPage)
async def list_sessions(request: web.Request, query: PageQuery) -> wire.SessionPage:
    """Sessions, most recently active first (without their turns)."""
    sessions, total = await _sessions(request).list(query.limit, (query.page - 1) * query.limit)
    return wire.SessionPage(data=[convert.session(s, history=False) for s in sessions],
                            pagination=pagination(query.page, query.limit, total))


@routes.get("/sessions/{session_id}", role="user", response=wire.Session)
async def get_session(request: web.Request) -> wire.Session:
    """A session with its context, preferences, current workflow and every turn."""
    return convert.session(await _sessions(request).get(request.match_info["session_id"]))


class ContinueBody(StrictModel):
    message: str | None = Field(None, max_length=20_000, description=(
        "A task while the session has no workflow, a requirement once it has one."))
    task: str | None = Field(None, max_length=20_000, description="Generate from this task.")
    requirements: list[str] | None = Field(None, max_length=100,
                                           description="Refine with these requirements.")
    context: JsonObject | None = Field(None, description="Merged into the session context.")
    workflow: JsonObject | None = Field(None, description="Replace the current workflow.")
    action: Literal["generate", "refine"] | None = None
    provider: str | None = None
    model: str | None = None
    options: OutputOptions | None = None


@routes.post("/sessions/{session_id}/continue", role="agent", body=ContinueBody,
             response=wire.SessionContinued,
             responses={404: "no such session", 409: "another turn was recorded meanwhile"})
async def continue_session(request: web.Request, body: ContinueBody) -> wire.SessionContinued:
    """Continue a workflow development session with context preservation."""
    service = _sessions(request)
    session, turn = await service.continue_(request.match_info["session_id"], ContinueRequest(
        message=body.message, task=body.task, requirements=body.requirements,
        context=body.context, workflow=body.workflow, provider=body.provider,
        model=body.model, action=body.action), actor_of(request))
    opts = body.options or OutputOptions()
    out = wire.SessionContinued(session_id=session.session_id, turn=turn.turn,
                                action=turn.action, workflow=turn.workflow,
                                metadata=turn.metadata, context=session.context)
    if opts.include_validation:
        out.validation = convert.validation(turn.validation) if turn.validation else None
    if opts.format == "yaml":
        out.format = "yaml"
        out.document = _yaml(turn.workflow)
    return out
