"""Seed 002 on the wire: providers, generated workflows, inline execution, templates and
workflow-development sessions.

A ``workflow`` is seed 002's loose document (name, steps, ...): it stays a JSON object, and
its ``validation`` says what is wrong with it. ``metadata`` is what the generator recorded
(``generated_at``, ``provider``, ``model``, ``strategy``...).
"""

from __future__ import annotations

from typing import Any, Literal

from msgspec import UNSET, UnsetType

from switchboard.server.contract.approvals import HumanInputRequired
from switchboard.server.contract.common import Pagination, Record, Time


class ProviderFeatures(Record, kw_only=True):
    generation: bool
    execution: bool
    refinement: bool
    streaming: bool
    compose: bool


class Provider(Record, kw_only=True):
    """One provider; an unavailable one says why (``reason``: a missing key, or the extra
    to install, e.g. ``pip install 'switchboard-console[adk]'``)."""

    name: str
    available: bool
    features: ProviderFeatures
    reason: str | UnsetType = UNSET


class Providers(Record, kw_only=True):
    """Every provider by key, and the key of the default one."""

    providers: dict[str, Provider]
    default: str


class ProviderSwitched(Record, kw_only=True):
    success: bool = True
    provider: str
    default: str
    config: dict[str, Any] = {}


class ValidationIssue(Record, kw_only=True):
    path: str
    message: str


class WorkflowValidation(Record, kw_only=True):
    """``issues`` make a workflow invalid; ``suggestions`` are advice for a valid one,
    phrased as requirements ``/refine`` understands."""

    valid: bool
    issues: list[ValidationIssue] = []
    suggestions: list[str] = []


OutputFormat = Literal["yaml"]


class GeneratedWorkflow(Record, kw_only=True):
    """``/generate`` and ``/refine``: the workflow, its validation (unless
    ``include_validation`` was false) and metadata; ``format: yaml`` adds ``document``,
    the workflow as YAML text."""

    workflow: dict[str, Any]
    validation: WorkflowValidation | UnsetType = UNSET
    metadata: dict[str, Any] = {}
    format: OutputFormat | UnsetType = UNSET
    document: str | UnsetType = UNSET


class ResumeHelp(Record, kw_only=True):
    """How to answer a paused inline run: seed 000's resume endpoints and an example body."""

    method: str
    url: str
    stream_url: str
    body: dict[str, Any]


class ExecutionStep(Record, kw_only=True):
    step: str
    step_id: str | None = None
    index: int | None = None
    type: str | None = None
    status: Literal["success", "failed"]
    duration: float | None = None
    output: Any = None
    error: str | None = None


ExecutionStatus = Literal["success", "failed", "cancelled", "paused", "running"]


class RollbackOutcome(Record, kw_only=True):
    """A failed step was routed to the workflow's rollback step (``on_failure =
    "rollback"``): which step, and how it went (success, failed, running or not_run)."""

    step: str
    step_id: str
    status: Literal["success", "failed", "running", "not_run"]
    output: Any = None
    error: str | None = None


class ExecutionResult(Record, kw_only=True):
    """``/execute`` without streaming: the run after the wait. A paused run adds the gate
    (``human_input_required``, ``approval_id``, ``resume``); a paused or running one adds
    ``watch_url``, where its seed 002 events can be followed."""

    run_id: str
    workflow: str
    workflow_id: str
    status: ExecutionStatus
    duration: float = 0.0
    outputs: dict[str, Any] = {}
    response: str | None = None
    final_state: dict[str, Any] = {}
    error: str | None = None
    cost_usd: float = 0.0
    steps: list[ExecutionStep] = []
    human_input_required: HumanInputRequired | UnsetType | None = UNSET
    approval_id: str | UnsetType | None = UNSET
    resume: ResumeHelp | UnsetType = UNSET
    watch_url: str | UnsetType = UNSET
    rollback: RollbackOutcome | UnsetType = UNSET


class OrchestrateResult(Record, kw_only=True):
    """``/orchestrate`` without streaming: the plan, and ``execution`` — the ``/execute``
    result, ``{"status": "skipped", "reason": ...}``, or null when not asked to run."""

    workflow: dict[str, Any]
    validation: WorkflowValidation
    metadata: dict[str, Any] = {}
    execution: dict[str, Any] | None = None


ExecutionEventName = Literal[
    "execution_start", "step_start", "step_output", "step_complete", "execution_complete",
    "execution_paused", "execution_resumed", "generation_complete", "validation_complete",
    "execution_skipped"]


class ExecutionFrame(Record, kw_only=True):
    """One Server-Sent Event of ``/execute`` (seed 002's names; the data repeats the name
    as ``event``); ``id`` is the event seq to resume after, where there is one."""

    event: ExecutionEventName
    id: str | None = None
    data: dict[str, Any] = {}


class TemplateParameter(Record, kw_only=True):
    """A template's parameter, JSON-schema style: ``default`` for optional ones, ``enum``,
    ``minimum`` and ``maximum`` where declared."""

    name: str
    type: str
    description: str = ""
    required: bool = False
    default: Any | UnsetType = UNSET
    enum: list[Any] | UnsetType = UNSET
    minimum: float | UnsetType = UNSET
    maximum: float | UnsetType = UNSET


class Template(Record, kw_only=True):
    id: str
    name: str
    description: str = ""
    category: str = ""
    tags: list[str] = []
    parameters: list[TemplateParameter] = []


class TemplateList(Record, kw_only=True):
    templates: list[Template]
    count: int


class InstantiatedTemplate(Record, kw_only=True):
    template_id: str
    workflow: dict[str, Any]
    parameters: dict[str, Any] = {}
    validation: WorkflowValidation | UnsetType = UNSET
    metadata: dict[str, Any] = {}
    format: OutputFormat | UnsetType = UNSET
    document: str | UnsetType = UNSET


class SessionTurn(Record, kw_only=True):
    turn: int
    action: str
    input: dict[str, Any] = {}
    workflow: dict[str, Any] = {}
    validation: WorkflowValidation | None = None
    metadata: dict[str, Any] = {}
    created_at: Time | None = None


class Session(Record, kw_only=True):
    """A workflow-development session; ``history`` (every turn) on single reads only."""

    session_id: str
    created_at: Time | None = None
    updated_at: Time | None = None
    context: dict[str, Any] = {}
    preferences: dict[str, Any] = {}
    workflow: dict[str, Any] | None = None
    turns: int = 0
    created_by: str | None = None
    history: list[SessionTurn] | UnsetType = UNSET


class SessionPage(Record, kw_only=True):
    data: list[Session]
    pagination: Pagination


class SessionContinued(Record, kw_only=True):
    """One more turn: the workflow it produced, its validation (unless left out), the
    metadata and the session's context now."""

    session_id: str
    turn: int
    action: str
    workflow: dict[str, Any] = {}
    validation: WorkflowValidation | UnsetType | None = UNSET
    metadata: dict[str, Any] = {}
    context: dict[str, Any] = {}
    format: OutputFormat | UnsetType = UNSET
    document: str | UnsetType = UNSET
