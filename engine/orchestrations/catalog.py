"""Seed 002's workflow templates: parameterised workflows to start from.

Why templates are code and not definition files: a template's shape depends on its
parameters (no approval gate when ``require_approval`` is false, an HTTP health check only
when there is a URL to check), which a static file cannot express without branching at run
time. Each template declares typed parameters; ``instantiate`` checks the values (types,
choices, ranges, required, unknown names — each error names ``parameters.<name>``), builds
the workflow and validates it with the same loader as every other workflow. Parameter
values also become ``state_schema`` defaults, so ``/execute`` may still override them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from switchboard.engine.errors import NotFound, ValidationFailed
from switchboard.engine.orchestrations.generate import Validation, validate_workflow
from switchboard.engine.orchestrations.validate import ValidationContext

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
}


@dataclass(frozen=True)
class TemplateParameter:
    """One declared parameter of a template."""

    name: str
    type: str
    description: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type,
                               "description": self.description, "required": self.required}
        if not self.required:
            out["default"] = self.default
        if self.choices:
            out["enum"] = list(self.choices)
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable, or None."""
        if not _TYPES[self.type](value):
            return f"expected {self.type}, got {type(value).__name__}"
        if self.choices and value not in self.choices:
            return f"must be one of: {', '.join(self.choices)}"
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {self.minimum:g}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {self.maximum:g}"
        if self.type == "string" and self.required and not value.strip():
            return "must not be empty"
        return None


Builder = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class WorkflowTemplate:
    """A named workflow recipe: parameters in, a workflow document out."""

    id: str
    name: str
    description: str
    category: str
    parameters: tuple[TemplateParameter, ...]
    build: Builder
    tags: tuple[str, ...] = field(default=())

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description,
                "category": self.category, "tags": list(self.tags),
                "parameters": [p.as_dict() for p in self.parameters]}

    def resolve(self, values: Mapping[str, Any] | None) -> dict[str, Any]:
        """Declared defaults plus ``values``, checked. Raises ValidationFailed naming the
        first bad parameter (all problems are listed in the message)."""
        given = dict(values or {})
        declared = {p.name: p for p in self.parameters}
        problems: list[tuple[str, str]] = []
        for name in given:
            if name not in declared:
                problems.append((name, f"unknown parameter; expected one of: "
                                       f"{', '.join(declared)}"))
        resolved: dict[str, Any] = {}
        for param in self.parameters:
            if param.name in given:
                reason = param.check(given[param.name])
                if reason:
                    problems.append((param.name, reason))
                resolved[param.name] = given[param.name]
            elif param.required:
                problems.append((param.name, "required parameter is missing"))
            else:
                resolved[param.name] = param.default
        if problems:
            field_name = f"parameters.{problems[0][0]}"
            detail = "; ".join(f"parameters.{n}: {m}" for n, m in problems)
            raise ValidationFailed(field_name, detail.removeprefix(f"{field_name}: "))
        return resolved


def _schema(values: Mapping[str, Any], types: Mapping[str, str],
            outputs: tuple[str, ...]) -> dict[str, Any]:
    schema: dict[str, Any] = {name: {"type": types[name], "default": value}
                              for name, value in values.items()}
    for key in outputs:
        schema[key] = {"type": "string"}
    return schema


def _types(template_params: tuple[TemplateParameter, ...]) -> dict[str, str]:
    return {p.name: p.type for p in template_params}


# -- deploy-to-kubernetes -----------------------------------------------------------------

DEPLOY_PARAMS = (
    TemplateParameter("app", "string", "Application (deployment) name", required=True),
    TemplateParameter("image", "string", "Container image with tag, e.g. registry/app:v1.2.3",
                      required=True),
    TemplateParameter("namespace", "string", "Kubernetes namespace", default="default"),
    TemplateParameter("environment", "string", "Target environment", default="staging",
                      choices=("development", "staging", "production")),
    TemplateParameter("replicas", "integer", "Desired replica count", default=2, minimum=1,
                      maximum=100),
    TemplateParameter("require_approval", "boolean", "Ask a person before deploying",
                      default=True),
    TemplateParameter("health_url", "string", "URL that answers 2xx when healthy (empty: an "
                      "agent plans the checks instead)", default=""),
    TemplateParameter("deploy_via", "string", "'agent' plans the rollout through the "
                      "provider; 'task' hands a deployment task to an ops_agent worker",
                      default="agent", choices=("agent", "task")),
)


