"""WebSocket messages the server sends (``/api/v1/ws``, seed 001's channels).

Every message has a ``type``. A reply to a client message tagged with ``"id"`` echoes it,
so the client can match them; untagged ones carry none. Event messages name the engine's
``event_type``, seed 001's message ``type`` for it, and the correlation keys the event has
(only those that are set).
"""

from __future__ import annotations

from typing import Any, Literal

from msgspec import UNSET, UnsetType

from switchboard.server.contract.common import Record, Time
from switchboard.server.contract.tasks import Task

MessageId = str | int


class WsEvent(Record, kw_only=True):
    """One event on one channel: ``type`` is seed 001's name (``task_completed``,
    ``agent_status_change``, ``run_event``...), ``event`` the seed 000 name of a run event."""

    type: str
    channel: str
    event_type: str
    payload: dict[str, Any] = {}
    seq: int
    timestamp: Time | None = None
    event: str | UnsetType = UNSET
    task_id: str | UnsetType = UNSET
    run_id: str | UnsetType = UNSET
    agent_id: str | UnsetType = UNSET
    source_agent: str | UnsetType = UNSET
    trace_id: str | UnsetType = UNSET
    priority: str | UnsetType = UNSET


class WsAuthOk(Record, kw_only=True):
    type: Literal["auth_ok"] = "auth_ok"
    role: str
    subject: str
    id: MessageId | UnsetType = UNSET


class WsSubscribed(Record, kw_only=True):
    """``filter`` is the narrowing the subscription took (``{"agent_id": ...}``)."""

    type: Literal["subscribed"] = "subscribed"
    channel: str
    filter: dict[str, Any] = {}
    id: MessageId | UnsetType = UNSET


class WsUnsubscribed(Record, kw_only=True):
    type: Literal["unsubscribed"] = "unsubscribed"
    channel: str
    count: int = 0
    id: MessageId | UnsetType = UNSET


class WsDropped(Record, kw_only=True):
    """The subscription fell too far behind: subscribe again with ``after=resume_after``."""

    type: Literal["subscription_dropped"] = "subscription_dropped"
    channel: str
    resume_after: int | None = None


class WsTaskAssigned(Record, kw_only=True):
    """A claim's answer: the task, as ``POST /tasks/claim`` gives it (with ``lease_id``)."""

    type: Literal["task_assigned"] = "task_assigned"
    task: Task
    completed: str | UnsetType = UNSET
    """The task this claim's ``complete`` finished (same commit), when it carried one."""
    id: MessageId | UnsetType = UNSET


class WsNoTask(Record, kw_only=True):
    type: Literal["no_task"] = "no_task"
    agent_id: str
    completed: str | UnsetType = UNSET
    id: MessageId | UnsetType = UNSET


class WsPong(Record, kw_only=True):
    type: Literal["pong"] = "pong"
    id: MessageId | UnsetType = UNSET


class WsError(Record, kw_only=True):
    type: Literal["error"] = "error"
    detail: str
    id: MessageId | UnsetType = UNSET
