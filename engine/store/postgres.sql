-- The PostgreSQL store's named queries (format and rules: engine/store/queries.py).
-- The same names, parameters and column orders as sqlite.sql; the differences, and why:
-- - A Many(...) parameter arrives as an array: unnest(:x::text[]) or = ANY(:x::text[]).
-- - Statements a write op runs to pick work lock what they pick: the claim takes the head
--   of the ready queue with FOR UPDATE SKIP LOCKED (READ COMMITTED: replicas claiming at
--   once take different rows, none waits on another); the agent's slot row is locked so
--   two replicas cannot both fill its last slot.
-- - Event seqs are assigned in a serialized step: the writer buffers a batch's events and
--   inserts them just before COMMIT under a transaction advisory lock (held to commit), so
--   seqs become visible in commit order and a reader after seq N can never later find a
--   lower seq committing (see postgres.py, _write_events; event_insert is not on that path).
-- - A statement may start with lock statements separated by ";" (audit_head): the store
--   runs them first, as separate statements, so the read after them takes its READ
--   COMMITTED snapshot after the lock is held.
-- - The lock keys are :lock_* parameters the store fills (namespaced per schema).
-- - Booleans are stored as 0/1 (BIGINT), timestamps as epoch seconds (DOUBLE PRECISION),
--   JSON as TEXT: rows come back exactly as SQLite's do.
-- - LIKE is case-sensitive here: ILIKE matches SQLite's ASCII case-insensitive LIKE.

-- fragment: task_columns
id, type, priority, status, assigned_agent, payload, source, sla_target, metadata,
agent_id, claimed_by, progress, result, error, attempts, max_attempts, idempotency_key,
schedule, approval_id, run_id, step_id, lease_id, lease_expires_at, available_at,
sla_breached, created_at, updated_at, started_at, completed_at, created_by,
claimed_principal

-- fragment: agent_columns
id, name, type, status, max_concurrent_tasks, timeout, retry_attempts, environment,
created_at, updated_at, last_heartbeat, first_heartbeat, health, running,
tasks_completed, tasks_failed, response_ms_total, memory_usage, cpu_usage, owner

-- fragment: approval_columns
approval_id, kind, priority, status, task_id, run_id, step_id, reason, prompt, fields,
agent_context, allowed_roles, allowed_users, timeout_action, timeout_response, created_at,
expires_at, decided_by, decided_at, response, rejection_reason, requested_by, break_glass,
assignees, delegates, quorum, reject_quorum, votes, sla_seconds, due_at, on_timeout,
reminders_sent, escalations, overdue, next_sweep_at

-- fragment: event_columns
seq, event_type, timestamp, source_agent, payload, task_id, run_id, agent_id, trace_id,
priority

-- fragment: audit_columns
seq, at, principal, role, auth_method, action, object_type, object_id, before, after,
reason, request_id, prev_hash, hash

-- fragment: unfinished
('pending', 'awaiting_approval', 'assigned', 'in_progress')

-- fragment: finished
('completed', 'failed', 'rejected', 'cancelled')

-- fragment: task_words_cte
task_words(pattern) AS MATERIALIZED (SELECT '%' || replace(replace(replace(value, '\', '\\'),
  '%', '\%'), '_', '\_') || '%' FROM unnest(:words::text[]) AS value)


-- ==== tasks and task_logs (TaskService) =================================================

-- name: task_by_id
SELECT {task_columns} FROM tasks WHERE id = :id

-- name: task_id_by_key
SELECT id FROM tasks WHERE idempotency_key = :key

-- name: task_logs
SELECT timestamp, level, message FROM task_logs WHERE task_id = :task_id
ORDER BY timestamp, ctid

-- name: task_with_logs
-- A task and its log lines in one statement (one snapshot, no transaction around two reads):
-- one row per line, the task's columns first; one row with NULL line columns when it has none.
SELECT t.*, l.timestamp, l.level, l.message
FROM (SELECT {task_columns} FROM tasks WHERE id = :id) AS t
LEFT JOIN task_logs AS l ON l.task_id = t.id
ORDER BY l.timestamp, l.ctid

-- name: task_insert
-- Another replica may insert the same idempotency key between our lookup and this insert
-- (READ COMMITTED): then nothing is inserted (0 rows) and the op returns that task.
INSERT INTO tasks ({task_columns}, qseq) VALUES (
  :id, :type, :priority, :status, :assigned_agent, :payload, :source, :sla_target,
  :metadata, :agent_id, :claimed_by, :progress, :result, :error, :attempts, :max_attempts,
  :idempotency_key, :schedule, :approval_id, :run_id, :step_id, :lease_id,
  :lease_expires_at, :available_at, :sla_breached, :created_at, :updated_at, :started_at,
  :completed_at, :created_by, :claimed_principal, :qseq)
ON CONFLICT (idempotency_key) DO NOTHING

-- name: task_log_insert
INSERT INTO task_logs (task_id, timestamp, level, message)
VALUES (:task_id, :timestamp, :level, :message)

-- name: task_count
WITH {task_words_cte}
SELECT COUNT(*) FROM tasks WHERE {where}

-- name: task_count_by_kind
-- A page's total filtered by nothing but status, priority and type (each NULL when not
-- filtered). Counted here (SQLite reads counts its triggers keep; see migration 11).
SELECT COUNT(*) FROM tasks
WHERE (:status::text IS NULL OR status = :status::text)
  AND (:priority::text IS NULL OR priority = :priority::text)
  AND (:type::text IS NULL OR type = :type::text)

