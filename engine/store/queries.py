"""The named queries: every statement the engine's services run, by name, per store.

Why names instead of SQL in the services: a second store (PostgreSQL, issue 16) must run
the same operations in its own dialect. The services say *what* (``Q.task_claim``);
each store's query file says *how* (``engine/store/sqlite.sql``). ``Q`` and ``F`` below are
the interface; a store's file must define exactly these names (checked when it is loaded,
and by ``tests/engine/test_queries.py`` with EXPLAIN against the real schema).

File format (procrastinate's ``sql/queries.sql`` is the model)::

    -- name: task_by_id
    -- Optional comment lines say why.
    SELECT {task_columns} FROM tasks WHERE id = :id

    -- filter: task_status
    status = :status

    -- fragment: task_columns
    id, type, priority, ...

- ``-- name:`` a statement (a member of ``Q``); ``-- filter:`` a condition a statement's
  ``{where}`` slot may be given at run time (a member of ``F``), joined with AND
  (``1 = 1`` when none); ``-- fragment:`` text reused with ``{fragment}`` inside the same
  file, substituted when the file is loaded (column lists).
- **Parameters are named** (``:name``) in every store's file and passed as a mapping.
  A store rewrites them to its driver's positional markers once, when a statement is first
  used (``positional``: SQLite ``?1``, asyncpg ``$1``), and binds the mapping in that order
  with ``operator.itemgetter`` (about twice as fast as sqlite3's own named binding).
  A list of values (event-type prefixes, search words) is passed as ``Many(...)``: SQLite
  binds it as a JSON array (read with ``json_each``), PostgreSQL as an array.
- **Column order is part of the contract** where a statement's rows go through
  ``engine.rows`` (``task_columns``, ``agent_columns``, ``approval_columns``,
  ``event_columns``, ``audit_columns``): a store lists them in the order the fragment here
  gives.
- Names start with the table's owner (``task_``, ``agent_``, ``approval_``, ``run_``,
  ``session_``, ``metrics_``, ``event_``, ``audit_``, ``revocation_``, ``webhook_``,
  ``action_link_``); only that service runs them.
  Cross-table reads for dashboards are ``stats_`` and ``view_`` (read-only).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, TypeAlias

Params: TypeAlias = Mapping[str, Any]
Row: TypeAlias = tuple[Any, ...]
NO_PARAMS: Final[Params] = {}
"""No parameters (a plain dict: drivers such as sqlite3 bind only real dicts; never mutated)."""


class Many(tuple[Any, ...]):
    """A list of values bound as one parameter (SQLite: a JSON array; PostgreSQL: an array)."""

    __slots__ = ()


class Q(StrEnum):
    """Every statement a service runs. Grouped by the table's owner."""

    # tasks and task_logs (engine.tasks.TaskService)
    task_by_id = "task_by_id"
    task_id_by_key = "task_id_by_key"
    task_logs = "task_logs"
    task_with_logs = "task_with_logs"
    task_insert = "task_insert"
    task_log_insert = "task_log_insert"
    task_count = "task_count"
    task_count_by_kind = "task_count_by_kind"
    task_page = "task_page"
    task_active = "task_active"
    task_claim = "task_claim"
    task_mark_started = "task_mark_started"
    task_extend_lease = "task_extend_lease"
    task_extend_leases_of = "task_extend_leases_of"
    task_set_progress = "task_set_progress"
    task_mark_finished = "task_mark_finished"
    task_complete_held = "task_complete_held"
    task_requeue = "task_requeue"
    task_held_by = "task_held_by"
    task_reset_for_retry = "task_reset_for_retry"
    task_set_priority = "task_set_priority"
    task_set_status = "task_set_status"
    task_lease_expired = "task_lease_expired"
    task_due = "task_due"
    task_sla_overdue = "task_sla_overdue"
    task_mark_sla_breached = "task_mark_sla_breached"
    # agents (engine.agents.AgentService)
    agent_by_id = "agent_by_id"
    agent_exists = "agent_exists"
    agent_insert = "agent_insert"
    agent_count = "agent_count"
    agent_page = "agent_page"
    agent_all = "agent_all"
    agent_update = "agent_update"
    agent_delete = "agent_delete"
    agent_heartbeat = "agent_heartbeat"
    agent_health_rows = "agent_health_rows"
    agent_set_health = "agent_set_health"
    agent_claim_slot = "agent_claim_slot"
    agent_type = "agent_type"
    agent_bind_owner = "agent_bind_owner"
    agent_owned_by = "agent_owned_by"
    agent_owners_of_type = "agent_owners_of_type"
    agent_note_claimed = "agent_note_claimed"
    agent_note_released = "agent_note_released"
    agent_note_completed = "agent_note_completed"
    agent_note_failed = "agent_note_failed"
    # approvals (engine.approvals.ApprovalService)
    approval_by_id = "approval_by_id"
    approval_insert = "approval_insert"
    approval_pending = "approval_pending"
    approval_history = "approval_history"
    approval_for_run = "approval_for_run"
    approval_decide = "approval_decide"
    approval_cancel_pending = "approval_cancel_pending"
    approval_overdue = "approval_overdue"
    approval_sweep_due = "approval_sweep_due"
    approval_update_routing = "approval_update_routing"
    approval_decided_since = "approval_decided_since"
    approval_overdue_count = "approval_overdue_count"
    approval_pending_by_priority = "approval_pending_by_priority"
    # runs (engine.orchestrations.runs.RunService)
    run_doc = "run_doc"
    run_definition = "run_definition"
    run_status = "run_status"
    run_running_ids = "run_running_ids"
    run_page = "run_page"
    run_count = "run_count"
    run_insert = "run_insert"
    run_save = "run_save"
    # workflow sessions (engine.orchestrations.sessions.SessionService)
    session_by_id = "session_by_id"
    session_insert = "session_insert"
    session_turns = "session_turns"
    session_page = "session_page"
    session_count = "session_count"
    session_turn_insert = "session_turn_insert"
    session_save = "session_save"
    # metrics_minute (engine.stats.StatsService)
    metrics_note_created = "metrics_note_created"
    metrics_note_completed = "metrics_note_completed"
    metrics_note_failed = "metrics_note_failed"
    metrics_series = "metrics_series"
    metrics_completed_since = "metrics_completed_since"
    # events (the store's emit and engine.events.EventBus)
    event_insert = "event_insert"
    event_last_seq = "event_last_seq"
    event_after = "event_after"
    event_before = "event_before"
    event_prune = "event_prune"
    # audit_log (engine.audit)
    audit_insert = "audit_insert"
    audit_head = "audit_head"
    audit_query = "audit_query"
    audit_rows_after = "audit_rows_after"
    # revocations (engine.revocations.RevocationService)
    revocation_put = "revocation_put"
    revocation_active = "revocation_active"
    revocation_prune = "revocation_prune"
    # webhook_outbox (engine.webhooks.WebhookService)
    webhook_enqueue = "webhook_enqueue"
    webhook_due = "webhook_due"
    webhook_settle = "webhook_settle"
    webhook_by_id = "webhook_by_id"
    webhook_page = "webhook_page"
    webhook_requeue = "webhook_requeue"
    # action_link_uses (engine.action_links.ActionLinks)
    action_link_used = "action_link_used"
    action_link_spend = "action_link_spend"
    # cross-table reads (read-only): engine.stats and engine.views
    stats_tasks_by_status_priority = "stats_tasks_by_status_priority"
    stats_pending_approvals = "stats_pending_approvals"
    stats_active_agents = "stats_active_agents"
    view_approvals_by_priority = "view_approvals_by_priority"
    view_agents_by_health = "view_agents_by_health"
    view_runs_by_status = "view_runs_by_status"
    view_task_counts = "view_task_counts"
    view_tasks_unfinished = "view_tasks_unfinished"
    view_tasks_finished = "view_tasks_finished"
    view_task_ids = "view_task_ids"
    view_run_ids = "view_run_ids"
    view_agent_ids = "view_agent_ids"
    view_approval_ids = "view_approval_ids"


