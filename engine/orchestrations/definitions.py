"""Orchestration definitions: the typed shape of a definition file.

Why msgspec Structs: definitions are decoded from TOML, YAML or JSON many times (every reload,
every inline ``/execute`` call) and handed to runs that may live for days; frozen Structs are
cheap to decode, cheap to share between concurrent runs and cannot be mutated by accident
while a run walks them. Parsing with precise error paths lives in ``loader``; cross-field
rules (targets, templates, cycles) live in ``validate``. This module only holds the shapes and
the few helpers an executor needs to walk a definition: ``first_step``, ``get_step``,
``next_step_id``, ``initial_state``.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from switchboard.engine.orchestrations.conditions import evaluate
from switchboard.engine.orchestrations.templates import render

END = "end"
"""Reserved goto/next target that finishes the run."""

StepType = Literal["agent", "task", "tool", "human"]
STEP_TYPES: tuple[str, ...] = ("agent", "task", "tool", "human")

StateType = Literal["string", "number", "integer", "boolean", "list", "object", "any"]
FieldType = Literal["text", "textarea", "select", "multiselect", "number", "boolean"]
FIELD_TYPES: tuple[str, ...] = ("text", "textarea", "select", "multiselect", "number", "boolean")

_TYPE_DEFAULTS: dict[str, Any] = {
    "string": "",
    "number": 0,
    "integer": 0,
    "boolean": False,
    "list": [],
    "object": {},
    "any": None,
}

# The state type a human field's answer has once it lands in shared state.
FIELD_STATE_TYPES: dict[str, str] = {
    "text": "string",
    "textarea": "string",
    "select": "string",
    "multiselect": "list",
    "number": "number",
    "boolean": "boolean",
}


class DefinitionProblem(msgspec.Struct, frozen=True, kw_only=True):
    """One thing wrong with a definition file, phrased for the person who wrote it.

    ``path`` points into the document (``steps[2].fields[0].type``); ``line`` is best effort
    (exact for YAML, the nearest key or table header for TOML).
    """

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path or '<document>'}: {self.message}"


class StateKey(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A typed key of shared state. ``default`` is used when a run starts."""

    type: StateType = "string"
    default: Any = None
    description: str = ""

    def initial(self) -> Any:
        """The value a new run starts with: the default, or the type's empty value."""
        if self.default is not None:
            return copy.deepcopy(self.default)
        return copy.deepcopy(_TYPE_DEFAULTS[self.type])


class Limits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Run-wide limits. ``timeout`` is in seconds. None means no limit.

    ``max_turns`` counts agent turns; executors also count one turn per non-agent step
    visit so that the limit bounds any loop (validation relies on this).
    """

    max_cost_usd: float | None = None
    max_turns: int | None = None
    timeout: float | None = None


class When(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A conditional branch: go to ``goto`` if ``condition`` holds on shared state."""

    condition: str
    goto: str


