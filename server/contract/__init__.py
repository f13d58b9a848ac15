"""The wire contract: every record that crosses HTTP, SSE and WebSocket, as msgspec Structs.

Public face (import from here)::

    from switchboard.server.contract import Task, TaskStatus, Approval, GateField, ...

- vocabularies (``StrEnum``): TaskStatus, Priority, PriorityName, LogLevel, AgentStatus,
  HealthState, ServiceStatus, ApprovalStatus, ApprovalKind, TimeoutAction, RunStatus,
  StepStatus, StepType, FieldType;
- records and envelopes: tasks (``contract.tasks``), agents, approvals and gate forms,
  runs/steps/orchestrations/workflows (``contract.runs``), events, the operator views
  (``contract.views``), system (health, stats,
  metrics, tokens, audit), seed 002 (``contract.providers``, ``contract.compose``), the
  WebSocket's messages (``contract.ws``); errors (``ErrorDetail``) and ``Pagination``; SSE
  frames are described by ``EventFrame``, ``RunStreamFrame`` and ``providers.ExecutionFrame``;
- ``validate_answer``: the rules a gate answer must meet (``contract.gates``);
- ``parse_time``: wire time text -> aware datetime.

Who uses it: the server's handlers return these (built by ``server.convert`` from engine
records), the OpenAPI document's response schemas are generated from them, and the SDK
(``server.sdk``) decodes into them. This package imports neither the engine nor aiohttp,
so a client can install and use it alone. JSON field order and presence are exactly what
the seeds' clients read; fields typed ``... | UnsetType`` are sent only by some routes.
"""

from switchboard.server.contract.agents import (
    Agent,
    AgentConfiguration,
    AgentDeleted,
    AgentEnvelope,
    AgentHealth,
    AgentLoad,
    AgentMetrics,
    AgentPage,
)
from switchboard.server.contract.approvals import (
    ActionLink,
    Approval,
    ApprovalEnvelope,
    ApprovalHistory,
    ApprovalList,
    ApprovalVote,
    Decision,
    GateField,
    HumanInputRequired,
)
from switchboard.server.contract.common import ErrorDetail, Pagination, Record, Time, parse_time
from switchboard.server.contract.enums import (
    TERMINAL_RUN_STATUSES,
    TERMINAL_TASK_STATUSES,
    AgentStatus,
    ApprovalKind,
    ApprovalStatus,
    FieldType,
    HealthState,
    LogLevel,
    Priority,
    PriorityName,
    RunStatus,
    ServiceStatus,
    StepStatus,
    StepType,
    TaskStatus,
    TimeoutAction,
)
from switchboard.server.contract.events import Event, EventFrame, EventList, Published
from switchboard.server.contract.gates import FieldError, clean_value, validate_answer
from switchboard.server.contract.runs import (
    DefinitionProblem,
    DefinitionProblems,
    OrchestrationDetail,
    OrchestrationSummary,
    Run,
    RunPage,
    RunResult,
    RunStreamFrame,
    StepRecord,
    Workflow,
    WorkflowExecutionEnvelope,
    WorkflowPage,
)
from switchboard.server.contract.system import (
    AuditEntry,
    AuditPage,
    AuditVerification,
    Health,
    MetricsEnvelope,
    Revocation,
    Stats,
    Token,
)
from switchboard.server.contract.tasks import (
    ClaimedTask,
    Task,
    TaskEnvelope,
    TaskLeaseAck,
    TaskLog,
    TaskLogAck,
    TaskPage,
    TaskPriorityAck,
    TaskProgressAck,
    TaskStatusAck,
)
from switchboard.server.contract.views import (
    EventViewPage,
    IdMatches,
    OrchestrationInfo,
    OrchestrationInfoList,
    Overview,
    TaskViewPage,
)
from switchboard.server.contract.webhooks import (
    Delivery,
    DeliveryEnvelope,
    DeliveryPage,
    Webhook,
    WebhookList,
)

__all__ = [
    "TERMINAL_RUN_STATUSES",
    "TERMINAL_TASK_STATUSES",
    "ActionLink",
    "Agent",
    "AgentConfiguration",
    "AgentDeleted",
    "AgentEnvelope",
    "AgentHealth",
    "AgentLoad",
    "AgentMetrics",
    "AgentPage",
    "AgentStatus",
    "Approval",
    "ApprovalEnvelope",
    "ApprovalHistory",
    "ApprovalKind",
    "ApprovalList",
    "ApprovalStatus",
    "ApprovalVote",
    "AuditEntry",
    "AuditPage",
    "AuditVerification",
    "ClaimedTask",
    "Decision",
    "DefinitionProblem",
    "DefinitionProblems",
    "Delivery",
    "DeliveryEnvelope",
    "DeliveryPage",
    "ErrorDetail",
    "Event",
    "EventFrame",
    "EventList",
    "EventViewPage",
    "FieldError",
    "FieldType",
    "GateField",
    "Health",
    "HealthState",
    "HumanInputRequired",
    "IdMatches",
    "LogLevel",
    "MetricsEnvelope",
    "OrchestrationDetail",
    "OrchestrationInfo",
    "OrchestrationInfoList",
    "OrchestrationSummary",
    "Overview",
    "Pagination",
    "Priority",
    "PriorityName",
    "Published",
    "Record",
    "Revocation",
    "Run",
    "RunPage",
    "RunResult",
    "RunStatus",
    "RunStreamFrame",
    "ServiceStatus",
    "Stats",
    "StepRecord",
    "StepStatus",
    "StepType",
    "Task",
    "TaskEnvelope",
    "TaskLeaseAck",
    "TaskLog",
    "TaskLogAck",
    "TaskPage",
    "TaskPriorityAck",
    "TaskProgressAck",
    "TaskStatus",
    "TaskStatusAck",
    "TaskViewPage",
    "Time",
    "TimeoutAction",
    "Token",
    "Webhook",
    "WebhookList",
    "Workflow",
    "WorkflowExecutionEnvelope",
    "WorkflowPage",
    "clean_value",
    "parse_time",
    "validate_answer",
]