class F(StrEnum):
    """Conditions a statement's ``{where}`` slot can be given at run time."""

    task_status = "task_status"
    task_statuses = "task_statuses"
    task_priority = "task_priority"
    task_agent = "task_agent"
    task_type = "task_type"
    task_run = "task_run"
    task_created_after = "task_created_after"
    task_created_before = "task_created_before"
    task_words = "task_words"
    agent_status = "agent_status"
    agent_type = "agent_type"
    agent_health = "agent_health"
    run_status = "run_status"
    run_orchestration = "run_orchestration"
    event_types = "event_types"
    event_task = "event_task"
    event_run = "event_run"
    event_agent = "event_agent"
    event_words = "event_words"
    audit_object_type = "audit_object_type"
    audit_object_id = "audit_object_id"
    audit_principal = "audit_principal"
    audit_action = "audit_action"
    audit_action_prefix = "audit_action_prefix"
    audit_since = "audit_since"
    audit_until = "audit_until"
    webhook_status = "webhook_status"
    webhook_name = "webhook_name"


WHERE_SLOT: Final = "{where}"
_HEADER = re.compile(r"^--\s*(name|filter|fragment):\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")
_MACRO = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class QueryFileError(ValueError):
    """A store's query file does not define the interface (a name missing, unknown, twice)."""


