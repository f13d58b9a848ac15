"""Engine record -> wire record: the one conversion per kind of record.

Why one module: the API shape of a task, an agent, an approval... used to be written in
several places (the engine's ``as_dict``, each resource's dict building, the client's
models). Handlers, the SSE/WS streams and the in-process console backend all call these
functions, so each shape is built once, as a typed ``server.contract`` Struct.

Rules kept here, exactly as the seeds' clients have always read them: times are the
engine's ``iso()`` text; derived fields (``duration``, ``estimated_completion``, an agent's
``health`` and ``metrics``) are computed from the record and ``now``; values are passed
through untouched (never coerced: an int stays an int on the wire). ``tests/server/
test_contract_wire.py`` asserts the JSON is byte-identical to the engine's ``as_dict``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from switchboard.engine import models, views
from switchboard.engine.audit import AuditEntry as EngineAuditEntry
from switchboard.engine.clock import iso
from switchboard.engine.orchestrations.definitions import DefinitionProblem as EngineProblem
from switchboard.engine.orchestrations.definitions import Orchestration
from switchboard.server import contract as c
from switchboard.server.contract import providers as p
from switchboard.server.contract import runs as r
from switchboard.server.contract import system as s

# -- tasks ------------------------------------------------------------------------------------


def task_log(log: models.TaskLog) -> c.TaskLog:
    return c.TaskLog(timestamp=iso(log.timestamp), level=c.LogLevel(log.level),
                     message=log.message)


def task(record: models.Task, now: float | None, *, with_logs: bool = True,
         lease: bool = False) -> c.Task:
    """The API task. ``now`` feeds ``estimated_completion`` (None leaves it out of the
    estimate); ``with_logs`` for single-task reads; ``lease`` adds ``lease_id`` (claims)."""
    estimate = record.estimated_completion(now) if now else None
    return c.Task(
        id=record.id, task_id=record.id, type=record.type,
        status=c.TaskStatus(record.status), priority=c.Priority(record.priority),
        assigned_agent=record.assigned_agent, agent_id=record.agent_id or record.claimed_by,
        claimed_by=record.claimed_by, payload=record.payload, source=record.source,
        sla_target=record.sla_target, metadata=record.metadata, progress=record.progress,
        result=record.result, error=record.error, attempts=record.attempts,
        max_attempts=record.max_attempts, idempotency_key=record.idempotency_key,
        schedule=record.schedule, approval_id=record.approval_id, run_id=record.run_id,
        step_id=record.step_id, sla_breached=record.sla_breached,
        lease_expires_at=iso(record.lease_expires_at), created_at=iso(record.created_at),
        updated_at=iso(record.updated_at), started_at=iso(record.started_at),
        completed_at=iso(record.completed_at), created_by=record.created_by,
        duration=record.duration, estimated_completion=iso(estimate),
        logs=[task_log(line) for line in record.logs] if with_logs else UNSET,
        priority_name=_priority_name(record.priority),
        lease_id=record.lease_id if lease else UNSET,
    )


def _priority_name(priority: str) -> c.PriorityName | None:
    name = models.PRIORITY_NAMES.get(priority)
    return c.PriorityName(name) if name is not None else None


# -- agents -----------------------------------------------------------------------------------


def agent(record: models.Agent, now: float, *,
          heartbeat_interval: float | UnsetType = UNSET,
          lease_seconds: float | UnsetType = UNSET) -> c.Agent:
    """Seed 001's agent detail; a registration adds the server's heartbeat interval and
    lease length, a heartbeat the interval."""
    return c.Agent(
        id=record.id, name=record.name, type=record.type,
        status=c.AgentStatus(record.status), environment=record.environment, owner=record.owner,
        configuration=c.AgentConfiguration(max_concurrent_tasks=record.max_concurrent_tasks,
                                           timeout=record.timeout,
                                           retry_attempts=record.retry_attempts),
        health=c.AgentHealth(status=c.HealthState(record.health),
                             last_check=iso(record.last_heartbeat), uptime=record.uptime(now)),
        load=c.AgentLoad(running=record.running, max=record.max_concurrent_tasks),
        metrics=c.AgentMetrics(tasks_completed=record.tasks_completed,
                               tasks_failed=record.tasks_failed,
                               success_rate=record.success_rate,
                               avg_response_time=record.avg_response_time,
                               memory_usage=record.memory_usage, cpu_usage=record.cpu_usage),
        created_at=iso(record.created_at), updated_at=iso(record.updated_at),
        heartbeat_interval=heartbeat_interval, lease_seconds=lease_seconds,
    )


# -- approvals and gates ----------------------------------------------------------------------

_GATE_KEYS = frozenset(c.GateField.__struct_fields__) - {"choice_list"} | {"choices"}


def gate_field(spec: Mapping[str, Any]) -> c.GateField:
    """A stored gate field (``engine...Field.payload()``) as the wire's GateField; keys that
    were not stored stay unset, so they stay absent from the JSON."""
    values = {("choice_list" if key == "choices" else key): value
              for key, value in spec.items() if key in _GATE_KEYS}
    return c.GateField(**values)


def human_input(payload: Mapping[str, Any] | None) -> c.HumanInputRequired | None:
    """A run's ``human_input_required`` (seed 000) with typed fields."""
    if payload is None:
        return None
    return c.HumanInputRequired(
        run_id=payload.get("run_id", UNSET), step_id=payload.get("step_id"),
        prompt=payload.get("prompt", ""),
        fields=[gate_field(f) for f in payload.get("fields") or () if isinstance(f, Mapping)],
        agent_context=payload.get("agent_context"),
        timeout_seconds=payload.get("timeout_seconds", UNSET),
        approval_id=payload.get("approval_id", UNSET))


