"""Seed 002's compose on the wire: the workflow, its validation, what each stage used, and
(execute mode) the run's result.

Why its own records rather than ``OrchestrateResult``'s open dicts: compose's answer is
documented field by field (``metadata.strategy`` says which provider each stage used and
which validators ran, MCP tools included), and ``execution`` is either ``/execute``'s result
or ``status: skipped`` with the reason, in one record (msgspec unions take one Struct).
"""

from __future__ import annotations

from typing import Any, Literal

from msgspec import UNSET, UnsetType

from switchboard.server.contract.approvals import HumanInputRequired
from switchboard.server.contract.common import Record
from switchboard.server.contract.providers import (
    ExecutionStep,
    OutputFormat,
    ResumeHelp,
    RollbackOutcome,
    WorkflowValidation,
)

ComposeMode = Literal["plan", "execute"]


class StageChoice(Record, kw_only=True):
    """The provider (and model) a stage used."""

    provider: str
    model: str | None = None


class ValidationChoice(Record, kw_only=True):
    """The reviewing provider, the built-in validators that ran and the MCP tools called."""

    provider: str
    validators: list[str] = []
    mcp_tools: list[str] = []


class ExecutionChoice(Record, kw_only=True):
    """The provider for agent steps naming none, and the runner."""

    provider: str
    model: str | None = None
    runner: str = "engine"


class ComposeStrategy(Record, kw_only=True):
    generation: StageChoice
    validation: ValidationChoice
    execution: ExecutionChoice


class ComposeMetadata(Record, kw_only=True):
    """What the generation recorded, the mode, and each stage's choice. ``generator`` is
    ``llm`` or ``builtin-deterministic`` (then ``notice`` says no model was called);
    ``attempts`` and ``usage`` (tokens) come from a model."""

    generated_at: str
    provider: str
    model: str
    mode: ComposeMode
    generator: str
    notice: str | UnsetType = UNSET
    attempts: int | UnsetType = UNSET
    usage: dict[str, int] | UnsetType = UNSET
    strategy: ComposeStrategy


ComposeExecutionStatus = Literal["success", "failed", "cancelled", "paused", "running",
                                 "skipped"]


class ComposeExecution(Record, kw_only=True):
    """Execute mode: ``/execute``'s result for the run (``ExecutionResult``'s fields), or
    ``{"status": "skipped", "reason": ...}`` when the workflow did not validate."""

    status: ComposeExecutionStatus
    reason: str | UnsetType = UNSET
    run_id: str | UnsetType = UNSET
    workflow: str | UnsetType = UNSET
    workflow_id: str | UnsetType = UNSET
    duration: float | UnsetType = UNSET
    outputs: dict[str, Any] | UnsetType = UNSET
    response: str | UnsetType | None = UNSET
    final_state: dict[str, Any] | UnsetType = UNSET
    error: str | UnsetType | None = UNSET
    cost_usd: float | UnsetType = UNSET
    steps: list[ExecutionStep] | UnsetType = UNSET
    human_input_required: HumanInputRequired | UnsetType | None = UNSET
    approval_id: str | UnsetType | None = UNSET
    resume: ResumeHelp | UnsetType = UNSET
    watch_url: str | UnsetType = UNSET
    rollback: RollbackOutcome | UnsetType = UNSET


class ComposeResult(Record, kw_only=True):
    """``POST /compose`` without streaming. ``validation`` unless ``include_validation``
    was false; ``format: yaml`` adds ``document``; ``execution`` in execute mode only."""

    mode: ComposeMode
    workflow: dict[str, Any]
    validation: WorkflowValidation | UnsetType = UNSET
    metadata: ComposeMetadata
    execution: ComposeExecution | UnsetType = UNSET
    format: OutputFormat | UnsetType = UNSET
    document: str | UnsetType = UNSET
