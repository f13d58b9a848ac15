"""Orchestrations, runs and steps on the wire (seed 000), and seed 001's workflow view."""

from __future__ import annotations

from typing import Any, Literal

from msgspec import UNSET, UnsetType

from switchboard.server.contract.approvals import HumanInputRequired
from switchboard.server.contract.common import Pagination, Record, Time
from switchboard.server.contract.enums import (
    TERMINAL_RUN_STATUSES,
    RunStatus,
    StepStatus,
    StepType,
)


class _RunState:
    """Questions every run-shaped answer can be asked (``Run`` and ``RunResult``)."""

    __slots__ = ()
    status: RunStatus
    human_input_required: HumanInputRequired | UnsetType | None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES

    @property
    def paused(self) -> bool:
        return self.status == RunStatus.PAUSED

    @property
    def gate(self) -> HumanInputRequired | None:
        """The gate a paused run waits on, or None."""
        value = self.human_input_required
        return value if isinstance(value, HumanInputRequired) else None


class StepRecord(Record, kw_only=True):
    """One executed step of a run (seed 000's ``step_history`` entries); ``duration`` in
    seconds once the step finished."""

    step_id: str
    step_name: str | None = None
    type: StepType | None = None
    status: StepStatus | None = None
    turns: int = 0
    cost_usd: float = 0.0
    tokens: int = 0
    started_at: Time | None = None
    finished_at: Time | None = None
    duration: float | None = None
    output: Any = None
    error: str | None = None


class Run(Record, _RunState, kw_only=True):
    """A durable run. ``response`` (the final text) is sent once there is one;
    ``human_input_required`` while the run waits at a gate."""

    run_id: str
    orchestration_id: str | None = None
    orchestration_name: str | None = None
    status: RunStatus
    message: str | None = None
    shared_state: dict[str, Any] = {}
    step_history: list[StepRecord] = []
    current_step_id: str | None = None
    cost_usd: float = 0.0
    turns: int = 0
    error: str | None = None
    created_by: str | None = None
    created_at: Time | None = None
    updated_at: Time | None = None
    finished_at: Time | None = None
    approval_id: str | None = None
    response: str | UnsetType | None = UNSET
    human_input_required: HumanInputRequired | UnsetType | None = UNSET



class RunResult(Record, _RunState, kw_only=True):
    """The synchronous ``/run``, ``/resume``, ``/cancel`` and ``/retry`` answer, in seed
    000's shapes: completed (``response``, ``shared_state``, ``step_history``), paused
    (``human_input_required``, ``approval_id``), failed or cancelled (``response`` is the
    reason), or ``running`` past the wait bound."""

    status: RunStatus
    run_id: str
    response: str | UnsetType = UNSET
    shared_state: dict[str, Any] | UnsetType = UNSET
    step_history: list[StepRecord] | UnsetType = UNSET
    human_input_required: HumanInputRequired | UnsetType | None = UNSET
    approval_id: str | UnsetType | None = UNSET
    cost_usd: float = 0.0



class RunPage(Record, kw_only=True):
    data: list[Run]
    pagination: Pagination


class OrchestrationSummary(Record, kw_only=True):
    """Seed 000's list entry: ``steps`` is the number of steps."""

    id: str
    name: str
    description: str = ""
    steps: int = 0
    version: str = ""


class OrchestrationLimits(Record, kw_only=True):
    max_cost_usd: float | None = None
    max_turns: int | None = None
    timeout: float | None = None


class OrchestrationDetail(Record, kw_only=True):
    """A whole definition as loaded: every step (tagged by ``type``), the state schema,
    limits, the pinned ``version`` (a content hash) and the ``source`` file."""

    id: str
    name: str
    description: str = ""
    state_schema: dict[str, dict[str, Any]] = {}
    limits: OrchestrationLimits | None = None
    steps: list[dict[str, Any]] = []
    response: str = ""
    version: str = ""
    source: str = ""


class DefinitionProblem(Record, kw_only=True):
    """One thing wrong with a definition file; ``line`` is best effort."""

    file: str
    path: str
    message: str
    line: int | None = None


class DefinitionProblems(Record, kw_only=True):
    count: int
    problems: list[DefinitionProblem]


class WorkflowStep(Record, kw_only=True):
    id: str
    name: str
    type: StepType
    agent_type: str | None = None
    order: int = 0


class Workflow(Record, kw_only=True):
    """Seed 001's workflow: an orchestration, ``error`` when its file is broken."""

    id: str
    name: str
    description: str = ""
    status: Literal["active", "error"] = "active"
    version: str = ""
    steps: list[WorkflowStep] = []
    created_at: Time | None = None


class WorkflowPage(Record, kw_only=True):
    data: list[Workflow]
    pagination: Pagination


class WorkflowExecution(Record, kw_only=True):
    run_id: str
    execution_id: str
    workflow_id: str
    status: RunStatus
    created_at: Time | None = None


class WorkflowExecutionEnvelope(Record, kw_only=True):
    data: WorkflowExecution


RunStreamEventName = Literal[
    "step_start", "step_complete", "agent_turn", "tool_execution", "tool_result",
    "human_input_required", "orchestration_complete", "orchestration_error", "done"]


class RunStreamFrame(Record, kw_only=True):
    """One Server-Sent Event of a run stream (seed 000's names): ``id`` is the event seq to
    resume after (``Last-Event-ID``), ``data`` the event's JSON (every one carries
    ``run_id``; ``done`` ends the stream with the run's ``status``)."""

    event: RunStreamEventName
    id: str | None = None
    data: dict[str, Any] = {}