class Field(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A human-gate form field.

    ``options`` may be written as seed 000 shows (``"approve,reject"``) or as a list; use
    ``choices`` for the parsed list.
    """

    name: str
    type: FieldType = "text"
    label: str = ""
    required: bool = False
    options: str | list[str] | None = None
    min: float | None = None
    max: float | None = None
    default: Any = None
    placeholder: str = ""
    help: str = ""

    @property
    def choices(self) -> list[str]:
        """Options as a list, whichever way they were written."""
        if self.options is None:
            return []
        if isinstance(self.options, str):
            return [part.strip() for part in self.options.split(",") if part.strip()]
        return [str(option) for option in self.options]

    def payload(self) -> dict[str, Any]:
        """The field as seed 000's ``human_input_required.fields[]`` shows it.

        ``options`` keeps seed 000's comma form; ``choices`` carries the same list unambiguously.
        """
        out: dict[str, Any] = {
            "name": self.name, "type": self.type, "label": self.label or self.name,
        }
        if self.required:
            out["required"] = True
        if self.type in ("select", "multiselect"):
            out["options"] = ",".join(self.choices)
            out["choices"] = self.choices
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.default is not None:
            out["default"] = self.default
        if self.placeholder:
            out["placeholder"] = self.placeholder
        if self.help:
            out["help"] = self.help
        return out


class StepBase(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Fields every step has. Branching: ``when`` in order, then ``next``, then the next step
    in the list; ``"end"`` finishes the run."""

    id: str
    name: str = ""
    description: str = ""
    next: str | None = None
    when: list[When] = []

    @property
    def type(self) -> str:
        """The step type (``agent``, ``task``, ``tool``, ``human``): the struct's tag."""
        return str(self.__struct_config__.tag)

    @property
    def title(self) -> str:
        return self.name or self.id


class AgentStep(StepBase, tag="agent", frozen=True, forbid_unknown_fields=True):
    """An LLM tool-calling loop through a provider (None = the registry's default)."""

    prompt: str
    system_prompt: str = ""
    provider: str | None = None
    model: str | None = None
    tools: list[str] = []
    max_turns: int = 8
    temperature: float | None = None
    output_key: str | None = None


class TaskStep(StepBase, tag="task", frozen=True, forbid_unknown_fields=True):
    """Enqueue a task for an agent type and wait for its result.

    ``payload`` strings are templates; a string that is exactly ``{key}`` keeps the state
    value's type. A failed task fails the step unless ``on_failure`` names a step to go to.
    """

    task_type: str
    priority: str = "P2"
    payload: dict[str, Any] = {}
    result_key: str | None = None
    on_failure: str | None = None
    agent_id: str | None = None
    timeout_seconds: float | None = None
    max_attempts: int | None = None


class ToolStep(StepBase, tag="tool", frozen=True, forbid_unknown_fields=True):
    """Call a registered tool (or an allow-listed ``module:function``) with templated args."""

    tool: str
    args: dict[str, Any] = {}
    output_key: str | None = None
    timeout: float | None = None
    on_failure: str | None = None


class HumanStep(StepBase, tag="human", frozen=True, forbid_unknown_fields=True):
    """Pause for a person. Each field's answer lands in shared state under the field name.

    With ``timeout_seconds``, ``default_answer`` is applied when nobody answers in time (it
    is validated against the fields at load time); a gate that times out without a default
    answer fails the run. ``allowed_roles``/``allowed_users`` empty means anyone who may
    resume runs.
    """

    prompt: str
    fields: list[Field] = []
    agent_context: str = ""
    timeout_seconds: float | None = None
    default_answer: dict[str, Any] | str | None = None
    allowed_roles: list[str] = []
    allowed_users: list[str] = []
    # -- routing (issue 14): see engine.approval_routing --
    assignees: list[str] = []  # "user:alice", "role:admin": only they decide (and admins)
    delegates: list[str] = []  # whom an assignee may also hand the gate to
    quorum: int | None = None  # approvals from distinct people needed ([approvals.quorum])
    sla: str | float | None = None  # "30m": the gate's due time ([approvals.sla])
    on_timeout: str | None = None  # at the SLA breach: "escalate", "default", "reject"

    def input_required(self, state: Mapping[str, Any], run_id: str | None = None) -> dict[str, Any]:
        """Seed 000's ``human_input_required`` payload, with templates rendered."""
        out: dict[str, Any] = {
            "step_id": self.id,
            "prompt": render(self.prompt, state),
            "fields": [field.payload() for field in self.fields],
            "agent_context": render(self.agent_context, state),
        }
        if run_id is not None:
            out = {"run_id": run_id, **out}
        if self.timeout_seconds is not None:
            out["timeout_seconds"] = self.timeout_seconds
        return out


Step = AgentStep | TaskStep | ToolStep | HumanStep
STEP_CLASSES: dict[str, type[StepBase]] = {
    "agent": AgentStep,
    "task": TaskStep,
    "tool": ToolStep,
    "human": HumanStep,
}


class Orchestration(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A whole definition. ``version`` (a content hash) and ``source`` are set by the loader,
    never read from the file, so a running run can pin the exact version it started with."""

    id: str
    name: str = ""
    description: str = ""
    state_schema: dict[str, StateKey] = {}
    limits: Limits = msgspec.field(default_factory=Limits)
    steps: list[Step] = []
    response: str = ""
    version: str = ""
    source: str = ""

    # -- walking -------------------------------------------------------------------------

    def first_step(self) -> Step | None:
        """Where a run starts; None for an empty orchestration."""
        return self.steps[0] if self.steps else None

    def get_step(self, step_id: str) -> Step:
        """The step with this id. Raises KeyError (validation guarantees targets exist)."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def following_step_id(self, step: Step) -> str | None:
        """The step after ``step`` in list order, or None at the end (the implicit ``next``)."""
        for index, candidate in enumerate(self.steps):
            if candidate.id == step.id:
                return self.steps[index + 1].id if index + 1 < len(self.steps) else None
        raise KeyError(step.id)

    def next_step_id(self, step: Step, state: Mapping[str, Any]) -> str | None:
        """Where to go after ``step`` succeeded: first true ``when``, else ``next``, else the
        following step. None means the run is complete. Raises ConditionError if a
        condition cannot be evaluated on this state (e.g. comparing text with a number)."""
        for branch in step.when:
            if evaluate(branch.condition, state):
                return None if branch.goto == END else branch.goto
        if step.next is not None:
            return None if step.next == END else step.next
        return self.following_step_id(step)

    @staticmethod
    def failure_step_id(step: Step) -> str | None:
        """Where to go when ``step`` failed, if the definition says so (task and tool steps).

        Returns None when the failure should fail the run; ``END`` finishes it instead."""
        return getattr(step, "on_failure", None)

    # -- state ---------------------------------------------------------------------------

    def state_types(self) -> dict[str, str]:
        """Every key a run's state may hold: the schema plus human-gate field names."""
        types: dict[str, str] = {key: spec.type for key, spec in self.state_schema.items()}
        for step in self.steps:
            if isinstance(step, HumanStep):
                for field in step.fields:
                    types.setdefault(field.name, FIELD_STATE_TYPES.get(field.type, "any"))
        return types

    def initial_state(
        self, message: str | None = None, values: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A new run's shared state: schema defaults, then ``message`` in the first key (seed
        000: "typically maps to the first state key"), then explicit ``values``."""
        state = {key: spec.initial() for key, spec in self.state_schema.items()}
        if message is not None and self.state_schema:
            state[next(iter(self.state_schema))] = message
        if values:
            state.update(values)
        return state

    # -- presentation --------------------------------------------------------------------

    @property
    def title(self) -> str:
        return self.name or self.id

    def summary(self) -> dict[str, Any]:
        """Seed 000's list item: id, name, description, step count."""
        return {
            "id": self.id,
            "name": self.title,
            "description": self.description,
            "steps": len(self.steps),
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything, as plain JSON-able builtins (seed 000's detail endpoint)."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out

    def content_hash(self) -> str:
        """Hash of the definition's content, independent of formatting and of the file."""
        body = msgspec.json.encode(msgspec.structs.replace(self, version="", source=""))
        return hashlib.sha256(body).hexdigest()[:16]