@dataclass(frozen=True, slots=True)
class QuerySet:
    """One store's statements and filters, by name."""

    statements: Mapping[Q, str]
    filters: Mapping[F, str]

    def compose(self, query: Q, where: tuple[F, ...]) -> str:
        """The statement with its ``{where}`` slot filled (``1 = 1`` when ``where`` is empty)."""
        text = self.statements[query]
        if WHERE_SLOT not in text:
            if where:
                raise ValueError(f"query {query} takes no filters (given {list(where)})")
            return text
        condition = " AND ".join(f"({self.filters[f]})" for f in where) or "1 = 1"
        return text.replace(WHERE_SLOT, condition)


def parse(text: str, source: str = "<queries>") -> QuerySet:
    """Read a query file; raise QueryFileError unless it defines exactly ``Q`` and ``F``."""
    blocks: dict[tuple[str, str], list[str]] = {}
    current: list[str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line.strip())
        if header:
            key = (header.group(1), header.group(2))
            if key in blocks:
                raise QueryFileError(f"{source}:{number}: {key[0]} {key[1]} is defined twice")
            current = blocks[key] = []
        elif current is not None:
            stripped = line.strip()
            if stripped and not stripped.startswith("--"):
                current.append(line.rstrip())
    fragments = {name: _text(lines) for (kind, name), lines in blocks.items()
                 if kind == "fragment"}

    def expand(name: str, lines: list[str]) -> str:
        def one(match: re.Match[str]) -> str:
            key = match.group(1)
            if key == "where":
                return WHERE_SLOT
            if key not in fragments:
                raise QueryFileError(f"{source}: {name} uses an undefined fragment {{{key}}}")
            return fragments[key]
        return _MACRO.sub(one, _text(lines))

    statements = {name: expand(name, lines) for (kind, name), lines in blocks.items()
                  if kind == "name"}
    filters = {name: expand(name, lines) for (kind, name), lines in blocks.items()
               if kind == "filter"}
    _check_names(source, "statement", set(statements), {q.value for q in Q})
    _check_names(source, "filter", set(filters), {f.value for f in F})
    return QuerySet(statements={Q(name): sql for name, sql in statements.items()},
                    filters={F(name): sql for name, sql in filters.items()})


_PARAM = re.compile(r"'(?:[^']|'')*'|(?<!:):([A-Za-z_][A-Za-z0-9_]*)")


def positional(sql: str, marker: Callable[[int], str]) -> tuple[str, tuple[str, ...]]:
    """``sql`` with each ``:name`` replaced by ``marker(n)`` (n from 1, the same n for every
    use of one name; string literals untouched), and the names in order. A store binds a
    mapping with ``operator.itemgetter(*names)`` (SQLite: ``?n``; asyncpg: ``$n``)."""
    names: dict[str, int] = {}

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)
        number = names.setdefault(name, len(names) + 1)
        return marker(number)

    return _PARAM.sub(one, sql), tuple(names)


def load(path: Path) -> QuerySet:
    return parse(path.read_text(encoding="utf-8"), str(path))


def _text(lines: list[str]) -> str:
    return " ".join(line.strip() for line in lines).rstrip(";").strip()


def _check_names(source: str, kind: str, found: set[str], expected: set[str]) -> None:
    missing, unknown = sorted(expected - found), sorted(found - expected)
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown {', '.join(unknown)}")
        raise QueryFileError(f"{source}: {kind}s do not match the interface: {'; '.join(parts)}")
