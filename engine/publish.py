"""Publishing events from outside (seed 003's ``POST /events/publish``).

Why reserved namespaces: subscribers, the console and the WebSocket channels treat
``approval.requested`` or ``run.completed`` as facts about the engine's state. If an agent
could publish them, it could fake an approval request, announce a run that never finished,
or (``subscription.dropped``) make every SSE client jump to a made-up seq. So every prefix
the engine emits is listed once in ``RESERVED_EVENT_PREFIXES`` and refused for everyone but
the engine itself (a test scans the engine's source for emitted types and checks each is
covered). This overrides seed 003's example of an agent publishing ``task.started``: the
engine emits that event itself when the task is claimed.

Why ``source_agent`` is checked: it is what a reader trusts to say who sent an event. A
caller may name itself (its principal) or an agent id it registered (``agents.owner``);
only an admin may publish as another source, and that is audited (``event.publish_as``) in
the same transaction as the event.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from switchboard.engine.actors import SYSTEM, Actor
from switchboard.engine.audit import record
from switchboard.engine.engine import Engine
from switchboard.engine.errors import Forbidden, ValidationFailed
from switchboard.engine.models import Event, normalize_priority
from switchboard.engine.rows import encode
from switchboard.engine.store.base import Tx

_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,127}$")
MAX_PAYLOAD_BYTES = 65_536

RESERVED_EVENT_PREFIXES: Final = ("task.", "approval.", "run.", "agent.", "system.", "sla.",
                                  "session.", "subscription.")
"""Namespaces only the engine emits: tasks, approvals, runs, agents, system notices, SLA
breaches, workflow sessions, and the bus's own ``subscription.dropped`` marker."""


def reserved_prefix(event_type: str) -> str | None:
    """The reserved namespace ``event_type`` falls in (``"approval."``), or None.

    Compared on the first dotted segment, case-insensitively: ``Approval.Requested`` and a
    bare ``task`` are the engine's too."""
    namespace = event_type.split(".", 1)[0].lower() + "."
    return namespace if namespace in RESERVED_EVENT_PREFIXES else None


def _check_type(event_type: str, actor: Actor) -> None:
    if not _EVENT_TYPE.match(event_type or ""):
        raise ValidationFailed("event_type", "must be 1-128 characters of letters, digits, . _ - :")
    prefix = reserved_prefix(event_type)
    if prefix is not None and actor.kind != "system":
        raise Forbidden(f"event_type: {event_type!r} is in the reserved {prefix!r} namespace; "
                        f"only the engine emits {', '.join(RESERVED_EVENT_PREFIXES)} events. "
                        "Publish under your own namespace (e.g. 'deployment.completed')")


def _source(tx: Tx, owns: Callable[[Tx, str, str], bool], actor: Actor,
            source_agent: str | None) -> bool:
    """Check ``source_agent`` for ``actor``; True when an admin publishes as another source
    (the caller audits it). Raises Forbidden for a non-admin naming someone else."""
    if actor.kind == "system" or source_agent is None or source_agent == actor.name:
        return False
    if owns(tx, source_agent, actor.name):
        return False
    if actor.is_admin:
        return True
    raise Forbidden(f"source_agent: must be your own identity ({actor.name!r}) or an agent id "
                    f"you registered, not {source_agent!r}; only an admin may publish as "
                    "another source (audited as event.publish_as)")


async def publish_event(
    engine: Engine, *, event_type: str, source_agent: str | None = None,
    payload: dict[str, Any] | None = None, task_id: str | None = None,
    run_id: str | None = None, trace_id: str | None = None, priority: str | None = None,
    agent_id: str | None = None, actor: Actor = SYSTEM,
) -> Event:
    """Validate and durably append an event; it reaches subscribers after the commit.

    ``actor`` is who publishes: the server always passes the caller. Without one the engine
    itself publishes (in-process callers and tests), which may use the reserved namespaces.
    A non-system caller's events carry its identity when ``source_agent`` is omitted.
    """
    _check_type(event_type, actor)
    if priority is not None:
        try:
            priority = normalize_priority(priority)
        except ValueError as exc:
            raise ValidationFailed("priority", str(exc)) from None
    body = payload or {}
    if len(encode(body)) > MAX_PAYLOAD_BYTES:
        raise ValidationFailed("payload", f"must be at most {MAX_PAYLOAD_BYTES} bytes of JSON")
    if source_agent is None and actor.kind != "system":
        source_agent = actor.name

    def op(tx: Tx) -> Event:
        publish_as = _source(tx, engine.agents.owned_by, actor, source_agent)
        event = tx.emit(event_type, body, source_agent=source_agent, task_id=task_id,
                        run_id=run_id, trace_id=trace_id, priority=priority, agent_id=agent_id)
        if publish_as:  # the seq is known once the store numbers the batch's events
            tx.numbered(lambda: record(
                tx, actor, "event.publish_as", "event", str(event.seq),
                after={"event_type": event_type, "source_agent": source_agent}))
        return event

    return await engine.store.write(op)