def approval(record: models.Approval) -> c.Approval:
    """Seed 003's approval plus the gate form."""
    approved = record.status == "approved"
    return c.Approval(
        approval_id=record.approval_id, kind=c.ApprovalKind(record.kind),
        task_id=record.task_id, run_id=record.run_id, step_id=record.step_id,
        priority=c.Priority(record.priority),
        reason=record.reason if record.status != "rejected" else record.rejection_reason,
        request_reason=record.reason, prompt=record.prompt,
        fields=[gate_field(f) for f in record.fields if isinstance(f, Mapping)],
        agent_context=record.agent_context,
        status=c.ApprovalStatus(record.status),
        created_at=iso(record.created_at), expires_at=iso(record.expires_at),
        timeout_action=c.TimeoutAction(record.timeout_action),
        allowed_roles=record.allowed_roles,
        approved_by=record.decided_by if approved else None,
        approved_at=iso(record.decided_at) if approved else None,
        decided_by=record.decided_by, decided_at=iso(record.decided_at),
        response=record.response, rejection_reason=record.rejection_reason,
        requested_by=record.requested_by, break_glass=record.break_glass,
        assignees=record.assignees, delegates=record.delegates, quorum=record.quorum,
        approvals_count=record.approvals_count, rejections_count=record.rejections_count,
        progress=record.progress,
        votes=[c.ApprovalVote(by=v["by"], role=v.get("role", ""), decision=v["decision"],
                              at=iso(v.get("at")), response=v.get("response"),
                              break_glass=bool(v.get("break_glass")))
               for v in record.votes],
        sla_seconds=record.sla_seconds, due_at=iso(record.due_at), overdue=record.overdue,
        on_timeout=record.on_timeout, escalations=record.escalations,
    )


# -- events -----------------------------------------------------------------------------------


def event(record: models.Event) -> c.Event:
    return c.Event(seq=record.seq, event_type=record.event_type,
                   source_agent=record.source_agent, payload=record.payload,
                   task_id=record.task_id, run_id=record.run_id, agent_id=record.agent_id,
                   trace_id=record.trace_id,
                   priority=c.Priority(record.priority) if record.priority else None,
                   timestamp=iso(record.timestamp))


# -- runs and orchestrations ------------------------------------------------------------------


def step(record: models.StepRecord) -> c.StepRecord:
    duration = (None if record.started_at is None or record.finished_at is None
                else round(record.finished_at - record.started_at, 3))
    return c.StepRecord(
        step_id=record.step_id, step_name=record.step_name,
        type=c.StepType(record.type), status=c.StepStatus(record.status),
        turns=record.turns, cost_usd=round(record.cost_usd, 6), tokens=record.tokens,
        started_at=iso(record.started_at), finished_at=iso(record.finished_at),
        duration=duration, output=record.output, error=record.error)


