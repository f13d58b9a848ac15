"""The builtin provider's workflow planner: seed 002's generate and refine, offline.

Why rules instead of a model: the demo, the tests and a laptop without an API key must be
able to turn "Deploy microservices with monitoring and logging" into a workflow that
validates and runs, and give the same answer every time. The planner spots aspects in the
text (deploy, monitoring, logging, health checks, approval, rollback, research, incident,
report, notify...), orders them by phase and emits tool, agent and human steps that use
only registered tools. It is not intelligent and says so: every workflow it writes carries
``GENERATOR_LABEL`` in its description, and its agent steps run on whatever provider the
run uses (the builtin provider's replies are labelled too).

Refinement applies the same aspect rules to each requirement (and to ``previous_errors``),
inserts the new steps where they belong (an approval before the first deploy step, health
checks after the last one, a rollback reached through ``on_failure``), and never adds an
aspect twice, so refining again with the same requirements changes nothing. Tool steps
naming an unregistered tool (a model's ``kubectl``) become agent steps that describe the
intended action, because they could not run at all otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from switchboard.engine.orchestrations.loader import state_type

GENERATOR_LABEL = "[builtin offline generator: deterministic rules, no language model was called]"

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_CONTEXT_KEYS = 12
MAX_SERVICES = 10
DEPLOYISH = re.compile(r"deploy|release|roll_?out|apply|install|provision|upgrade|publish")
URL_KEYS = ("health_url", "healthcheck_url", "url", "endpoint", "base_url")


@dataclass(frozen=True)
class Aspect:
    """A recognisable part of a workflow; ``phase`` orders the steps aspects add."""

    key: str
    pattern: re.Pattern[str]
    phase: int
    label: str


ASPECTS: tuple[Aspect, ...] = (
    Aspect("incident", re.compile(r"incident|outage|triage|(is|went|goes) down|degraded|on-?call|"
                                  r"\bpag(e|ing)\b"), 5, "incident triage"),
    Aspect("research", re.compile(r"research|investigat|analy[sz]|compare|study|survey"),
           6, "research"),
    Aspect("backup", re.compile(r"backup|back up|snapshot"), 12, "backup"),
    Aspect("approval", re.compile(r"approv|sign[- ]?off|manual review|human review|review by|"
                                  r"\bgate\b"), 20, "approval gate"),
    Aspect("deploy", re.compile(r"deploy|release|roll ?out|\bship\b|upgrade|install|provision"),
           30, "deployment"),
    Aspect("monitoring", re.compile(r"monitor|prometheus|grafana|metric|observab|dashboard|alerting"),
           40, "monitoring"),
    Aspect("logging", re.compile(r"\blog(s|ging)?\b|\belk\b|elastic|loki|kibana|fluent"),
           41, "centralised logging"),
    Aspect("tests", re.compile(r"\btests?\b|testing|test suite|integration check"), 45, "tests"),
    Aspect("health", re.compile(r"health|readiness|liveness|smoke|probe"), 50, "health checks"),
    Aspect("report", re.compile(r"report|summar|document|write[- ]?up|post-?mortem"), 70, "report"),
    Aspect("notify", re.compile(r"notif|announce|slack|e-?mail"), 80, "notification"),
    Aspect("rollback", re.compile(r"rollback|roll back|revert"), 90, "rollback strategy"),
)
ASPECT_BY_KEY = {aspect.key: aspect for aspect in ASPECTS}

# Which step ids count as "this aspect is already there" when refining.
PRESENT = {
    "incident": re.compile(r"triage|incident"),
    "research": re.compile(r"research|investigat|analy"),
    "backup": re.compile(r"backup|snapshot"),
    "deploy": DEPLOYISH,
    "monitoring": re.compile(r"monitor|prometheus|grafana|metric"),
    "logging": re.compile(r"logging|\blogs\b|elk|loki"),
    "tests": re.compile(r"test"),
    "health": re.compile(r"health|readiness|liveness|smoke|probe"),
    "report": re.compile(r"report|summar|postmortem|post_mortem"),
    "notify": re.compile(r"notif|announce"),
    "rollback": re.compile(r"rollback|roll_back|revert"),
}


def detect(text: str) -> list[Aspect]:
    """Aspects mentioned in ``text``, in phase order."""
    lowered = text.lower()
    return [aspect for aspect in ASPECTS if aspect.pattern.search(lowered)]


def slug(text: str, sep: str = "_", limit: int = 48) -> str:
    """``"Deploy to Kubernetes!"`` -> ``deploy_to_kubernetes`` (ids, names)."""
    out = re.sub(r"[^a-z0-9]+", sep, text.lower()).strip(sep)
    return out[:limit].rstrip(sep) or "step"


def escape_braces(text: str, known: Iterable[str] = ()) -> str:
    """Make literal text safe inside a template: ``{x}`` stays a template only if ``x`` is a
    known state key; every other brace is doubled (``{{``) so validation and rendering
    treat it as text."""
    keys = set(known)
    out: list[str] = []
    for part in re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", text):
        if part.startswith("{") and part.endswith("}") and part[1:-1] in keys:
            out.append(part)
        else:
            out.append(part.replace("{", "{{").replace("}", "}}"))
    return "".join(out)


class _Builder:
    """Collects steps with unique ids and the state keys they write."""

    def __init__(self, schema: dict[str, Any], tools: set[str]) -> None:
        self.schema = schema
        self.tools = tools
        self.ids: set[str] = set()

    def unique(self, base: str) -> str:
        candidate, n = base, 2
        while candidate in self.ids or candidate == "end":
            candidate, n = f"{base}_{n}", n + 1
        self.ids.add(candidate)
        return candidate

    def output(self, key: str) -> str:
        self.schema.setdefault(key, {"type": "string"})
        return key

    def usable(self, names: Sequence[str]) -> list[str]:
        return [name for name in names if name in self.tools]

    def agent(self, base: str, role: str, prompt: str, *, tools: Sequence[str] = (),
              output_key: str | None = None, description: str = "") -> dict[str, Any]:
        step: dict[str, Any] = {"id": self.unique(base), "name": base, "type": "agent",
                                "description": description, "system_prompt": role,
                                "prompt": prompt, "tools": self.usable(tools), "max_turns": 4}
        if output_key:
            step["output_key"] = self.output(output_key)
        return step

    def tool(self, base: str, tool: str, parameters: dict[str, Any],
             description: str = "") -> dict[str, Any] | None:
        if tool not in self.tools:
            return None
        return {"id": self.unique(base), "name": base, "type": "tool", "tool": tool,
                "description": description, "parameters": parameters}

    def approval(self, subject: str, context_key: str | None) -> dict[str, Any]:
        return {
            "id": self.unique("approval"), "name": "approval", "type": "human",
            "description": "A person approves before anything changes.",
            "prompt": f"Approve: {subject}?",
            "agent_context": f"{{{context_key}}}" if context_key else "",
            "fields": [
                {"name": "decision", "type": "select", "label": "Decision",
                 "options": "approve,reject", "required": True},
                {"name": "notes", "type": "textarea", "label": "Notes"},
            ],
            "when": [{"condition": "decision == 'reject'", "goto": "end"}],
        }


class _Context:
    """The task plus context as state keys and prompt lines."""

    def __init__(self, task: str, context: Mapping[str, Any]) -> None:
        self.task = task
        self.schema: dict[str, Any] = {"task": {"type": "string", "default": task,
                                                "description": "What the workflow is for"}}
        for key, value in list(context.items())[:MAX_CONTEXT_KEYS]:
            if KEY_PATTERN.match(key) and key not in self.schema and value is not None:
                self.schema[key] = {"type": state_type(value), "default": value}
        raw_services = context.get("services")
        self.services = [slug(str(s)) for s in raw_services[:MAX_SERVICES]] if isinstance(
            raw_services, list) else []
        self.environment = str(context.get("environment") or "")
        self.channel = str(context.get("channel") or "")
        self.url = next((str(context[k]) for k in URL_KEYS
                         if isinstance(context.get(k), str) and
                         str(context[k]).startswith(("http://", "https://"))), "")

    def lines(self) -> str:
        """``Topic: {task}`` plus one templated line per context key."""
        out = ["Topic: {task}"]
        for key in self.schema:
            if key != "task" and self.schema[key]["type"] != "object":
                out.append(f"{key.replace('_', ' ').capitalize()}: {{{key}}}")
        return "\n".join(out)


def plan(task: str, context: Mapping[str, Any], tools: Iterable[str]) -> dict[str, Any]:
    """A workflow for ``task``: steps for each aspect found in the task and context."""
    ctx = _Context(task, context)
    builder = _Builder(ctx.schema, set(tools))
    found = {aspect.key for aspect in detect(task + " " + _context_text(context))}
    if "deploy" in found:
        found.add("notify")
    if not found & {"incident", "research", "deploy", "monitoring", "logging", "tests",
                    "health", "backup"}:
        found |= {"research", "report"}
    steps: list[tuple[int, dict[str, Any]]] = []
    for aspect in ASPECTS:
        if aspect.key in found:
            steps.extend(_aspect_steps(aspect.key, ctx, builder, found))
    steps.sort(key=lambda item: item[0])
    ordered = [step for _, step in steps]
    _wire_rollback(ordered)
    name = slug(task, "-", 60)
    where = f" ({ctx.environment} environment)" if ctx.environment else ""
    return {
        "name": name,
        "description": f"{task}{where}. {GENERATOR_LABEL}",
        "state_schema": ctx.schema,
        "limits": {"max_turns": 8 * len(ordered) + 10},
        "steps": ordered,
    }


def _context_text(context: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for key, value in context.items():
        parts.append(str(key).replace("_", " "))
        if isinstance(value, str | int | float):
            parts.append(str(value))
    return " ".join(parts)


def _aspect_steps(key: str, ctx: _Context, b: _Builder,
                  found: set[str]) -> list[tuple[int, dict[str, Any]]]:
    """The (phase, step) items one aspect contributes to a new workflow."""
    lines = ctx.lines()
    phase = ASPECT_BY_KEY[key].phase
    out: list[tuple[int, dict[str, Any] | None]] = []
    if key == "incident":
        out.append((phase, b.agent("triage", "You are an incident triage agent.", lines,
                                   tools=["current_time", "web_search"], output_key="triage",
                                   description="Assess severity, impact and likely cause.")))
        out.append((phase + 1, b.tool("notify_oncall", "notify", {
            "channel": ctx.channel or "incidents", "message": "Incident triage: {task}"},
            "Tell the on-call channel.")))
        out.append((75, b.agent("postmortem", "You write the post-mortem of an incident.",
                                lines + "\nTriage: {triage}", tools=["current_time"],
                                output_key="postmortem", description="Summarise and learn.")))
    elif key == "research":
        out.append((phase, b.agent("research", "You are a research analyst. Research the topic.",
                                   lines, tools=["web_search"], output_key="research",
                                   description="Gather sources and findings.")))
    elif key == "backup":
        out.append((phase, b.agent("backup", "You are an operations engineer. Plan a backup "
                                   "of the current state before the change.", lines,
                                   tools=["current_time"], output_key="backup_plan")))
    elif key == "approval":
        context_key = "plan" if "deploy" in found else None
        out.append((phase, b.approval("{task}", context_key)))
    elif key == "deploy":
        out.append((15, b.agent("plan_deployment", "You are a deployment planner. Plan the "
                                "rollout.", lines, tools=["current_time"], output_key="plan",
                                description="Order of rollout, replicas, checks.")))
        for service in ctx.services or [""]:
            base = f"deploy_{service}" if service else "deploy"
            what = f"service {service}" if service else "the release"
            out.append((phase, b.agent(base, "You are a deployment agent. Roll out the "
                                       "release as planned.",
                                       f"{lines}\nRoll out {what}.\nPlan: {{plan}}",
                                       description=f"Roll out {what}.")))
    elif key in ("monitoring", "logging", "tests"):
        label = ASPECT_BY_KEY[key].label
        base = {"monitoring": "setup_monitoring", "logging": "setup_logging",
                "tests": "run_tests"}[key]
        out.append((phase, b.agent(base, f"You are an operations engineer. Plan the rollout "
                                   f"of {label}.", f"{lines}\nSet up {label}.",
                                   description=f"Set up {label}.")))
    elif key == "health":
        out.append((phase, _health_step(ctx, b, f"{lines}\nVerify the services are healthy.")))
    elif key == "report":
        source = "{research}" if "research" in found else "{task}"
        out.append((phase, b.agent("write_report", "You are a technical writer. Write the "
                                   "report.", f"{lines}\nFindings: {source}",
                                   tools=["word_count"], output_key="report",
                                   description="Write up the results.")))
    elif key == "notify":
        out.append((phase, b.tool("notify_completion", "notify", {
            "channel": ctx.channel or "operations", "message": "Workflow finished: {task}"},
            "Announce the result.")))
    elif key == "rollback":
        out.append((phase, _rollback_step(b, lines)))
    return [(p, step) for p, step in out if step is not None]


def _health_step(ctx: _Context, b: _Builder, prompt: str) -> dict[str, Any]:
    if ctx.url:
        step = b.tool("health_check", "http", {"method": "GET", "url": ctx.url},
                      "Check the service answers with 2xx.")
        if step is not None:
            return step
    return b.agent("verify_health", "You are an operations engineer. Plan the health checks "
                   "and readiness probes for the release.", prompt, tools=["current_time"],
                   description="Health checks and readiness probes.")


def _rollback_step(b: _Builder, prompt: str) -> dict[str, Any]:
    step = b.agent("rollback", "You are a deployment agent. Plan the rollback of the release "
                   "to the last good version.", prompt + "\nRoll back the release.",
                   description="Runs only when a tool or task step fails (on_failure).")
    step["next"] = "end"
    return step


def _wire_rollback(steps: list[dict[str, Any]]) -> None:
    """A rollback step at the end is the failure path: tool/task steps without their own
    ``on_failure`` go there, and the normal path stops just before it."""
    index = next((i for i, s in enumerate(steps) if s.get("id") == "rollback"), None)
    if index is None:
        return
    for step in steps[:index]:
        if step.get("type") in ("tool", "task") and not step.get("on_failure"):
            step["on_failure"] = "rollback"
    if index > 0 and steps[index - 1].get("next") is None:
        steps[index - 1]["next"] = "end"


# -- refine ------------------------------------------------------------------------------

_INFER = (("tool", "tool"), ("prompt", "agent"), ("task_type", "task"), ("fields", "human"))


def _ensure_ids(steps: list[Any]) -> list[Any]:
    """Give every mapping step an id and a type, keeping the author's other keys."""
    seen: set[str] = set()
    out: list[Any] = []
    for index, raw in enumerate(steps):
        if not isinstance(raw, Mapping):
            out.append(raw)
            continue
        step = dict(raw)
        if not isinstance(step.get("id"), str) or not step["id"]:
            base = slug(str(step.get("name") or f"step_{index + 1}"))
            candidate, n = base, 2
            while candidate in seen:
                candidate, n = f"{base}_{n}", n + 1
            step["id"] = candidate
        seen.add(step["id"])
        if "type" not in step:
            for key, kind in _INFER:
                if key in step:
                    step["type"] = kind
                    break
        out.append(step)
    return out


def _step_text(step: Mapping[str, Any]) -> str:
    return " ".join(str(step.get(k) or "") for k in ("id", "name")).lower()


_REFINE_STEPS: dict[str, tuple[str, str]] = {
    "incident": ("triage", "You are an incident triage agent."),
    "research": ("research", "You are a research analyst. Research the topic."),
    "deploy": ("deploy", "You are a deployment agent. Roll out the release as planned."),
    "monitoring": ("setup_monitoring", "You are an operations engineer. Plan the rollout of "
                   "monitoring."),
    "logging": ("setup_logging", "You are an operations engineer. Plan the rollout of "
                "centralised logging."),
    "tests": ("run_tests", "You are an operations engineer. Plan the test run."),
    "report": ("write_report", "You are a technical writer. Write the report."),
}


class Refinement:
    """The workflow being refined, plus a readable list of what changed."""

    def __init__(self, workflow: Mapping[str, Any], context: Mapping[str, Any],
                 tools: Iterable[str], tool_exists: Callable[[str], bool]) -> None:
        self.workflow: dict[str, Any] = dict(workflow)
        raw_steps = self.workflow.get("steps")
        self.steps: list[Any] = _ensure_ids(list(raw_steps) if isinstance(raw_steps, list)
                                            else [])
        schema = self.workflow.get("state_schema")
        self.schema: dict[str, Any] = dict(schema) if isinstance(schema, Mapping) else {}
        self.tool_exists = tool_exists
        self.builder = _Builder(self.schema, set(tools))
        self.builder.ids = {s["id"] for s in self.steps if isinstance(s, Mapping)}
        self.context = context
        self.changes: list[str] = []

    # -- helpers -------------------------------------------------------------------------
    def _known_keys(self) -> set[str]:
        keys = set(self.schema)
        for step in self.steps:
            if isinstance(step, Mapping) and step.get("type") == "human":
                for field in step.get("fields") or []:
                    if isinstance(field, Mapping) and isinstance(field.get("name"), str):
                        keys.add(field["name"])
        return keys

    def _lines(self) -> str:
        known = self._known_keys()
        subject = str(self.workflow.get("description") or self.workflow.get("name") or
                      "the workflow").replace(GENERATOR_LABEL, "").strip()
        lines = ["Topic: {task}" if "task" in known else
                 f"Topic: {escape_braces(subject)}"]
        for key in ("environment", "namespace", "services"):
            if key in known:
                lines.append(f"{key.capitalize()}: {{{key}}}")
        return "\n".join(lines)

    def _index(self, pattern: re.Pattern[str], last: bool = False) -> int | None:
        hits = [i for i, s in enumerate(self.steps)
                if isinstance(s, Mapping) and pattern.search(_step_text(s))]
        if not hits:
            return None
        return hits[-1] if last else hits[0]

    def _tail_start(self) -> int:
        """Where the trailing notify/report/rollback steps begin (new work goes before)."""
        tail = re.compile(r"notif|announce|report|summar|rollback|revert|postmortem")
        index = len(self.steps)
        while index > 0:
            step = self.steps[index - 1]
            if isinstance(step, Mapping) and tail.search(_step_text(step)):
                index -= 1
            else:
                break
        return index

    def _insert(self, position: int, step: dict[str, Any], why: str) -> None:
        """Insert keeping the path intact: if the step before ended the normal path
        (``next: end``, e.g. just before a rollback), the new step takes that role."""
        before = self.steps[position - 1] if position > 0 else None
        if (isinstance(before, dict) and before.get("next") == "end" and
                not PRESENT["rollback"].search(_step_text(before)) and "next" not in step):
            del before["next"]
            step["next"] = "end"
        self.steps.insert(position, step)
        self.changes.append(f"added step {step['id']} ({why})")

    # -- fixes ---------------------------------------------------------------------------
    def fix_unknown_tools(self) -> None:
        """Tool steps naming a tool that does not exist become agent steps describing it."""
        for index, step in enumerate(self.steps):
            if not isinstance(step, Mapping) or step.get("type") != "tool":
                continue
            tool = step.get("tool")
            if not isinstance(tool, str) or self.tool_exists(tool):
                continue
            params = step.get("parameters", step.get("args")) or {}
            detail = json.dumps(params, sort_keys=True) if params else "no arguments"
            action = escape_braces(f"{tool} with {detail}", self._known_keys())
            replacement = {k: v for k, v in step.items()
                           if k in ("id", "name", "description", "next", "when")}
            replacement.update({
                "type": "agent",
                "system_prompt": "You are an operations engineer. Plan how to carry out "
                                 "this step and what to check.",
                "prompt": f"{self._lines()}\nStep: {escape_braces(str(step.get('name') or step['id']))}"
                          f"\nIntended action: {action}",
                "max_turns": 4,
            })
            self.steps[index] = replacement
            self.changes.append(
                f"replaced tool step {step['id']}: tool {tool!r} is not registered, so an agent "
                f"step now describes the action (allow {tool!r} as a command tool to run it)")

    def apply(self, aspect: Aspect, source: str) -> None:
        """Add ``aspect`` unless the workflow already has it."""
        if aspect.key in PRESENT:
            existing = self._index(PRESENT[aspect.key])
            if existing is not None:
                self.changes.append(f"{source}: already covered by step "
                                    f"{self.steps[existing]['id']}")
                return
        elif aspect.key == "approval" and any(
                isinstance(s, Mapping) and s.get("type") == "human" for s in self.steps):
            self.changes.append(f"{source}: already covered by a human gate")
            return
        b, lines = self.builder, self._lines()
        known = self._known_keys()
        deploy_first = self._index(DEPLOYISH)
        tail = self._tail_start()
        why = f"{aspect.label}, for {source}"
        if aspect.key == "approval":
            subject = "{task}" if "task" in known else escape_braces(
                str(self.workflow.get("name") or "this workflow"))
            context_key = "plan" if "plan" in known else None
            self._insert(deploy_first if deploy_first is not None else tail,
                         b.approval(subject, context_key), why)
        elif aspect.key == "backup":
            self._insert(deploy_first if deploy_first is not None else 0,
                         b.agent("backup", "You are an operations engineer. Plan a backup of "
                                 "the current state before the change.", lines,
                                 tools=["current_time"]), why)
        elif aspect.key == "health":
            self._insert(tail, _health_step(_Context("", self.context), b,
                                            lines + "\nVerify the services are healthy."), why)
        elif aspect.key == "rollback":
            self._add_rollback(lines, why)
        elif aspect.key == "notify":
            subject = "{task}" if "task" in known else escape_braces(
                str(self.workflow.get("name") or ""))
            step = b.tool("notify_completion", "notify", {
                "channel": str(self.context.get("channel") or "operations"),
                "message": f"Workflow finished: {subject}"})
            if step is not None:
                rollback = self._index(PRESENT["rollback"])
                self._insert(rollback if rollback is not None else len(self.steps), step, why)
        else:
            base, role = _REFINE_STEPS[aspect.key]
            self._insert(tail, b.agent(base, role, f"{lines}\nAdd {aspect.label}."), why)

    def _add_rollback(self, lines: str, why: str) -> None:
        step = _rollback_step(self.builder, lines)
        self.steps.append(step)
        self.changes.append(f"added step {step['id']} ({why}); tool and task steps go there "
                            "when they fail")
        typed = [s for s in self.steps if isinstance(s, dict)]
        _wire_rollback(typed)

    def add_requirement(self, text: str, source: str) -> None:
        """Apply every aspect ``text`` mentions; a requirement matching none becomes its own
        agent step, so nothing asked for is silently dropped."""
        aspects = _requested(text)
        for aspect in aspects:
            self.apply(aspect, source)
        if aspects:
            return
        base = "req_" + slug(text, limit=32)
        step = self.builder.agent(base, "You are an operations engineer. Plan how to meet "
                                  "this requirement.",
                                  f"{self._lines()}\nRequirement: {escape_braces(text)}")
        self._insert(self._tail_start(), step, f"for {source}")

    def result(self) -> dict[str, Any]:
        out = dict(self.workflow)
        out["steps"] = self.steps
        if self.schema:
            out["state_schema"] = self.schema
        return out


def _requested(text: str) -> list[Aspect]:
    """Aspects a requirement asks for. "Deploy" next to another aspect is where it goes
    ("health checks after deployment"), not a request for another deploy step."""
    aspects = detect(text)
    if len(aspects) > 1:
        aspects = [a for a in aspects if a.key != "deploy"]
    return aspects


def refine(workflow: Mapping[str, Any], requirements: Sequence[str],
           context: Mapping[str, Any], tools: Iterable[str],
           tool_exists: Callable[[str], bool]) -> tuple[dict[str, Any], list[str]]:
    """The workflow improved for ``requirements`` and ``context["previous_errors"]``, and a
    list of what changed (or why nothing did)."""
    work = Refinement(workflow, context, tools, tool_exists)
    work.fix_unknown_tools()
    for number, requirement in enumerate(requirements, start=1):
        work.add_requirement(requirement, f"requirement {number}: {requirement!r}")
    errors = context.get("previous_errors")
    for error in errors if isinstance(errors, list) else []:
        aspects = _requested(str(error))
        for aspect in aspects:
            work.apply(aspect, f"previous error {str(error)!r}")
    if not work.changes:
        work.changes.append("no change: no requirement matched anything to add")
    return work.result(), work.changes