def _deploy(values: dict[str, Any]) -> dict[str, Any]:
    lines = ("Topic: deploy {app} ({image})\nNamespace: {namespace}\nEnvironment: "
             "{environment}\nReplicas: {replicas}")
    steps: list[dict[str, Any]] = [{
        "id": "plan", "name": "Plan the rollout", "type": "agent",
        "system_prompt": "You are a deployment planner. Plan the rollout.",
        "prompt": lines, "tools": ["current_time"], "output_key": "plan", "max_turns": 4}]
    if values["require_approval"]:
        steps.append({
            "id": "approve", "name": "Approve the deployment", "type": "human",
            "prompt": "Deploy {app} ({image}) to {namespace} in {environment}?",
            "agent_context": "{plan}",
            "fields": [{"name": "confirm", "type": "boolean", "label": "Deploy now",
                        "required": True},
                       {"name": "replicas", "type": "number", "label": "Replicas", "min": 1,
                        "max": 100, "default": values["replicas"]}],
            "when": [{"condition": "confirm == false", "goto": "end"}]})
    if values["deploy_via"] == "task":
        steps.append({"id": "deploy", "name": "Deploy", "type": "task",
                      "task_type": "deployment", "priority": "P2",
                      "payload": {"app": "{app}", "image": "{image}", "namespace": "{namespace}",
                                  "replicas": "{replicas}", "environment": "{environment}"},
                      "result_key": "deployment", "on_failure": "rollback"})
    else:
        steps.append({"id": "deploy", "name": "Deploy", "type": "agent",
                      "system_prompt": "You are a deployment agent. Roll out the release as "
                                       "planned.",
                      "prompt": lines + "\nPlan: {plan}", "output_key": "deployment",
                      "max_turns": 4})
    if values["health_url"]:
        steps.append({"id": "verify", "name": "Health check", "type": "tool", "tool": "http",
                      "parameters": {"method": "GET", "url": "{health_url}"},
                      "on_failure": "rollback"})
    else:
        steps.append({"id": "verify", "name": "Plan health checks", "type": "agent",
                      "system_prompt": "You are an operations engineer. Plan the health "
                                       "checks and readiness probes for the release.",
                      "prompt": lines, "tools": ["current_time"], "max_turns": 4})
    steps.append({"id": "announce", "name": "Announce", "type": "tool", "tool": "notify",
                  "parameters": {"channel": "deployments", "message": "Deployed {app} ({image}) "
                                 "to {namespace}: {replicas} replicas"},
                  "next": "end"})
    steps.append({"id": "rollback", "name": "Roll back", "type": "agent",
                  "description": "Reached only when the deploy or the health check fails.",
                  "system_prompt": "You are a deployment agent. Plan the rollback of the "
                                   "release to the last good version.",
                  "prompt": lines + "\nRoll back the release.", "max_turns": 4, "next": "end"})
    outputs = ("plan", "deployment") if values["deploy_via"] == "agent" else ("plan",)
    schema = _schema(values, _types(DEPLOY_PARAMS), outputs)
    if values["deploy_via"] == "task":
        schema["deployment"] = {"type": "object"}
    return {"name": f"deploy-{values['app']}", "description": (
        f"Deploy {values['app']} ({values['image']}) to namespace {values['namespace']} "
        f"({values['environment']})"), "state_schema": schema,
        "limits": {"max_turns": 60}, "steps": steps}


# -- incident-triage ----------------------------------------------------------------------

INCIDENT_PARAMS = (
    TemplateParameter("service", "string", "The affected service", required=True),
    TemplateParameter("symptom", "string", "What is observed", default="elevated error rate"),
    TemplateParameter("severity", "string", "Initial severity", default="P1",
                      choices=("P0", "P1", "P2", "P3")),
    TemplateParameter("channel", "string", "Channel to notify", default="incidents"),
    TemplateParameter("acknowledge", "boolean", "Wait for an on-call person to choose the "
                      "next action", default=True),
)


def _incident(values: dict[str, Any]) -> dict[str, Any]:
    lines = "Topic: incident on {service}: {symptom}\nSeverity: {severity}"
    steps: list[dict[str, Any]] = [
        {"id": "triage", "name": "Triage", "type": "agent",
         "system_prompt": "You are an incident triage agent.", "prompt": lines,
         "tools": ["current_time", "web_search"], "output_key": "triage", "max_turns": 4},
        {"id": "notify", "name": "Notify on-call", "type": "tool", "tool": "notify",
         "parameters": {"channel": "{channel}",
                        "message": "[{severity}] {service}: {symptom}"}},
    ]
    if values["acknowledge"]:
        steps.append({"id": "acknowledge", "name": "On-call decision", "type": "human",
                      "prompt": "Incident on {service} ({severity}): choose the next action.",
                      "agent_context": "{triage}", "allowed_roles": ["agent", "admin"],
                      "fields": [{"name": "action", "type": "select", "label": "Action",
                                  "options": "mitigate,escalate,monitor", "required": True},
                                 {"name": "notes", "type": "textarea", "label": "Notes"}]})
    steps.append({"id": "mitigate", "name": "Mitigation plan", "type": "agent",
                  "system_prompt": "You are an incident triage agent. Plan the mitigation.",
                  "prompt": lines + "\nTriage: {triage}", "output_key": "mitigation",
                  "max_turns": 4})
    steps.append({"id": "postmortem", "name": "Post-mortem", "type": "agent",
                  "system_prompt": "You write the post-mortem of an incident.",
                  "prompt": lines + "\nTriage: {triage}\nMitigation: {mitigation}",
                  "tools": ["current_time"], "output_key": "postmortem", "max_turns": 4})
    return {"name": f"incident-{values['service']}",
            "description": f"Triage {values['symptom']} on {values['service']}",
            "state_schema": _schema(values, _types(INCIDENT_PARAMS),
                                    ("triage", "mitigation", "postmortem")),
            "limits": {"max_turns": 40}, "steps": steps}


