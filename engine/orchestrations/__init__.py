"""Orchestrations: definitions (files -> typed Structs), validation, hot reload, human-gate
answers. The durable run executor (``runs``) walks these definitions."""

from switchboard.engine.orchestrations.answers import FieldError, validate_answer
from switchboard.engine.orchestrations.conditions import ConditionError, evaluate, parse_condition
from switchboard.engine.orchestrations.definitions import (
    END,
    AgentStep,
    DefinitionProblem,
    Field,
    HumanStep,
    Limits,
    Orchestration,
    StateKey,
    Step,
    TaskStep,
    ToolStep,
    When,
)
from switchboard.engine.orchestrations.loader import (
    LoadResult,
    load_file,
    load_inline,
    load_mapping,
    load_text,
    validate_path,
)
from switchboard.engine.orchestrations.registry import DefinitionRegistry, ReloadResult
from switchboard.engine.orchestrations.templates import render, render_value, template_keys
from switchboard.engine.orchestrations.validate import ValidationContext

__all__ = [
    "END",
    "AgentStep",
    "ConditionError",
    "DefinitionProblem",
    "DefinitionRegistry",
    "Field",
    "FieldError",
    "HumanStep",
    "Limits",
    "LoadResult",
    "Orchestration",
    "ReloadResult",
    "StateKey",
    "Step",
    "TaskStep",
    "ToolStep",
    "ValidationContext",
    "When",
    "evaluate",
    "load_file",
    "load_inline",
    "load_mapping",
    "load_text",
    "parse_condition",
    "render",
    "render_value",
    "template_keys",
    "validate_answer",
    "validate_path",
]
