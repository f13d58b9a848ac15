"""The WebSocket protocol (seed 001): channels, client messages, and engine events on the wire.

Why a module of its own: the mapping from engine events (``task.completed``) to seed 001's
message types (``task_completed``) is the contract remote consoles and workers code
against; it is pure data and functions, tested without a socket. ``server.resources.ws``
runs the connection.

Client -> server (JSON text frames; any may carry ``"id"``, echoed in the reply)::

    {"type": "auth", "token": "<JWT or API key>"}                  first, within 5 s
    {"type": "subscribe", "channel": "agent_events", "agent_id": "agent_1", "after": 42}
    {"type": "unsubscribe", "channel": "agent_events"}
    {"type": "claim", "agent_id": "agent_1", "wait": 20}           role agent, own agent id
    {"type": "claim", "agent_id": "agent_1", "wait": 20,           a slot's completion and
     "complete": {"task_id": "task_1", "lease_id": "...", "result": {...}}}   next claim
    {"type": "ping"}

Server -> client::

    {"type": "auth_ok", "role": "agent", "subject": "dev-agent-1"}
    {"type": "subscribed", "channel": ..., "filter": {...}} / {"type": "unsubscribed", ...}
    {"type": "agent_status_change" | "task_completed" | ..., "channel": ..., "event_type": ...,
     "payload": {...}, "seq": 17, "timestamp": "2026-...Z"}
    {"type": "subscription_dropped", "channel": ..., "resume_after": 17}
    {"type": "task_assigned", "task": {..., "lease_id": ...}} / {"type": "no_task"}
        (a claim that carried ``complete`` says ``"completed": "task_1"`` in its answer,
        at once: it does not wait for work, so ``no_task`` there means claim again; a
        refused completion refuses the claim too: ``error``, and nothing changed)
    {"type": "pong"} / {"type": "error", "detail": "..."}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from msgspec import UNSET, UnsetType
from pydantic import Field

from switchboard.engine.clock import iso
from switchboard.engine.events import EventFilter
from switchboard.engine.models import Event
from switchboard.server.contract.ws import WsEvent
from switchboard.server.jsonio import Int64, StrictModel

AUTH_TIMEOUT_SECONDS: Final = 5.0
MAX_CLAIM_WAIT_SECONDS: Final = 30.0
MAX_PENDING_CLAIMS: Final = 16
"""Concurrent claims one connection may have waiting (each holds a waiter in the engine)."""
MAX_SUBSCRIPTIONS: Final = 64


# -- engine event -> message type -------------------------------------------------------

AGENT_STATUS_EVENTS: Final = frozenset({"agent.status_changed", "agent.registered", "agent.deleted"})
EXACT_TYPES: Final = {
    "task.completed": "task_completed",
    "task.failed": "task_failed",
    "approval.requested": "approval_requested",
    "approval.decided": "approval_decided",
    "system_alert": "system_alert",
}
PREFIX_TYPES: Final = (
    ("task.", "task_update"),
    ("approval.", "approval_update"),
    ("agent.", "agent_update"),
    ("sla.", "system_alert"),
    ("system.", "system_alert"),
    ("run.", "run_event"),
)


def message_type(event_type: str) -> str:
    """Seed 001's message ``type`` for an engine event type; ``"event"`` for anything else.

    agent.status_changed/registered/deleted -> agent_status_change; task.completed ->
    task_completed; task.failed -> task_failed; other task.* -> task_update;
    approval.requested/decided -> approval_requested/decided; sla.* and system_alert ->
    system_alert; run.* -> run_event.
    """
    if event_type in AGENT_STATUS_EVENTS:
        return "agent_status_change"
    exact = EXACT_TYPES.get(event_type)
    if exact is not None:
        return exact
    for prefix, kind in PREFIX_TYPES:
        if event_type.startswith(prefix):
            return kind
    return "event"


def event_message(channel: str, event: Event) -> WsEvent:
    """The outgoing message for one event on one channel."""
    run_event = event.event_type.startswith("run.")
    return WsEvent(
        type=message_type(event.event_type), channel=channel, event_type=event.event_type,
        payload=event.payload, seq=event.seq, timestamp=iso(event.timestamp),
        # seed 000's name: run.step_start -> step_start
        event=event.event_type[4:] if run_event else UNSET,
        task_id=_set(event.task_id), run_id=_set(event.run_id), agent_id=_set(event.agent_id),
        source_agent=_set(event.source_agent), trace_id=_set(event.trace_id),
        priority=_set(event.priority))


def _set(value: str | None) -> str | UnsetType:
    return UNSET if value is None else value


# -- channels ---------------------------------------------------------------------------

Scope = Literal["agent_id", "task_id", "run_id", "types"]


@dataclass(frozen=True)
class Channel:
    """A subscribable slice of the event stream: type prefixes plus allowed narrowing keys."""

    name: str
    prefixes: tuple[str, ...]
    scopes: frozenset[Scope]
    description: str
    accepts: Callable[[str], bool] | None = None
    """Extra per-event check after the prefix filter (None: every matching event)."""


CHANNELS: Final[dict[str, Channel]] = {
    c.name: c
    for c in (
        Channel("agent_events", ("agent.",), frozenset({"agent_id"}),
                "agent registrations, status changes and deletions; optionally one agent_id"),
        Channel("task_events", ("task.",), frozenset({"agent_id", "task_id", "run_id"}),
                "task lifecycle: task_update, task_completed, task_failed"),
        Channel("approval_events", ("approval.",), frozenset({"task_id", "run_id"}),
                "approval_requested, approval_decided"),
        Channel("system_events", ("sla.", "system_alert", "system."), frozenset(),
                "system_alert: SLA breaches and published system alerts",
                accepts=lambda t: t.startswith(("sla.", "system.")) or t == "system_alert"
                or t.startswith("system_alert.")),
        Channel("run_events", ("run.",), frozenset({"run_id"}),
                "orchestration runs: run_event with event = seed 000's event name"),
        Channel("all_events", (), frozenset({"types", "agent_id", "task_id", "run_id"}),
                "every event (optionally type prefixes in `types`), for remote consoles"),
    )
}


# -- client messages --------------------------------------------------------------------

MessageId = str | Int64 | None


class AuthMessage(StrictModel):
    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=8192)
    id: MessageId = None


class SubscribeMessage(StrictModel):
    type: Literal["subscribe"]
    channel: str
    agent_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    types: list[str] | None = Field(None, max_length=32)
    after: Int64 | None = Field(None, ge=0)
    id: MessageId = None

    def scope(self) -> dict[str, Any]:
        """The narrowing keys that were given (``{"agent_id": "a1"}``)."""
        values = {"agent_id": self.agent_id, "task_id": self.task_id, "run_id": self.run_id,
                  "types": self.types}
        return {k: v for k, v in values.items() if v is not None}


class UnsubscribeMessage(StrictModel):
    type: Literal["unsubscribe"]
    channel: str
    agent_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    types: list[str] | None = None
    id: MessageId = None


class ClaimCompletion(StrictModel):
    """The slot's previous task, completed in the same write op as the claim (pipelining:
    the slot does not wait for its report's round trip before asking for more work)."""

    task_id: str = Field(min_length=1, max_length=256)
    lease_id: str = Field(min_length=1, max_length=256)
    result: Any = None


