"""Versioned schema, one list for both stores. Each entry is applied once, in order, inside
a transaction at start; its number (position + 1) is the schema version on either store.

Add a new entry to change the schema; never edit one that has shipped. An entry is:

- a string of ``;``-separated statements, or a list of statements (when one contains a
  ``;``), written in SQLite's dialect. PostgreSQL runs the same text through ``to_postgres``
  (REAL -> DOUBLE PRECISION, INTEGER -> BIGINT, BLOB -> BYTEA, INTEGER PRIMARY KEY
  AUTOINCREMENT -> BIGSERIAL PRIMARY KEY): plain tables, columns and indexes need nothing
  more (``ALTER TABLE approvals ADD COLUMN x TEXT`` works on both as it is);
- ``Dialects(sqlite=..., postgres=...)`` when the two need different text (triggers,
  functions, anything ``to_postgres`` does not cover); each side is a string or a list as
  above, and ``postgres`` is taken as written (not translated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, TypeAlias

Dialect: TypeAlias = Literal["sqlite", "postgres"]
Script: TypeAlias = str | list[str]


@dataclass(frozen=True)
class Dialects:
    """One migration whose text differs per store."""

    sqlite: Script
    postgres: Script


Migration: TypeAlias = Script | Dialects

_PG_TYPES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b", re.I), "BIGSERIAL PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b", re.I), "BIGINT"),
    (re.compile(r"\bREAL\b", re.I), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b", re.I), "BYTEA"),
]


def to_postgres(statement: str) -> str:
    """SQLite DDL as PostgreSQL DDL, for the portable subset (types and auto-increment)."""
    for pattern, replacement in _PG_TYPES:
        statement = pattern.sub(replacement, statement)
    return statement


def statements(migration: Migration, dialect: Dialect) -> list[str]:
    """The statements of one migration for one store, in order (blank ones left out)."""
    if isinstance(migration, Dialects):
        script = migration.sqlite if dialect == "sqlite" else migration.postgres
        translate = False
    else:
        script, translate = migration, dialect == "postgres"
    parts = script if isinstance(script, list) else script.split(";")
    out = [part.strip() for part in parts if part.strip()]
    return [to_postgres(part) for part in out] if translate else out


MIGRATIONS: list[Migration] = [
    # 1: the core domain
    """
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        priority TEXT NOT NULL,
        status TEXT NOT NULL,
        assigned_agent TEXT NOT NULL,
        payload TEXT NOT NULL,
        source TEXT,
        sla_target REAL,
        metadata TEXT NOT NULL,
        agent_id TEXT,
        claimed_by TEXT,
        progress INTEGER NOT NULL DEFAULT 0,
        result TEXT,
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        idempotency_key TEXT UNIQUE,
        schedule TEXT,
        approval_id TEXT,
        run_id TEXT,
        step_id TEXT,
        lease_id TEXT,
        lease_expires_at REAL,
        available_at REAL NOT NULL,
        sla_breached INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        started_at REAL,
        completed_at REAL,
        qseq INTEGER NOT NULL
    );
    CREATE INDEX tasks_ready ON tasks (assigned_agent, priority, available_at, qseq)
        WHERE status = 'assigned';
    CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE status = 'in_progress';
    CREATE INDEX tasks_pending ON tasks (available_at) WHERE status = 'pending';
    CREATE INDEX tasks_sla ON tasks (created_at)
        WHERE sla_target IS NOT NULL AND sla_breached = 0
        AND status NOT IN ('completed', 'failed', 'rejected', 'cancelled');
    CREATE INDEX tasks_status_created ON tasks (status, created_at);
    CREATE INDEX tasks_created ON tasks (created_at);
    CREATE INDEX tasks_claimed_by ON tasks (claimed_by, status);
    CREATE INDEX tasks_run ON tasks (run_id);

    CREATE TABLE task_logs (
        task_id TEXT NOT NULL,
        timestamp REAL NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX task_logs_task ON task_logs (task_id, timestamp);

    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        status TEXT NOT NULL,
        max_concurrent_tasks INTEGER NOT NULL,
        timeout REAL NOT NULL,
        retry_attempts INTEGER NOT NULL,
        environment TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        last_heartbeat REAL,
        first_heartbeat REAL,
        health TEXT NOT NULL,
        running INTEGER NOT NULL DEFAULT 0,
        tasks_completed INTEGER NOT NULL DEFAULT 0,
        tasks_failed INTEGER NOT NULL DEFAULT 0,
        response_ms_total REAL NOT NULL DEFAULT 0,
        memory_usage REAL,
        cpu_usage REAL,
        deleted INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX agents_type ON agents (type);

    CREATE TABLE approvals (
        approval_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        priority TEXT NOT NULL,
        status TEXT NOT NULL,
        task_id TEXT,
        run_id TEXT,
        step_id TEXT,
        reason TEXT,
        prompt TEXT,
        fields TEXT NOT NULL,
        agent_context TEXT,
        allowed_roles TEXT NOT NULL,
        allowed_users TEXT NOT NULL,
        timeout_action TEXT NOT NULL,
        timeout_response TEXT,
        created_at REAL NOT NULL,
        expires_at REAL,
        decided_by TEXT,
        decided_at REAL,
        response TEXT,
        rejection_reason TEXT
    );
    CREATE INDEX approvals_pending ON approvals (created_at) WHERE status = 'pending';
    CREATE INDEX approvals_expiry ON approvals (expires_at) WHERE status = 'pending';
    CREATE INDEX approvals_decided ON approvals (decided_at);
    CREATE INDEX approvals_task ON approvals (task_id);
    CREATE INDEX approvals_run ON approvals (run_id, step_id);

    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event_type TEXT NOT NULL,
        timestamp REAL NOT NULL,
        source_agent TEXT,
        payload TEXT NOT NULL,
        task_id TEXT,
        run_id TEXT,
        agent_id TEXT,
        trace_id TEXT,
        priority TEXT
    );
    CREATE INDEX events_timestamp ON events (timestamp);

    CREATE TABLE metrics_minute (
        minute INTEGER PRIMARY KEY,
        created INTEGER NOT NULL DEFAULT 0,
        completed INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        response_ms_sum REAL NOT NULL DEFAULT 0
    );

    CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    """,
    # 2: orchestration runs, checkpointed after every step
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        orchestration_id TEXT NOT NULL,
        status TEXT NOT NULL,
        doc TEXT NOT NULL,
        definition TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX runs_status ON runs (status, created_at);
    CREATE INDEX runs_orchestration ON runs (orchestration_id, created_at);
    CREATE INDEX runs_created ON runs (created_at);
    """,
    # 3: seed 002's workflow-development sessions and their turns
    """
    CREATE TABLE workflow_sessions (
        session_id TEXT PRIMARY KEY,
        doc TEXT NOT NULL,
        turns INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX workflow_sessions_updated ON workflow_sessions (updated_at);

    CREATE TABLE workflow_session_turns (
        session_id TEXT NOT NULL,
        turn INTEGER NOT NULL,
        doc TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (session_id, turn)
    );
    """,
    # 4: the audit log (engine.audit): append-only, hash-chained. A list of statements
    # because the triggers contain semicolons; PostgreSQL's triggers call a function.
    Dialects(sqlite=[
        """
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            principal TEXT NOT NULL,
            role TEXT NOT NULL,
            auth_method TEXT NOT NULL,
            action TEXT NOT NULL,
            object_type TEXT NOT NULL,
            object_id TEXT,
            before TEXT,
            after TEXT,
            reason TEXT,
            request_id TEXT,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )
        """,
        "CREATE INDEX audit_object ON audit_log (object_type, object_id, seq)",
        "CREATE INDEX audit_principal ON audit_log (principal, seq)",
        "CREATE INDEX audit_at ON audit_log (at)",
        """
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
        """,
        """
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
        """,
    ], postgres=[
        """
        CREATE TABLE audit_log (
            seq BIGINT PRIMARY KEY,
            at DOUBLE PRECISION NOT NULL,
            principal TEXT NOT NULL,
            role TEXT NOT NULL,
            auth_method TEXT NOT NULL,
            action TEXT NOT NULL,
            object_type TEXT NOT NULL,
            object_id TEXT,
            before TEXT,
            after TEXT,
            reason TEXT,
            request_id TEXT,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )
        """,
        "CREATE INDEX audit_object ON audit_log (object_type, object_id, seq)",
        "CREATE INDEX audit_principal ON audit_log (principal, seq)",
        "CREATE INDEX audit_at ON audit_log (at)",
        """
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$
        """,
        """
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
        """,
    ]),
    # 5: who owns what (issue 9): a task's creator and holder, an agent id's owner
    """
    ALTER TABLE tasks ADD COLUMN created_by TEXT;
    ALTER TABLE tasks ADD COLUMN claimed_principal TEXT;
    ALTER TABLE agents ADD COLUMN owner TEXT
    """,
    # 6: separation of duties (issue 9): who asked for an approval (the task's creator, or
    # whoever retried it), and whether it was decided by an admin outside the gate's list
    """
    ALTER TABLE approvals ADD COLUMN requested_by TEXT;
    ALTER TABLE approvals ADD COLUMN break_glass INTEGER NOT NULL DEFAULT 0
    """,
    # 7: revoked tokens (issue 11): one JWT by its jti, or every token of a subject issued
    # up to a time; kept until the tokens they refuse have expired
    """
    CREATE TABLE revocations (
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        not_before REAL,
        until REAL NOT NULL,
        revoked_at REAL NOT NULL,
        revoked_by TEXT NOT NULL,
        reason TEXT,
        PRIMARY KEY (kind, value)
    )
    """,
    # 8: the webhook outbox (engine.webhooks): one row per event per receiver, written in
    # the event's own transaction; delivered, retried and dead-lettered from here
    """
    CREATE TABLE webhook_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        webhook TEXT NOT NULL,
        event_seq INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        order_key TEXT NOT NULL,
        body BLOB NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_status INTEGER,
        last_error TEXT,
        created_at REAL NOT NULL,
        delivered_at REAL
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at, id)
        WHERE status = 'pending';
    CREATE INDEX webhook_outbox_order ON webhook_outbox (webhook, order_key, id)
        WHERE status = 'pending';
    CREATE INDEX webhook_outbox_status ON webhook_outbox (status, id)
    """,
    # 9: single-use approval action links (engine.action_links): a link's nonce once used
    """
    CREATE TABLE action_link_uses (
        nonce TEXT PRIMARY KEY,
        approval_id TEXT NOT NULL,
        principal TEXT NOT NULL,
        used_at REAL NOT NULL
    )
    """,
    # 10: approvals that find their people (issue 14): assignees and the set they may hand
    # an approval to, a quorum of distinct votes, an SLA whose reminders and escalation
    # steps are swept from here (next_sweep_at), so a restart resumes them
    [
        "ALTER TABLE approvals ADD COLUMN assignees TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE approvals ADD COLUMN delegates TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE approvals ADD COLUMN quorum INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE approvals ADD COLUMN reject_quorum INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE approvals ADD COLUMN votes TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE approvals ADD COLUMN sla_seconds REAL",
        "ALTER TABLE approvals ADD COLUMN due_at REAL",
        "ALTER TABLE approvals ADD COLUMN on_timeout TEXT NOT NULL DEFAULT 'escalate'",
        "ALTER TABLE approvals ADD COLUMN reminders_sent INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE approvals ADD COLUMN escalations INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE approvals ADD COLUMN overdue INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE approvals ADD COLUMN next_sweep_at REAL",
        "CREATE INDEX approvals_sweep ON approvals (next_sweep_at) WHERE status = 'pending'"
        " AND next_sweep_at IS NOT NULL",
    ],
    # 11: task counts kept by triggers (issue 15): /stats and the totals of filtered task
    # pages read a few dozen rows instead of counting a million tasks on every request;
    # a run's tasks newest first straight from its index (the planner otherwise walks
    # tasks_created through every task looking for a run's few). PostgreSQL keeps counting
    # (its replicas write at once: a hot counter row would serialize them, and two updates
    # taking two counters in opposite orders would deadlock); it takes the index alone.
    Dialects(postgres=[
        "DROP INDEX tasks_run",
        "CREATE INDEX tasks_run ON tasks (run_id, created_at)",
    ], sqlite=[
        "DROP INDEX tasks_run",
        "CREATE INDEX tasks_run ON tasks (run_id, created_at)",
        """
        CREATE TABLE task_counts (
            status TEXT NOT NULL,
            priority TEXT NOT NULL,
            type TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (status, priority, type)
        ) WITHOUT ROWID
        """,
        """
        INSERT INTO task_counts (status, priority, type, count)
        SELECT status, priority, type, COUNT(*) FROM tasks GROUP BY status, priority, type
        """,
        """
        CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks
        BEGIN
          INSERT INTO task_counts (status, priority, type, count)
          VALUES (NEW.status, NEW.priority, NEW.type, 1)
          ON CONFLICT (status, priority, type) DO UPDATE SET count = count + 1;
        END
        """,
        """
        CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks
        BEGIN
          UPDATE task_counts SET count = count - 1
          WHERE status = OLD.status AND priority = OLD.priority AND type = OLD.type;
        END
        """,
        """
        CREATE TRIGGER task_counts_update AFTER UPDATE OF status, priority, type ON tasks
        WHEN OLD.status IS NOT NEW.status OR OLD.priority IS NOT NEW.priority
          OR OLD.type IS NOT NEW.type
        BEGIN
          UPDATE task_counts SET count = count - 1
          WHERE status = OLD.status AND priority = OLD.priority AND type = OLD.type;
          INSERT INTO task_counts (status, priority, type, count)
          VALUES (NEW.status, NEW.priority, NEW.type, 1)
          ON CONFLICT (status, priority, type) DO UPDATE SET count = count + 1;
        END
        """,
    ]),
]