-- name: task_page
WITH {task_words_cte}
SELECT {task_columns} FROM tasks WHERE {where}
ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset

-- name: task_active
SELECT {task_columns} FROM tasks WHERE status IN {unfinished}
ORDER BY priority, created_at, id LIMIT :limit

-- name: task_claim
-- Lease the head of the agent type's ready queue in one statement (index tasks_ready):
-- most urgent, then due first, then in creation order; tasks targeted at another agent are
-- skipped; a row another replica is claiming is skipped, not waited for. Returns the
-- claimed row (attempts already counted), or no row.
UPDATE tasks SET status = 'in_progress', claimed_by = :agent_id,
  claimed_principal = :principal, lease_id = :lease_id, lease_expires_at = :lease_expires_at,
  attempts = attempts + 1, started_at = :now, updated_at = :now
WHERE id = (
  SELECT id FROM tasks
  WHERE status = 'assigned' AND assigned_agent = :agent_type AND available_at <= :now
    AND (agent_id IS NULL OR agent_id = :agent_id)
  ORDER BY priority, available_at, qseq LIMIT 1
  FOR UPDATE SKIP LOCKED)
RETURNING {task_columns}

-- name: task_mark_started
UPDATE tasks SET status = 'in_progress', started_at = :now, updated_at = :now,
  attempts = :attempts, lease_id = :lease_id, lease_expires_at = :lease_expires_at,
  claimed_principal = :principal
WHERE id = :id

-- name: task_extend_lease
UPDATE tasks SET lease_expires_at = :lease_expires_at WHERE id = :id

-- name: task_extend_leases_of
UPDATE tasks SET lease_expires_at = :lease_expires_at
WHERE claimed_by = :agent_id AND status = 'in_progress'

-- name: task_set_progress
UPDATE tasks SET progress = :progress, lease_expires_at = :lease_expires_at,
  updated_at = :now
WHERE id = :id

-- name: task_mark_finished
UPDATE tasks SET status = :status, result = :result, error = :error, completed_at = :now,
  updated_at = :now, progress = :progress, started_at = :started_at, lease_id = NULL,
  lease_expires_at = NULL
WHERE id = :id

-- name: task_complete_held
-- A holder's completion in one statement: only while in progress under this very lease
-- (anything else goes through the full checks, which say why not). Returns the finished row.
UPDATE tasks SET status = 'completed', result = COALESCE(:result::text, result), error = NULL,
  completed_at = :now, updated_at = :now, progress = 100,
  started_at = COALESCE(started_at, :now), lease_id = NULL, lease_expires_at = NULL
WHERE id = :id AND status = 'in_progress' AND lease_id = :lease_id
RETURNING {task_columns}

-- name: task_requeue
UPDATE tasks SET status = 'assigned', claimed_by = NULL, claimed_principal = NULL,
  lease_id = NULL, lease_expires_at = NULL, available_at = :available_at, updated_at = :now,
  progress = :progress, attempts = :attempts
WHERE id = :id

-- name: task_held_by
SELECT {task_columns} FROM tasks WHERE claimed_by = :agent_id AND status = 'in_progress'