# -- research-report ----------------------------------------------------------------------

RESEARCH_PARAMS = (
    TemplateParameter("topic", "string", "What to research", required=True),
    TemplateParameter("audience", "string", "Who the report is for",
                      default="engineering leadership"),
    TemplateParameter("review", "boolean", "An editor approves the draft", default=True),
    TemplateParameter("publish", "boolean", "Publish the approved report (simulated tool)",
                      default=False),
)


def _research(values: dict[str, Any]) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"id": "research", "name": "Research", "type": "agent",
         "system_prompt": "You are a research analyst. Research the topic.",
         "prompt": "Topic: {topic}\nAudience: {audience}", "tools": ["web_search"],
         "output_key": "research", "max_turns": 4},
        {"id": "write", "name": "Write the report", "type": "agent",
         "system_prompt": "You are a technical writer. Write the report.",
         "prompt": "Topic: {topic}\nAudience: {audience}\nResearch: {research}",
         "tools": ["word_count"], "output_key": "report", "max_turns": 4},
    ]
    if values["review"]:
        steps.append({"id": "review", "name": "Editorial review", "type": "human",
                      "prompt": "Publish the report on {topic}?", "agent_context": "{report}",
                      "fields": [{"name": "decision", "type": "select", "label": "Decision",
                                  "options": "approve,reject", "required": True},
                                 {"name": "notes", "type": "textarea", "label": "Notes"}],
                      "when": [{"condition": "decision == 'reject'", "goto": "end"}]})
    if values["publish"]:
        steps.append({"id": "publish", "name": "Publish", "type": "tool", "tool": "publish",
                      "parameters": {"title": "{topic}", "body": "{report}"}})
    return {"name": f"research-{values['topic']}"[:80],
            "description": f"Research {values['topic']} and write a report for "
                           f"{values['audience']}",
            "state_schema": _schema(values, _types(RESEARCH_PARAMS), ("research", "report")),
            "limits": {"max_turns": 30}, "response": "{report}", "steps": steps}


TEMPLATES: tuple[WorkflowTemplate, ...] = (
    WorkflowTemplate("deploy-to-kubernetes", "Deploy to Kubernetes",
                     "Plan, approve, deploy, health-check and announce a release; roll back "
                     "when the deploy or the health check fails.", "deployment",
                     DEPLOY_PARAMS, _deploy, ("kubernetes", "deployment", "approval")),
    WorkflowTemplate("incident-triage", "Incident triage",
                     "Triage an incident, notify on-call, let a person choose the action, "
                     "plan mitigation and write the post-mortem.", "operations",
                     INCIDENT_PARAMS, _incident, ("incident", "on-call")),
    WorkflowTemplate("research-report", "Research report",
                     "Research a topic, write a report, have an editor approve it and "
                     "optionally publish it.", "content", RESEARCH_PARAMS, _research,
                     ("research", "report")),
)


class TemplateCatalog:
    """The templates a server offers."""

    def __init__(self, templates: tuple[WorkflowTemplate, ...] = TEMPLATES) -> None:
        self._templates = {t.id: t for t in templates}

    def list(self) -> list[WorkflowTemplate]:
        return list(self._templates.values())

    def get(self, template_id: str) -> WorkflowTemplate:
        template = self._templates.get(template_id)
        if template is None:
            raise NotFound(f"template {template_id!r} not found; available: "
                           f"{', '.join(self._templates)}")
        return template

    def instantiate(self, template_id: str, values: Mapping[str, Any] | None,
                    context: ValidationContext) -> tuple[dict[str, Any], dict[str, Any],
                                                         Validation]:
        """(workflow, resolved parameters, validation) for ``template_id``."""
        template = self.get(template_id)
        resolved = template.resolve(values)
        workflow = template.build(resolved)
        _, validation = validate_workflow(workflow, context)
        return workflow, resolved, validation
