-- The SQLite store's named queries (format and rules: engine/store/queries.py).
-- Parameters are named (:name). A Many(...) parameter arrives as a JSON array: read it with
-- json_each, once per statement (a MATERIALIZED CTE), never once per row.
-- Booleans are stored as 0/1. Timestamps are epoch seconds (REAL).

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
  '%', '\%'), '_', '\_') || '%' FROM json_each(:words))


-- ==== tasks and task_logs (TaskService) =================================================

-- name: task_by_id
SELECT {task_columns} FROM tasks WHERE id = :id

-- name: task_id_by_key
SELECT id FROM tasks WHERE idempotency_key = :key

-- name: task_logs
SELECT timestamp, level, message FROM task_logs WHERE task_id = :task_id
ORDER BY timestamp, rowid

-- name: task_with_logs
-- A task and its log lines in one statement (one snapshot, no transaction around two reads):
-- one row per line, the task's columns first; one row with NULL line columns when it has none.
SELECT t.*, l.timestamp, l.level, l.message
FROM (SELECT {task_columns} FROM tasks WHERE id = :id) AS t
LEFT JOIN task_logs AS l ON l.task_id = t.id
ORDER BY l.timestamp, l.rowid

-- name: task_insert
INSERT INTO tasks ({task_columns}, qseq) VALUES (
  :id, :type, :priority, :status, :assigned_agent, :payload, :source, :sla_target,
  :metadata, :agent_id, :claimed_by, :progress, :result, :error, :attempts, :max_attempts,
  :idempotency_key, :schedule, :approval_id, :run_id, :step_id, :lease_id,
  :lease_expires_at, :available_at, :sla_breached, :created_at, :updated_at, :started_at,
  :completed_at, :created_by, :claimed_principal, :qseq)

-- name: task_log_insert
INSERT INTO task_logs (task_id, timestamp, level, message)
VALUES (:task_id, :timestamp, :level, :message)

-- name: task_count
WITH {task_words_cte}
SELECT COUNT(*) FROM tasks WHERE {where}

-- name: task_count_by_kind
-- The total of a task page filtered by nothing but status, priority and type (each NULL
-- when not filtered): read from the counts the triggers keep (migration 11), a few dozen
-- rows, instead of counting up to every task.
SELECT COALESCE(SUM(count), 0) FROM task_counts
WHERE (:status IS NULL OR status = :status) AND (:priority IS NULL OR priority = :priority)
  AND (:type IS NULL OR type = :type)

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
-- skipped. Returns the claimed row (attempts already counted), or no row.
UPDATE tasks SET status = 'in_progress', claimed_by = :agent_id,
  claimed_principal = :principal, lease_id = :lease_id, lease_expires_at = :lease_expires_at,
  attempts = attempts + 1, started_at = :now, updated_at = :now
WHERE rowid = (
  SELECT rowid FROM tasks
  WHERE status = 'assigned' AND assigned_agent = :agent_type AND available_at <= :now
    AND (agent_id IS NULL OR agent_id = :agent_id)
  ORDER BY priority, available_at, qseq LIMIT 1)
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
UPDATE tasks SET status = 'completed', result = COALESCE(:result, result), error = NULL,
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