def run(record: models.Run) -> c.Run:
    """Seed 000's run plus bookkeeping; ``response`` and the gate only when there are."""
    return c.Run(
        run_id=record.run_id, orchestration_id=record.orchestration_id,
        orchestration_name=record.orchestration_name,
        status=c.RunStatus(record.status), message=record.message, shared_state=record.shared_state,
        step_history=[step(s) for s in record.step_history],
        current_step_id=record.current_step_id, cost_usd=round(record.cost_usd, 6),
        turns=record.turns, error=record.error, created_by=record.created_by,
        created_at=iso(record.created_at), updated_at=iso(record.updated_at),
        finished_at=iso(record.finished_at), approval_id=record.approval_id,
        response=record.response if record.response is not None else UNSET,
        human_input_required=(human_input(record.human_input_required)
                              if record.human_input_required is not None else UNSET))


def run_result(record: models.Run) -> c.RunResult:
    """The synchronous run/resume answer in seed 000's three shapes (plus ``running``)."""
    out = c.RunResult(status=c.RunStatus(record.status), run_id=record.run_id,
                      cost_usd=round(record.cost_usd, 6))
    if record.status == "completed":
        out.response = record.response or ""
        out.shared_state = record.shared_state
        out.step_history = [step(s) for s in record.step_history]
    elif record.status == "paused":
        out.human_input_required = human_input(record.human_input_required)
        out.approval_id = record.approval_id
    elif record.status in ("failed", "cancelled"):
        out.response = record.error or record.response or record.status
    return out


def orchestration_summary(orch: Orchestration) -> c.OrchestrationSummary:
    """Seed 000's list entry (``steps`` is the count)."""
    return c.OrchestrationSummary(id=orch.id, name=orch.title, description=orch.description,
                                  steps=len(orch.steps), version=orch.version)


def orchestration_detail(orch: Orchestration) -> c.OrchestrationDetail:
    """Every field of the definition; steps as the loader holds them (tagged by type)."""
    data = msgspec.to_builtins(orch)
    limits = data.get("limits")
    return c.OrchestrationDetail(
        id=data["id"], name=orch.title, description=data["description"],
        state_schema=data["state_schema"],
        limits=r.OrchestrationLimits(**limits) if isinstance(limits, dict) else None,
        steps=data["steps"], response=data["response"], version=data["version"],
        source=file_name(data["source"]))


def file_name(path: str) -> str:
    """A definition file as the API names it, never by its absolute path on the server:
    relative to the server's working folder when it lies below it (``orchestrations/
    deploy.toml``, as the console shows it), else its file name (``deploy.toml``)."""
    if not path:
        return ""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        relative = ""
    if not relative or relative.startswith("..") or os.path.isabs(relative):
        return PurePath(path).name
    return relative


def problem(record: EngineProblem) -> c.DefinitionProblem:
    return c.DefinitionProblem(file=file_name(record.file), path=record.path,
                               message=record.message, line=record.line)


def workflow(orch: Orchestration, broken: bool, loaded_at: float | None) -> c.Workflow:
    """Seed 001's workflow view of an orchestration."""
    steps = []
    for order, item in enumerate(orch.steps, start=1):
        agent_type = getattr(item, "task_type", None) or getattr(item, "provider", None)
        steps.append(r.WorkflowStep(id=item.id, name=item.title,
                                         type=c.StepType(item.type),
                                         agent_type=agent_type, order=order))
    return c.Workflow(id=orch.id, name=orch.title, description=orch.description,
                      status="error" if broken else "active", version=orch.version,
                      steps=steps, created_at=iso(loaded_at))


# -- system -----------------------------------------------------------------------------------


def health(data: Mapping[str, Any]) -> c.Health:
    """``engine.stats.health()`` as the wire record."""
    services = data["services"]
    return c.Health(
        status=data["status"], reason=data.get("reason", UNSET), timestamp=data["timestamp"],
        services=s.Services(database=s.DatabaseService(**services["database"]),
                            message_queue=s.QueueService(**services["message_queue"])),
        queue_stats=s.QueueStats(**data["queue_stats"]),
        metrics=s.SystemMetrics(**data["metrics"]))


