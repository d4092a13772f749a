import type { ExpiredLeases, HeldAttempt } from '@request-tasker/application'
import { INTERRUPTED_MESSAGE, movesFrom, type TaskId } from '@request-tasker/domain'
import type { Queryable } from '../pool.js'
import { callbackTasksOf } from './callback-tasks.js'

// Only an attempt still held (its claim's status, $5, and the same attempt) is extended, and never shortened: the lease of a send
// still running already covers its timeout.
const RENEW_LEASES = `
  update tasks t
  set lease_until = greatest(t.lease_until, coalesce($1::timestamptz, now()) + $4::integer * interval '1 millisecond')
  from unnest($2::uuid[], $3::integer[]) as held (id, attempt)
  where t.id = held.id and t.status = any($5::text[]) and t.attempts = held.attempt`

export async function renewLeases(db: Queryable, at: Date | null, held: readonly HeldAttempt[], graceMs: number) {
  if (held.length === 0) return 0
  const values = [at, held.map((h) => h.taskId), held.map((h) => h.n), graceMs, movesFrom('record')]
  const { rowCount } = await db.query(RENEW_LEASES, values)
  return rowCount ?? 0
}

// A lease runs out only when its tasker stopped renewing it: it died, or lost the database for longer than the
// grace. The attempt may have reached the target, so it counts (see attemptsLeft in the domain): a task with
// attempts left goes back to `new` and through the outbox; one without ends `error` with an `interrupted` attempt,
// so a request that kills its tasker each time is tried maxAttempts times, not forever. skip locked: a task whose
// outcome is being written right now is left to that write.
const EXPIRE_LEASES = `
  with expired as (
    select id, attempts - budget_from >= max_attempts as spent, updated_at as claimed_at
    from tasks
    where status = any($4::text[]) and lease_until < coalesce($1::timestamptz, now())
    order by lease_until
    limit $2
    for update skip locked
  ), moved as (
    update tasks t
    set status = case when e.spent then 'error' else 'new' end, lease_until = null,
        updated_at = coalesce($1::timestamptz, now())
    from expired e
    where t.id = e.id
    returning t.id, t.status, t.attempts, e.claimed_at
  ), interrupted as (
    select id, attempts, claimed_at,
           (extract(epoch from coalesce($1::timestamptz, now()) - claimed_at) * 1000)::integer as duration_ms
    from moved where status = 'error'
  ), attempt as (
    insert into task_results (task_id, attempt, started_at, duration_ms, error_code, error_message)
    select id, attempts, claimed_at, duration_ms, 'interrupted', $3 from interrupted
    on conflict (task_id, attempt) do nothing
  ), history as (
    insert into task_statuses (task_id, status, at) select id, status, coalesce($1::timestamptz, now()) from moved
  ), queued as (
    insert into outbox (kind, task_id) select 'task.requested', id from moved where status = 'new'
  ), dead_lettered as (
    -- The message deadLetterOf (application/dead-letter.ts) writes for an attempt that failed without a response.
    insert into outbox (kind, task_id, payload)
    select 'task.dead-lettered', id, jsonb_build_object(
      'version', 1, 'reason', 'gave-up', 'taskId', id, 'attemptCount', attempts,
      'lastAttempt', jsonb_build_object(
        'n', attempts,
        'startedAt', to_char(claimed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'durationMs', duration_ms,
        'error', jsonb_build_object('code', 'interrupted', 'message', $3::text)))
    from interrupted
  ), ended as (
    -- The document callbackDocument (domain/callback.ts) makes for an attempt that failed without a response.
    select id, 'error' as status, jsonb_build_object(
      'type', 'task.finished', 'taskId', id, 'status', 'error', 'attemptCount', attempts,
      'lastAttempt', jsonb_build_object(
        'n', attempts,
        'startedAt', to_char(claimed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'durationMs', duration_ms,
        'error', jsonb_build_object('code', 'interrupted', 'message', $3::text))) as document
    from interrupted
  ),${callbackTasksOf('ended', 'coalesce($1::timestamptz, now())')}
  select id, status from moved`

export async function expireLeases(db: Queryable, at: Date | null, limit: number): Promise<ExpiredLeases> {
  const { rows } = await db.query<{ id: TaskId; status: 'new' | 'error' }>(EXPIRE_LEASES, [
    at,
    limit,
    INTERRUPTED_MESSAGE,
    movesFrom('expire'),
  ])
  return {
    requeued: rows.filter((r) => r.status === 'new').map((r) => r.id),
    interrupted: rows.filter((r) => r.status === 'error').map((r) => r.id),
  }
}