-- name: task_reset_for_retry
UPDATE tasks SET status = :status, error = NULL, attempts = 0, completed_at = NULL,
  available_at = :now, updated_at = :now, claimed_by = NULL, claimed_principal = NULL,
  progress = 0, approval_id = :approval_id
WHERE id = :id

-- name: task_set_priority
UPDATE tasks SET priority = :priority, status = :status, approval_id = :approval_id,
  updated_at = :now
WHERE id = :id

-- name: task_set_status
UPDATE tasks SET status = :status, updated_at = :now WHERE id = :id

-- name: task_lease_expired
SELECT {task_columns} FROM tasks
WHERE status = 'in_progress' AND lease_expires_at < :now LIMIT 1000
FOR UPDATE SKIP LOCKED

-- name: task_due
SELECT {task_columns} FROM tasks WHERE status = 'pending' AND available_at <= :now LIMIT 1000
FOR UPDATE SKIP LOCKED

-- name: task_sla_overdue
SELECT {task_columns} FROM tasks
WHERE sla_target IS NOT NULL AND sla_breached = 0 AND status NOT IN {finished}
  AND created_at + sla_target < :now
LIMIT 1000

-- name: task_mark_sla_breached
UPDATE tasks SET sla_breached = 1 WHERE id = :id

-- filter: task_status
status = :status

-- filter: task_statuses
status = ANY(:statuses::text[])

-- filter: task_priority
priority = :priority

-- filter: task_agent
agent_id = :agent_id OR claimed_by = :agent_id

-- filter: task_type
type = :type

-- filter: task_run
run_id = :run_id

-- filter: task_created_after
created_at > :created_after

-- filter: task_created_before
created_at < :created_before

