"""The builtin provider: offline, deterministic, and labelled as such in every reply.

Why it exists: the demo, the tests and a first run on a laptop without an API key must show
a realistic run (agent turns, a tool call, its result, a final answer, token counts, cost)
with no network and the same output every time. It is not a language model: it picks a
template by the role its prompts describe (research, writing, triage, planning,
post-mortem), fills in the topic, calls one offered tool on its first turn and uses the
tool's result in its answer. Every reply starts with ``LABEL`` so nobody mistakes it for
model output.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec

from switchboard.engine.providers.base import (
    Message,
    ProviderFeatures,
    ToolCall,
    ToolSpec,
    Turn,
    TurnChunk,
    Usage,
)

LABEL = "[builtin offline provider: deterministic text, no language model was called]"

_ROLES: list[tuple[str, tuple[str, ...]]] = [
    ("postmortem", ("post-mortem", "postmortem", "retrospective")),
    ("triage", ("triage", "incident", "outage", "alert")),
    ("revise", ("revise", "revision", "editor notes")),
    ("write", ("write", "writer", "article", "draft", "report")),
    ("plan", ("plan", "deploy", "rollout", "release")),
    ("research", ("research", "investigate", "gather", "find out")),
]

_TOOL_PREFERENCE: dict[str, tuple[str, ...]] = {
    "research": ("web_search",),
    "triage": ("web_search", "current_time"),
    "postmortem": ("current_time",),
    "plan": ("current_time",),
    "write": ("word_count",),
    "revise": ("word_count",),
}

_ANGLES = [
    "adoption and market momentum",
    "architecture and how the pieces fit together",
    "risks, limits and open questions",
    "costs and operational trade-offs",
    "the people and teams involved",
    "how it compares with the alternatives",
]


def _tokens(text: str) -> int:
    """Rough token count (4 characters per token), good enough for demo cost figures."""
    return max(1, (len(text) + 3) // 4)


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _role(messages: Sequence[Message]) -> str:
    system = " ".join(m.content for m in messages if m.role == "system").lower()
    first_user = next((m.content for m in messages if m.role == "user"), "").lower()
    for source in (system, first_user):
        for role, words in _ROLES:
            if any(word in source for word in words):
                return role
    return "answer"


def topic_of(messages: Sequence[Message]) -> str:
    """What the conversation is about: a ``Topic:`` line if one exists, else the text after
    the first colon of the first user line, else the first line itself (shortened)."""
    for message in messages:
        found = re.search(r"^\s*Topic:\s*(.+)$", message.content, re.MULTILINE)
        if found:
            return found.group(1).strip()[:120]
    user = next((m.content for m in messages if m.role == "user"), "").strip()
    first = user.splitlines()[0].strip() if user else ""
    if ":" in first and first.split(":", 1)[1].strip():
        first = first.split(":", 1)[1].strip()
    else:
        first = re.sub(r"^(please\s+)?(research|write|triage|plan|summari[sz]e)\s+"
                       r"(an?\s+|the\s+)?(article\s+)?(about|on|for)?\s*", "", first,
                       flags=re.IGNORECASE)
    return (first or "the request")[:120].rstrip(" .")


def _argument_for(name: str, schema: dict[str, Any], topic: str, user: str) -> Any:
    kind = schema.get("type", "string")
    if kind == "integer":
        return int(schema.get("minimum", 1) or 1)
    if kind == "number":
        return float(schema.get("minimum", 1) or 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return {}
    if schema.get("enum"):
        return schema["enum"][0]
    if name in ("text", "body", "content", "message"):
        return user[:2000]
    return topic


def tool_arguments(tool: ToolSpec, topic: str, user: str) -> dict[str, Any]:
    """Arguments for ``tool`` built from its JSON Schema: every required property, plus
    query/text-like optional ones, filled from the topic or the user message."""
    properties: dict[str, Any] = tool.parameters.get("properties", {}) or {}
    required = set(tool.parameters.get("required", []) or [])
    args: dict[str, Any] = {}
    for name, schema in properties.items():
        if name in required or name in ("query", "q", "topic", "text"):
            args[name] = _argument_for(name, schema if isinstance(schema, dict) else {},
                                       topic, user)
    return args


def _tool_outputs(messages: Sequence[Message]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            try:
                value: Any = msgspec.json.decode(message.content)
            except msgspec.DecodeError:
                value = message.content
            out.append((message.name or "tool", value))
    return out


def _evidence(outputs: list[tuple[str, Any]]) -> list[str]:
    lines: list[str] = []
    for name, value in outputs:
        if isinstance(value, dict) and isinstance(value.get("results"), list):
            for result in value["results"][:3]:
                if isinstance(result, dict):
                    lines.append(f"{result.get('title', 'result')} ({result.get('url', name)})")
        elif isinstance(value, dict) and "words" in value:
            lines.append(f"{name}: the draft has {value['words']} words")
        elif isinstance(value, dict) and "utc" in value:
            lines.append(f"{name}: checked at {value['utc']}")
        else:
            text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
            lines.append(f"{name}: {text[:160]}")
    return lines


def compose(role: str, topic: str, user: str, outputs: list[tuple[str, Any]]) -> str:
    """The final answer text for ``role`` (deterministic in its inputs)."""
    seed = _digest(f"{role}:{topic}")
    angles = [_ANGLES[(seed + i * 7) % len(_ANGLES)] for i in range(3)]
    angles = list(dict.fromkeys(angles)) or _ANGLES[:2]
    evidence = _evidence(outputs)
    sources = "\n".join(f"- {line}" for line in evidence) or "- (no tool results were used)"
    if role == "research":
        strengths = ["steady", "early", "notable", "mixed"]
        findings = "\n".join(
            f"{i + 1}. On {angle}: {topic} shows {strengths[(seed >> i) % 4]} signals worth "
            "following up." for i, angle in enumerate(angles))
        body = (f"# Research notes\nTopic: {topic}\n\n## Key findings\n{findings}\n\n"
                f"## Sources consulted (simulated)\n{sources}")
    elif role in ("write", "revise"):
        title = topic[:1].upper() + topic[1:]
        sections = "\n\n".join(
            f"## {angle[:1].upper() + angle[1:]}\n{title} is best understood through "
            f"{angle}. The research points to concrete next steps rather than hype."
            for angle in angles)
        note = ("\n\n_Revised after editorial feedback._" if role == "revise" else "")
        body = (f"# {title}\nTopic: {topic}\n\n{title} is the subject of this report. It "
                f"summarises what the research found and what it means.\n\n{sections}"
                f"\n\n## Conclusion\nWatch {topic} closely over the next quarter.{note}")
    elif role == "triage":
        severity = ["P0", "P1", "P1", "P2"][seed % 4]
        body = (f"# Triage\nTopic: {topic}\n\nSeverity: {severity}\nImpact: user-facing "
                f"requests affected while {topic} persists.\nLikely cause: a recent change "
                f"touching {angles[0]}.\nNext action: page the on-call ops agent and "
                f"prepare a rollback.\n\nContext:\n{sources}")
    elif role == "postmortem":
        body = (f"# Post-mortem\nTopic: {topic}\n\n## Summary\nAn incident involving "
                f"{topic} was triaged and handed to operations.\n\n## Timeline\n{sources}"
                f"\n\n## Root cause (hypothesis)\nA change related to {angles[0]}.\n\n"
                "## Action items\n1. Add an alert for the early signal.\n"
                "2. Document the rollback.\n3. Review the change process.")
    elif role == "plan":
        replicas = 2 + seed % 3
        body = (f"# Deployment plan\nTopic: {topic}\n\n1. Build and tag the release.\n"
                f"2. Roll out to {replicas} replicas, one at a time.\n3. Watch error rate "
                "and latency for 10 minutes.\n4. Roll back on any alert.\n\n"
                f"Suggested replicas: {replicas}\n\nContext:\n{sources}")
    else:
        body = f"# Answer\nTopic: {topic}\n\n{user[:400]}\n\nNotes:\n{sources}"
    return f"{LABEL}\n\n{body}"


class BuiltinProvider:
    """Offline and deterministic: the same messages and tools always give the same turn."""

    name = "builtin"
    display_name = "BuiltinProvider"
    default_model = "builtin"

    def __init__(self, features: ProviderFeatures | None = None) -> None:
        self.features = features or ProviderFeatures()

    def available(self) -> bool:
        return True

    def configure(self, **_options: Any) -> None:
        """Nothing to tune (no network); accepted so provider switching is uniform."""

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        model: str | None = None,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> Turn:
        """First turn with tools offered: call one (preferring the role's natural tool).
        Otherwise: answer, using any tool results in the conversation."""
        role = _role(messages)
        topic = topic_of(messages)
        user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        prompt_tokens = sum(_tokens(m.content) for m in messages) + 8 * len(tools)
        already_called = any(m.role == "tool" or m.tool_calls for m in messages)
        if tools and not already_called:
            names = [tool.name for tool in tools]
            preferred = next((n for n in _TOOL_PREFERENCE.get(role, ()) if n in names), names[0])
            tool = tools[names.index(preferred)]
            call_id = f"call_{_digest(f'{preferred}:{topic}:{len(messages)}') % 16**12:012x}"
            args = tool_arguments(tool, topic, user)
            text = f"{LABEL}\nCalling {preferred} to gather context on {topic}."
            return Turn(
                text=text,
                tool_calls=[ToolCall(id=call_id, name=preferred, arguments=args)],
                usage=Usage(input_tokens=prompt_tokens, output_tokens=_tokens(text) + 12),
                model=model or self.default_model, provider=self.name,
                finish_reason="tool_calls",
            )
        text = compose(role, topic, user, _tool_outputs(messages))
        if max_tokens is not None and _tokens(text) > max_tokens:
            text = text[: max_tokens * 4]
        return Turn(text=text, usage=Usage(input_tokens=prompt_tokens,
                                           output_tokens=_tokens(text)),
                    model=model or self.default_model, provider=self.name,
                    finish_reason="stop")

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        model: str | None = None,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[TurnChunk]:
        """The same turn as ``complete``, its text delivered line by line."""
        turn = await self.complete(messages, tools, model, temperature=temperature,
                                   max_tokens=max_tokens)
        for line in turn.text.splitlines(keepends=True):
            yield TurnChunk(text=line)
        yield TurnChunk(turn=turn)

    async def aclose(self) -> None:
        return None
