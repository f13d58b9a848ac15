"""The operator views on the wire (``GET /api/v1/views/...``): what a console shows, as the
engine computes it (``engine.views``), so a console attached over HTTP needs one request per
screen refresh and shows exactly what the in-process console shows.

Field meanings are the engine's (``engine.views``); here they are only typed for the wire:
records are the contract's ``Task`` and ``Event``, instants are ``Time`` text.
"""

from __future__ import annotations

from switchboard.server.contract.common import Record, Time
from switchboard.server.contract.events import Event
from switchboard.server.contract.system import PriorityLoad
from switchboard.server.contract.tasks import Task


class Overview(Record, kw_only=True):
    """The overview screen, from one snapshot of the store. Every task status, priority and
    run status is a key (zero when none); series are per minute over the last hour, oldest
    first. ``last_seq`` is the newest event the snapshot includes: apply live events after."""

    at: Time
    last_seq: int
    tasks_by_status: dict[str, int]
    tasks_by_priority: dict[str, PriorityLoad]
    total_tasks: int
    approvals_waiting: int
    approvals_by_priority: dict[str, int]
    agents_by_health: dict[str, int]
    agents_total: int
    runs_by_status: dict[str, int]
    throughput: list[int]
    created: list[int]
    failed: list[int]


class TaskViewPage(Record, kw_only=True):
    """A page of a task view: every unfinished task most urgent first (priority, then
    oldest), then the finished ones newest first. ``total`` tasks match the filter,
    ``by_status`` counts them per status; tasks are listed without their logs."""

    tasks: list[Task]
    total: int
    by_status: dict[str, int]
    offset: int
    limit: int
    last_seq: int


class EventViewPage(Record, kw_only=True):
    """Matching events just before a point, oldest first; ``before`` is what to pass to go
    further back (null: there is nothing older)."""

    events: list[Event]
    before: int | None = None


class OrchestrationInfo(Record, kw_only=True):
    """One definition, or one file that does not load. ``source`` is relative to the
    definitions folder; non-empty ``problems`` (``line N: path: message``) means the file is
    broken (its last good version, if any, still runs)."""

    id: str
    name: str
    description: str = ""
    steps: int = 0
    source: str = ""
    version: str = ""
    problems: list[str] = []

    @property
    def valid(self) -> bool:
        return not self.problems


class OrchestrationInfoList(Record, kw_only=True):
    """Every current definition and every broken file, by id then file."""

    data: list[OrchestrationInfo]


class IdMatches(Record, kw_only=True):
    """Ids of ``kind`` that contain ``text``, newest first; ``more`` when over the limit."""

    kind: str
    text: str
    ids: list[str]
    more: bool