-- filter: task_words
-- Every word is in the id or one of the fields an operator reads. LIKE (ASCII
-- case-insensitive) field by field stops at the first field that has the word: about
-- half the cost of matching one concatenation (a whole-store scan: ~150 ms per 100k tasks).
-- Every task statement with a {where} slot defines the task_words CTE (:words always bound).
NOT EXISTS (SELECT 1 FROM task_words WHERE NOT (id ILIKE pattern ESCAPE '\'
  OR type ILIKE pattern ESCAPE '\' OR status ILIKE pattern ESCAPE '\'
  OR priority ILIKE pattern ESCAPE '\' OR assigned_agent ILIKE pattern ESCAPE '\'
  OR coalesce(claimed_by, '') ILIKE pattern ESCAPE '\' OR coalesce(agent_id, '') ILIKE pattern ESCAPE '\'
  OR coalesce(source, '') ILIKE pattern ESCAPE '\' OR coalesce(run_id, '') ILIKE pattern ESCAPE '\'))


-- ==== agents (AgentService) =============================================================

-- name: agent_by_id
SELECT {agent_columns} FROM agents WHERE id = :id AND deleted = 0

-- name: agent_exists
SELECT deleted FROM agents WHERE id = :id

-- name: agent_insert
INSERT INTO agents ({agent_columns}) VALUES (
  :id, :name, :type, :status, :max_concurrent_tasks, :timeout, :retry_attempts,
  :environment, :created_at, :updated_at, :last_heartbeat, :first_heartbeat, :health,
  :running, :tasks_completed, :tasks_failed, :response_ms_total, :memory_usage, :cpu_usage,
  :owner)

-- name: agent_count
SELECT COUNT(*) FROM agents WHERE deleted = 0 AND {where}

-- name: agent_page
SELECT {agent_columns} FROM agents WHERE deleted = 0 AND {where}
ORDER BY type, name, id LIMIT :limit OFFSET :offset

-- name: agent_all
SELECT {agent_columns} FROM agents WHERE deleted = 0 ORDER BY type, name, id

-- name: agent_update
UPDATE agents SET name = :name, max_concurrent_tasks = :max_concurrent_tasks,
  timeout = :timeout, retry_attempts = :retry_attempts, environment = :environment,
  status = :status, owner = :owner, updated_at = :now
WHERE id = :id

-- name: agent_delete
UPDATE agents SET deleted = 1, status = 'inactive', running = 0, updated_at = :now
WHERE id = :id

-- name: agent_heartbeat
UPDATE agents SET last_heartbeat = :now, first_heartbeat = :first_heartbeat,
  health = 'healthy', status = :status, cpu_usage = :cpu_usage,
  memory_usage = :memory_usage, updated_at = :now
WHERE id = :id

-- name: agent_health_rows
SELECT id, name, type, health, status, last_heartbeat FROM agents
WHERE deleted = 0 AND last_heartbeat IS NOT NULL

-- name: agent_set_health
UPDATE agents SET health = :health, status = :status WHERE id = :id

-- name: agent_claim_slot
SELECT type, running, max_concurrent_tasks, owner FROM agents WHERE id = :id FOR UPDATE

-- name: agent_type
SELECT type FROM agents WHERE id = :id AND deleted = 0

-- name: agent_bind_owner
UPDATE agents SET owner = :owner WHERE id = :id AND owner IS NULL

-- name: agent_owned_by
SELECT 1 FROM agents WHERE id = :id AND owner = :owner AND deleted = 0

-- name: agent_owners_of_type
SELECT COUNT(DISTINCT owner) FROM agents
WHERE type = :type AND deleted = 0 AND owner = ANY(:principals::text[])

-- name: agent_note_claimed
UPDATE agents SET running = running + 1 WHERE id = :id

-- name: agent_note_released
UPDATE agents SET running = GREATEST(running - 1, 0) WHERE id = :id

-- name: agent_note_completed
UPDATE agents SET running = GREATEST(running - :held, 0), tasks_completed = tasks_completed + 1,
  response_ms_total = response_ms_total + :ms
WHERE id = :id

-- name: agent_note_failed
UPDATE agents SET running = GREATEST(running - :held, 0), tasks_failed = tasks_failed + 1
WHERE id = :id

-- filter: agent_status
status = :status

-- filter: agent_type
type = :type

-- filter: agent_health
health = :health


-- ==== approvals (ApprovalService) =======================================================

-- name: approval_by_id
SELECT {approval_columns} FROM approvals WHERE approval_id = :approval_id

-- name: approval_insert
INSERT INTO approvals ({approval_columns}) VALUES (
  :approval_id, :kind, :priority, :status, :task_id, :run_id, :step_id, :reason, :prompt,
  :fields, :agent_context, :allowed_roles, :allowed_users, :timeout_action,
  :timeout_response, :created_at, :expires_at, :decided_by, :decided_at, :response,
  :rejection_reason, :requested_by, :break_glass, :assignees, :delegates, :quorum,
  :reject_quorum, :votes, :sla_seconds, :due_at, :on_timeout, :reminders_sent, :escalations,
  :overdue, :next_sweep_at)

-- name: approval_pending
SELECT {approval_columns} FROM approvals WHERE status = 'pending'
ORDER BY priority, created_at, approval_id

-- name: approval_history
SELECT {approval_columns} FROM approvals WHERE status != 'pending'
ORDER BY decided_at DESC LIMIT :limit

-- name: approval_for_run
SELECT {approval_columns} FROM approvals WHERE run_id = :run_id ORDER BY created_at

-- name: approval_decide
UPDATE approvals SET status = :status, decided_by = :decided_by, decided_at = :decided_at,
  response = :response, rejection_reason = :rejection_reason, break_glass = :break_glass,
  votes = :votes, next_sweep_at = NULL
WHERE approval_id = :approval_id

-- name: approval_cancel_pending
UPDATE approvals SET status = 'cancelled', decided_by = :decided_by,
  decided_at = :decided_at, break_glass = :break_glass
WHERE approval_id = :approval_id AND status = 'pending'

-- name: approval_overdue
SELECT approval_id, timeout_action, timeout_response, kind FROM approvals
WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= :now LIMIT 500

-- name: approval_sweep_due
-- Pending approvals whose next reminder, breach or escalation step has come (index
-- approvals_sweep): the SLA state lives in the row, so a restart picks the sweep up.
SELECT {approval_columns} FROM approvals
WHERE status = 'pending' AND next_sweep_at IS NOT NULL AND next_sweep_at <= :now
ORDER BY next_sweep_at LIMIT 200

-- name: approval_update_routing
UPDATE approvals SET priority = :priority, assignees = :assignees, delegates = :delegates,
  votes = :votes, reminders_sent = :reminders_sent, escalations = :escalations,
  overdue = :overdue, next_sweep_at = :next_sweep_at
WHERE approval_id = :approval_id AND status = 'pending'

-- name: approval_decided_since
SELECT priority, decided_at - created_at FROM approvals
WHERE status IN ('approved', 'rejected') AND decided_at >= :since

-- name: approval_pending_by_priority
SELECT priority, COUNT(*) FROM approvals WHERE status = 'pending' GROUP BY priority

-- name: approval_overdue_count
SELECT COUNT(*) FROM approvals WHERE status = 'pending' AND overdue = 1


-- ==== runs (RunService) =================================================================

-- name: run_doc
SELECT doc FROM runs WHERE run_id = :run_id

-- name: run_definition
SELECT definition FROM runs WHERE run_id = :run_id

-- name: run_status
SELECT status FROM runs WHERE run_id = :run_id

-- name: run_running_ids
SELECT run_id FROM runs WHERE status = 'running'

-- name: run_page
SELECT doc FROM runs WHERE {where} ORDER BY created_at DESC LIMIT :limit OFFSET :offset

-- name: run_count
SELECT COUNT(*) FROM runs WHERE {where}

-- name: run_insert
INSERT INTO runs (run_id, orchestration_id, status, doc, definition, created_at, updated_at)
VALUES (:run_id, :orchestration_id, :status, :doc, :definition, :now, :now)

-- name: run_save
UPDATE runs SET status = :status, doc = :doc, updated_at = :now WHERE run_id = :run_id

-- filter: run_status
status = :status

-- filter: run_orchestration
orchestration_id = :orchestration_id


-- ==== workflow sessions (SessionService) ================================================

-- name: session_by_id
SELECT session_id, doc, turns, created_at, updated_at FROM workflow_sessions
WHERE session_id = :session_id

-- name: session_insert
INSERT INTO workflow_sessions (session_id, doc, turns, created_at, updated_at)
VALUES (:session_id, :doc, 0, :now, :now)

-- name: session_turns
SELECT doc FROM workflow_session_turns WHERE session_id = :session_id ORDER BY turn

-- name: session_page
SELECT session_id, doc, turns, created_at, updated_at FROM workflow_sessions
ORDER BY updated_at DESC LIMIT :limit OFFSET :offset

-- name: session_count
SELECT COUNT(*) FROM workflow_sessions

-- name: session_turn_insert
INSERT INTO workflow_session_turns (session_id, turn, doc, created_at)
VALUES (:session_id, :turn, :doc, :now)

-- name: session_save
UPDATE workflow_sessions SET doc = :doc, turns = :turns, updated_at = :now
WHERE session_id = :session_id


-- ==== metrics_minute (StatsService) =====================================================

-- name: metrics_note_created
INSERT INTO metrics_minute (minute, created) VALUES (:minute, 1)
ON CONFLICT (minute) DO UPDATE SET created = metrics_minute.created + 1

-- name: metrics_note_completed
INSERT INTO metrics_minute (minute, completed, response_ms_sum) VALUES (:minute, 1, :ms)
ON CONFLICT (minute) DO UPDATE SET completed = metrics_minute.completed + 1,
  response_ms_sum = metrics_minute.response_ms_sum + excluded.response_ms_sum

-- name: metrics_note_failed
INSERT INTO metrics_minute (minute, failed) VALUES (:minute, 1)
ON CONFLICT (minute) DO UPDATE SET failed = metrics_minute.failed + 1

-- name: metrics_series
-- Per bucket of :bucket seconds from :minute on: created, completed, failed, response ms.
SELECT (minute * 60 / :bucket::bigint) * :bucket::bigint AS b, SUM(created)::bigint,
  SUM(completed)::bigint, SUM(failed)::bigint, SUM(response_ms_sum)
FROM metrics_minute WHERE minute >= :minute GROUP BY b ORDER BY b

-- name: metrics_completed_since
SELECT COALESCE(SUM(completed), 0)::bigint FROM metrics_minute WHERE minute >= :minute


-- ==== events (the store's emit, EventBus) ===============================================

-- name: event_insert
-- The advisory lock first (held to commit: seqs are handed out in commit order), then the
-- seq; RETURNING it is how emit learns it.
INSERT INTO events (event_type, timestamp, source_agent, payload, task_id, run_id, agent_id,
  trace_id, priority)
SELECT :event_type, :timestamp, :source_agent, :payload, :task_id, :run_id, :agent_id,
  :trace_id, :priority FROM (SELECT pg_advisory_xact_lock(:lock_events)) AS serialized
RETURNING seq

-- name: event_last_seq
SELECT MAX(seq) FROM events

-- name: event_after
-- Oldest first between two seqs (exclusive). :types and :words are always bound.
WITH wanted(prefix) AS MATERIALIZED (SELECT value FROM unnest(:types::text[]) AS value),
  event_words(word) AS MATERIALIZED (SELECT lower(value) FROM unnest(:words::text[]) AS value)
SELECT {event_columns} FROM events WHERE seq > :after AND seq < :before AND {where}
ORDER BY seq LIMIT :limit

-- name: event_before
-- Newest first between two seqs (exclusive): scrolling back from :before.
WITH wanted(prefix) AS MATERIALIZED (SELECT value FROM unnest(:types::text[]) AS value),
  event_words(word) AS MATERIALIZED (SELECT lower(value) FROM unnest(:words::text[]) AS value)
SELECT {event_columns} FROM events WHERE seq > :after AND seq < :before AND {where}
ORDER BY seq DESC LIMIT :limit

-- name: event_prune
-- At most :limit of the oldest events before :cutoff: retention deletes in bounded steps.
DELETE FROM events WHERE seq IN (
  SELECT seq FROM events WHERE timestamp < :cutoff ORDER BY timestamp LIMIT :limit)

-- filter: event_types
EXISTS (SELECT 1 FROM wanted WHERE substr(event_type, 1, length(prefix)) = prefix)

-- filter: event_task
task_id = :task_id

-- filter: event_run
run_id = :run_id

-- filter: event_agent
agent_id = :agent_id

-- filter: event_words
NOT EXISTS (SELECT 1 FROM event_words WHERE strpos(lower(event_type || ' ' || seq::text || ' '
  || coalesce(source_agent, '') || ' ' || coalesce(task_id, '') || ' ' || coalesce(run_id, '')
  || ' ' || coalesce(agent_id, '') || ' ' || payload), word) = 0)


-- ==== audit_log (engine.audit) ==========================================================

-- name: audit_insert
INSERT INTO audit_log ({audit_columns}) VALUES (
  :seq, :at, :principal, :role, :auth_method, :action, :object_type, :object_id, :before,
  :after, :reason, :request_id, :prev_hash, :hash)

-- name: audit_head
-- The next row's seq is this one's + 1: the chain is extended by one writer at a time
-- (a transaction lock held to commit, taken before the read so its snapshot sees the
-- last row another replica committed).
SELECT pg_advisory_xact_lock(:lock_audit);
SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1

-- name: audit_query
SELECT {audit_columns} FROM audit_log WHERE seq > :after AND {where} ORDER BY seq LIMIT :limit

-- name: audit_rows_after
SELECT {audit_columns} FROM audit_log WHERE seq > :after ORDER BY seq LIMIT :limit

-- filter: audit_object_type
object_type = :object_type

-- filter: audit_object_id
object_id = :object_id

-- filter: audit_principal
principal = :principal

-- filter: audit_action
action = :action

-- filter: audit_action_prefix
substr(action, 1, length(:action_prefix::text)) = :action_prefix::text

-- filter: audit_since
at >= :since

-- filter: audit_until
at < :until


-- ==== revocations (RevocationService) =================================================

-- name: revocation_put
-- One per kind and value: a newer revocation replaces the older one.
INSERT INTO revocations (kind, value, not_before, until, revoked_at, revoked_by, reason)
VALUES (:kind, :value, :not_before, :until, :revoked_at, :revoked_by, :reason)
ON CONFLICT (kind, value) DO UPDATE SET not_before = excluded.not_before,
  until = excluded.until, revoked_at = excluded.revoked_at,
  revoked_by = excluded.revoked_by, reason = excluded.reason

-- name: revocation_active
SELECT kind, value, until, revoked_at, revoked_by, not_before, reason FROM revocations
WHERE until > :now

-- name: revocation_prune
DELETE FROM revocations WHERE until <= :now


-- ==== webhook_outbox (WebhookService) ===================================================

-- fragment: outbox_columns
id, webhook, event_seq, event_type, order_key, status, attempts, next_attempt_at,
last_status, last_error, created_at, delivered_at

-- name: webhook_enqueue
INSERT INTO webhook_outbox (webhook, event_seq, event_type, order_key, body, status,
  next_attempt_at, created_at)
VALUES (:webhook, :event_seq, :event_type, :order_key, convert_to(:body::text, 'UTF8'),
  'pending', :now, :now)

-- name: webhook_due
-- Due rows whose order key has no earlier pending row, none of :in_flight.
SELECT o.id, o.webhook, o.body, o.event_type, o.attempts, o.created_at
FROM webhook_outbox o
WHERE o.status = 'pending' AND o.next_attempt_at <= :now
  AND o.id <> ALL(:in_flight::bigint[])
  AND NOT EXISTS (SELECT 1 FROM webhook_outbox p WHERE p.status = 'pending'
    AND p.webhook = o.webhook AND p.order_key = o.order_key AND p.id < o.id)
ORDER BY o.id LIMIT :limit

-- name: webhook_settle
UPDATE webhook_outbox SET status = :status, attempts = :attempts, last_status = :last_status,
  last_error = :last_error, next_attempt_at = COALESCE(:next_attempt_at::double precision, next_attempt_at),
  delivered_at = :delivered_at
WHERE id = :id AND status = 'pending'

-- name: webhook_by_id
SELECT {outbox_columns} FROM webhook_outbox WHERE id = :id

-- name: webhook_page
SELECT {outbox_columns} FROM webhook_outbox WHERE id > :after AND {where}
ORDER BY id LIMIT :limit

-- name: webhook_requeue
UPDATE webhook_outbox SET status = 'pending', attempts = 0, next_attempt_at = :now,
  created_at = :now, last_error = NULL
WHERE id = :id

-- filter: webhook_status
status = :status

-- filter: webhook_name
webhook = :webhook


-- ==== action_link_uses (ActionLinks) ===================================================

-- name: action_link_used
SELECT 1 FROM action_link_uses WHERE nonce = :nonce

-- name: action_link_spend
INSERT INTO action_link_uses (nonce, approval_id, principal, used_at)
VALUES (:nonce, :approval_id, :principal, :now)


-- ==== cross-table reads: engine.stats, engine.views (read-only) ========================

-- name: stats_tasks_by_status_priority
SELECT status, priority, COUNT(*) FROM tasks GROUP BY status, priority

-- name: stats_pending_approvals
SELECT COUNT(*) FROM approvals WHERE status = 'pending'

-- name: stats_active_agents
SELECT COUNT(*) FROM agents WHERE deleted = 0 AND status = 'active'

-- name: view_approvals_by_priority
SELECT priority, COUNT(*) FROM approvals WHERE status = 'pending' GROUP BY priority

-- name: view_agents_by_health
SELECT health, COUNT(*) FROM agents WHERE deleted = 0 GROUP BY health

-- name: view_runs_by_status
SELECT status, COUNT(*) FROM runs GROUP BY status

-- name: view_task_counts
-- How many tasks of the view there are, by status.
WITH {task_words_cte}
SELECT status, COUNT(*) FROM tasks WHERE {where} GROUP BY status

-- name: view_tasks_unfinished
-- The unfinished part of a view: most urgent first (priority, then oldest).
WITH {task_words_cte}
SELECT {task_columns} FROM tasks WHERE status IN {unfinished} AND {where}
ORDER BY priority, created_at, id LIMIT :limit OFFSET :offset

-- name: view_tasks_finished
-- The finished part of a view: most recently created first.
WITH {task_words_cte}
SELECT {task_columns} FROM tasks WHERE status IN {finished} AND {where}
ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset

-- name: view_task_ids
-- Ids containing :text (a short id as the console shows it, any part of a full id).
SELECT id FROM tasks WHERE strpos(id, :text::text) > 0 ORDER BY created_at DESC LIMIT :limit

-- name: view_run_ids
SELECT run_id FROM runs WHERE strpos(run_id, :text::text) > 0 ORDER BY created_at DESC LIMIT :limit

-- name: view_agent_ids
SELECT id FROM agents WHERE deleted = 0 AND (strpos(id, :text::text) > 0 OR strpos(name, :text::text) > 0)
ORDER BY type, name, id LIMIT :limit

-- name: view_approval_ids
SELECT approval_id FROM approvals WHERE strpos(approval_id, :text::text) > 0
ORDER BY created_at DESC LIMIT :limit