def stats(data: Mapping[str, Any]) -> c.Stats:
    queue = dict(data["queue"])
    queue["by_priority"] = {key: s.PriorityLoad(**value)
                            for key, value in queue.get("by_priority", {}).items()}
    figures = data.get("approvals")
    approvals = s.ApprovalFigures(
        pending_by_priority=figures["pending_by_priority"], overdue=figures["overdue"],
        decision_latency={key: s.DecisionLatency(**value)
                          for key, value in figures["decision_latency"].items()},
    ) if figures else msgspec.UNSET
    return c.Stats(queue=s.Queue(**queue), timestamp=data["timestamp"], approvals=approvals)


def metrics(data: Mapping[str, Any]) -> c.MetricsEnvelope:
    series = {name: [s.MetricPoint(**point) for point in points]
              for name, points in data["metrics"].items()}
    return c.MetricsEnvelope(data=s.MetricSeries(period=data["period"],
                                                 bucket_seconds=data["bucket_seconds"],
                                                 metrics=series))


def audit_entry(entry: EngineAuditEntry) -> c.AuditEntry:
    row = entry.as_dict()  # before/after are stored as JSON text; as_dict decodes them
    return c.AuditEntry(**row)


# -- seed 002 ---------------------------------------------------------------------------------


def validation(data: Any) -> p.WorkflowValidation:
    """A workflow's validation block, from the engine's ``Validation`` or its stored dict."""
    if not isinstance(data, Mapping):
        data = data.as_dict()
    return p.WorkflowValidation(
        valid=data["valid"],
        issues=[p.ValidationIssue(path=i["path"], message=i["message"])
                for i in data.get("issues", ())],
        suggestions=list(data.get("suggestions", ())))


def template(data: Mapping[str, Any]) -> p.Template:
    """A catalog template (``WorkflowTemplate.summary()``)."""
    return p.Template(
        id=data["id"], name=data["name"], description=data["description"],
        category=data["category"], tags=data["tags"],
        parameters=[p.TemplateParameter(**param) for param in data["parameters"]])


def session_turn(data: Mapping[str, Any]) -> p.SessionTurn:
    value = data.get("validation")
    return p.SessionTurn(turn=data["turn"], action=data["action"], input=data["input"],
                         workflow=data["workflow"],
                         validation=validation(value) if value is not None else None,
                         metadata=data["metadata"], created_at=data["created_at"])


def session(record: Any, *, history: bool = True) -> p.Session:
    """A workflow-development session (``history``: every turn, for single reads)."""
    data = record.as_dict(history=history)
    return p.Session(
        session_id=data["session_id"], created_at=data["created_at"],
        updated_at=data["updated_at"], context=data["context"],
        preferences=data["preferences"], workflow=data["workflow"], turns=data["turns"],
        created_by=data["created_by"],
        history=[session_turn(t) for t in data["history"]] if history else UNSET)


# -- operator views ---------------------------------------------------------------------------


def overview(view: views.Overview) -> c.Overview:
    return c.Overview(
        at=iso(view.at) or "", last_seq=view.last_seq, tasks_by_status=view.tasks_by_status,
        tasks_by_priority={key: s.PriorityLoad(waiting=load.waiting, processing=load.processing)
                           for key, load in view.tasks_by_priority.items()},
        total_tasks=view.total_tasks, approvals_waiting=view.approvals_waiting,
        approvals_by_priority=view.approvals_by_priority,
        agents_by_health=view.agents_by_health, agents_total=view.agents_total,
        runs_by_status=view.runs_by_status, throughput=view.throughput, created=view.created,
        failed=view.failed)


def task_view_page(page: views.TaskPage, now: float | None) -> c.TaskViewPage:
    return c.TaskViewPage(tasks=[task(t, now, with_logs=False) for t in page.tasks],
                          total=page.total, by_status=page.by_status, offset=page.offset,
                          limit=page.limit, last_seq=page.last_seq)


def event_view_page(page: views.EventPage) -> c.EventViewPage:
    return c.EventViewPage(events=[event(e) for e in page.events], before=page.before)


def orchestration_info(info: views.OrchestrationInfo) -> c.OrchestrationInfo:
    return c.OrchestrationInfo(id=info.id, name=info.name, description=info.description,
                               steps=info.steps, source=info.source, version=info.version,
                               problems=list(info.problems))


def id_matches(found: views.IdMatches) -> c.IdMatches:
    return c.IdMatches(kind=found.kind, text=found.text, ids=found.ids, more=found.more)