-- name: task_due
SELECT {task_columns} FROM tasks WHERE status = 'pending' AND available_at <= :now LIMIT 1000

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
status IN (SELECT value FROM json_each(:statuses))

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
NOT EXISTS (SELECT 1 FROM task_words WHERE NOT (id LIKE pattern ESCAPE '\'
  OR type LIKE pattern ESCAPE '\' OR status LIKE pattern ESCAPE '\'
  OR priority LIKE pattern ESCAPE '\' OR assigned_agent LIKE pattern ESCAPE '\'
  OR ifnull(claimed_by, '') LIKE pattern ESCAPE '\' OR ifnull(agent_id, '') LIKE pattern ESCAPE '\'
  OR ifnull(source, '') LIKE pattern ESCAPE '\' OR ifnull(run_id, '') LIKE pattern ESCAPE '\'))


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
SELECT type, running, max_concurrent_tasks, owner FROM agents WHERE id = :id

-- name: agent_type
SELECT type FROM agents WHERE id = :id AND deleted = 0

-- name: agent_bind_owner
UPDATE agents SET owner = :owner WHERE id = :id AND owner IS NULL

-- name: agent_owned_by
SELECT 1 FROM agents WHERE id = :id AND owner = :owner AND deleted = 0

-- name: agent_owners_of_type
SELECT COUNT(DISTINCT owner) FROM agents
WHERE type = :type AND deleted = 0 AND owner IN (SELECT value FROM json_each(:principals))

-- name: agent_note_claimed
UPDATE agents SET running = running + 1 WHERE id = :id

-- name: agent_note_released
UPDATE agents SET running = MAX(running - 1, 0) WHERE id = :id

-- name: agent_note_completed
UPDATE agents SET running = MAX(running - :held, 0), tasks_completed = tasks_completed + 1,
  response_ms_total = response_ms_total + :ms
WHERE id = :id

-- name: agent_note_failed
UPDATE agents SET running = MAX(running - :held, 0), tasks_failed = tasks_failed + 1
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
ON CONFLICT (minute) DO UPDATE SET created = created + 1

-- name: metrics_note_completed
INSERT INTO metrics_minute (minute, completed, response_ms_sum) VALUES (:minute, 1, :ms)
ON CONFLICT (minute) DO UPDATE SET completed = completed + 1,
  response_ms_sum = response_ms_sum + excluded.response_ms_sum

-- name: metrics_note_failed
INSERT INTO metrics_minute (minute, failed) VALUES (:minute, 1)
ON CONFLICT (minute) DO UPDATE SET failed = failed + 1

-- name: metrics_series
-- Per bucket of :bucket seconds from :minute on: created, completed, failed, response ms.
SELECT (minute * 60 / :bucket) * :bucket AS b, SUM(created), SUM(completed), SUM(failed),
  SUM(response_ms_sum)
FROM metrics_minute WHERE minute >= :minute GROUP BY b ORDER BY b

-- name: metrics_completed_since
SELECT COALESCE(SUM(completed), 0) FROM metrics_minute WHERE minute >= :minute


-- ==== events (the store's emit, EventBus) ===============================================

-- name: event_insert
-- One event with the seq the writer gave it when it was emitted: SQLite writes a group
-- commit's events together just before its COMMIT, repeating this VALUES row per event
-- (up to 64 a statement; engine.store.sqlite._EventRows).
INSERT INTO events (seq, event_type, timestamp, source_agent, payload, task_id, run_id,
  agent_id, trace_id, priority)
VALUES (:seq, :event_type, :timestamp, :source_agent, :payload, :task_id, :run_id, :agent_id,
  :trace_id, :priority)

-- name: event_last_seq
SELECT MAX(seq) FROM events

-- name: event_after
-- Oldest first between two seqs (exclusive). :types and :words are always bound.
WITH wanted(prefix) AS MATERIALIZED (SELECT value FROM json_each(:types)),
  event_words(word) AS MATERIALIZED (SELECT lower(value) FROM json_each(:words))
SELECT {event_columns} FROM events WHERE seq > :after AND seq < :before AND {where}
ORDER BY seq LIMIT :limit

-- name: event_before
-- Newest first between two seqs (exclusive): scrolling back from :before.
WITH wanted(prefix) AS MATERIALIZED (SELECT value FROM json_each(:types)),
  event_words(word) AS MATERIALIZED (SELECT lower(value) FROM json_each(:words))
SELECT {event_columns} FROM events WHERE seq > :after AND seq < :before AND {where}
ORDER BY seq DESC LIMIT :limit

-- name: event_prune
-- At most :limit of the oldest events before :cutoff (index events_timestamp): retention
-- deletes in bounded steps, each its own write op, so the writer never stalls behind one
-- huge DELETE (creates keep their latency while millions of old events go).
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
NOT EXISTS (SELECT 1 FROM event_words WHERE instr(lower(event_type || ' ' || seq || ' '
  || ifnull(source_agent, '') || ' ' || ifnull(task_id, '') || ' ' || ifnull(run_id, '')
  || ' ' || ifnull(agent_id, '') || ' ' || payload), word) = 0)


-- ==== audit_log (engine.audit) ==========================================================

-- name: audit_insert
INSERT INTO audit_log ({audit_columns}) VALUES (
  :seq, :at, :principal, :role, :auth_method, :action, :object_type, :object_id, :before,
  :after, :reason, :request_id, :prev_hash, :hash)

-- name: audit_head
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
substr(action, 1, length(:action_prefix)) = :action_prefix

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
VALUES (:webhook, :event_seq, :event_type, :order_key, :body, 'pending', :now, :now)

-- name: webhook_due
-- Due rows whose order key has no earlier pending row, none of :in_flight.
SELECT o.id, o.webhook, o.body, o.event_type, o.attempts, o.created_at
FROM webhook_outbox o
WHERE o.status = 'pending' AND o.next_attempt_at <= :now
  AND o.id NOT IN (SELECT value FROM json_each(:in_flight))
  AND NOT EXISTS (SELECT 1 FROM webhook_outbox p WHERE p.status = 'pending'
    AND p.webhook = o.webhook AND p.order_key = o.order_key AND p.id < o.id)
ORDER BY o.id LIMIT :limit

-- name: webhook_settle
UPDATE webhook_outbox SET status = :status, attempts = :attempts, last_status = :last_status,
  last_error = :last_error, next_attempt_at = COALESCE(:next_attempt_at, next_attempt_at),
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
-- From the counts the triggers keep (migration 11): a few dozen rows, whatever the store's size.
SELECT status, priority, SUM(count) FROM task_counts WHERE count > 0 GROUP BY status, priority

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
SELECT id FROM tasks WHERE instr(id, :text) > 0 ORDER BY created_at DESC LIMIT :limit

-- name: view_run_ids
SELECT run_id FROM runs WHERE instr(run_id, :text) > 0 ORDER BY created_at DESC LIMIT :limit

-- name: view_agent_ids
SELECT id FROM agents WHERE deleted = 0 AND (instr(id, :text) > 0 OR instr(name, :text) > 0)
ORDER BY type, name, id LIMIT :limit

-- name: view_approval_ids
SELECT approval_id FROM approvals WHERE instr(approval_id, :text) > 0
ORDER BY created_at DESC LIMIT :limit