class ClaimMessage(StrictModel):
    type: Literal["claim"]
    agent_id: str = Field(min_length=1, max_length=256)
    wait: float = Field(0.0, ge=0.0, le=MAX_CLAIM_WAIT_SECONDS)
    complete: ClaimCompletion | None = None
    id: MessageId = None


class PingMessage(StrictModel):
    type: Literal["ping"]
    id: MessageId = None


def check_scope(channel: Channel, scope: dict[str, Any]) -> str | None:
    """None if ``scope`` only uses keys ``channel`` allows, else the error detail."""
    extra = sorted(set(scope) - channel.scopes)
    if not extra:
        return None
    allowed = ", ".join(sorted(channel.scopes)) or "none"
    return f"channel {channel.name} cannot be narrowed by {', '.join(extra)} (allowed: {allowed})"


def channel_filter(channel: Channel, scope: dict[str, Any]) -> EventFilter:
    """The bus filter for a channel narrowed by ``scope`` (already checked)."""
    types = tuple(scope.get("types") or ()) or channel.prefixes
    return EventFilter(types=types, agent_id=scope.get("agent_id"),
                       task_id=scope.get("task_id"), run_id=scope.get("run_id"))


def subscription_key(channel: str, scope: dict[str, Any]) -> tuple[Any, ...]:
    """Identity of a subscription: a channel may be subscribed once per distinct scope."""
    return (channel, *(
        (k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(scope.items())
    ))


# -- dialects ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WsDialect:
    """What a WebSocket endpoint offers: its channels and how an event reads on them.

    ``/api/v1/ws`` uses ``CANONICAL``; seed 001's ``/v1/ws`` (``server.dialects.seed001``)
    has its own channel contents and words, over the same session code."""

    channels: dict[str, Channel]
    render: Callable[[str, Event], WsEvent]


CANONICAL: Final = WsDialect(CHANNELS, event_message)
